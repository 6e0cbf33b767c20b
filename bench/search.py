#!/usr/bin/env python3
"""Transcript search at scale: 200 sessions × 50 minutes of transcript at 150 words a minute (1.5 million words).

    .venv/bin/python bench/search.py [--postgres] [--database-url URL] [--json bench/results-search.json]

The transcripts are synthetic therapy talk: turns that alternate between therapist and client, 4 to 60 words
long, drawn from a vocabulary of about 600 words with Zipf-like frequencies (the common words of speech, the
words of CBT sessions, some with diacritics: café, naïve, résumé), with set phrases ("put it on the agenda")
spliced in now and then. Words carry no times (the index reads only the turns' text).

Timed, in one run, on SQLite (a file in a temporary directory) and, with ``--postgres``, on a throwaway
PostgreSQL server started as the tests start theirs (``tests/support/postgres.py``; or ``--database-url`` for
one of yours, which must be empty):

- storing the transcripts (the turns are indexed as they are stored) and rebuilding the index of all of them
  (``coder.study.search.reindex``);
- each query (``coder.study.search.search``: the first page of 50 hits in session order and the count of all),
  ``--repeats`` times: median and 95th percentile in ms;
- beside each, the naive way: read every transcript's segments from the database and match the turns in Python
  (case and diacritics folded, the words as whole words, a phrase in order), median of three runs; and the same
  scan over segments already in memory. The ratio is naive ÷ indexed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from contextlib import ExitStack
from pathlib import Path

# the repository instead of bench/ itself, whose queue.py would stand in for the standard library's
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from sqlalchemy import select, text  # noqa: E402

from coder.db import Database  # noqa: E402
from coder.study import search  # noqa: E402
from coder.study.models import Recording, Speaker, Study, Transcript, TranscriptTurn  # noqa: E402
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study  # noqa: E402
from tests.support import postgres  # noqa: E402

COMMON = ("i you the and to a it that of is in was we so like just know what but have do this my not think it's "
          "be me about with for on really yeah um there they at feel been all can when if how mean would get "
          "because one going time some more then out or well little bit things something week thing right kind "
          "go sort he she her him them said did had were no yes an up now maybe see much lot said could make "
          "very want sometimes still also again back people work day today last next way other same").split()
THERAPY = ("anxious anxiety worried worry thoughts thought feelings feeling sad low mood sleep tired panic "
           "homework agenda exercise breathing avoidance avoid situation evidence belief beliefs automatic record "
           "sheet diary practise practice session goal goals plan relapse prevention trigger triggers coping cope "
           "strategy strategies behaviour behavioural experiment activation activities pleasant mastery rating "
           "catastrophising catastrophe safety behaviours reassurance checking compulsion intrusive memory "
           "memories trauma flashback nightmare grief loss anger angry guilt shame ashamed self critical "
           "compassion kind kindness partner mother father children family friend friends colleague boss job "
           "meeting deadline exam stress stressed overwhelmed calm relaxed better worse progress change changes "
           "notice noticed noticing pattern patterns cycle vicious therapist client appointment medication doctor "
           "weekend monday tuesday wednesday thursday friday morning evening night hour minutes "
           "home homeless homesick homely homemade hometown homeward").split()
RARE = ("café naïve résumé déjà vu façade fiancée rendezvous cliché crème protégé Zoë Chloé Renée José André Müller "
        "Sørensen Łukasz").split()
PHRASES = ("put it on the agenda", "how has your week been", "on a scale from zero to ten", "what went through your mind",
           "the thought record", "let's set the homework", "i felt like a failure", "what is the evidence")
QUERIES = [  # name, query, options
    ("word", "homework", {}),
    ("common word", "feel", {}),
    ("two words", "anxious sleep", {}),
    ("phrase", '"put it on the agenda"', {}),
    ("prefix", "home*", {}),
    ("role filter", "worried", {"role": "client"}),
    ("no diacritics", "cafe", {}),
    ("exact diacritics", "café", {"exact_diacritics": True}),
    ("rare word", "flashback nightmare", {}),
]


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    words = COMMON + THERAPY + [w.lower() for w in RARE]
    filler = [f"word{i}" for i in range(600 - len(words))]  # the long tail of a real vocabulary
    words = COMMON + THERAPY + filler + [w.lower() for w in RARE]
    weights = [1 / (rank + 1) ** 1.05 for rank in range(len(words))]
    for i, w in enumerate(words):
        if w in (r.lower() for r in RARE):
            weights[i] = 0.0004
    return words, weights


def sessions_text(n_sessions: int, minutes: float, wpm: int, seed: int = 0):
    """Per session: the segments (turns with start, end, speaker, text)."""
    rng = random.Random(seed)
    words, weights = vocabulary(rng)
    for _ in range(n_sessions):
        total = int(minutes * wpm)
        segments, t, said, speaker = [], 0.0, 0, "SPEAKER_00"
        while said < total:
            n = min(total - said, max(4, int(rng.lognormvariate(2.9, 0.6))))
            turn = rng.choices(words, weights, k=n)
            if rng.random() < 0.04:
                at = rng.randrange(len(turn) + 1)
                turn[at:at] = rng.choice(PHRASES).split()
            sentence = " ".join(turn)
            sentence = sentence[:1].upper() + sentence[1:] + "."
            duration = len(turn) * 60.0 / wpm
            segments.append({"start": round(t, 3), "end": round(t + duration, 3), "speaker": speaker,
                             "text": sentence, "words": []})
            t += duration + 0.4
            said += n
            speaker = "SPEAKER_01" if speaker == "SPEAKER_00" else "SPEAKER_00"
        yield segments


def build(database: Database, n_sessions: int, minutes: float, wpm: int) -> dict:
    start = time.perf_counter()
    words = turns = 0
    with database.session() as db:
        study = get_or_create_study(db, "Bench")
        db.flush()
        study_id = study.id
    for i, segments in enumerate(sessions_text(n_sessions, minutes, wpm)):
        with database.session() as db:
            study = db.get(Study, study_id)
            dyad = get_or_create_dyad(db, study, f"T{i // 10}", f"C{i // 10}", f"D{i // 10:03d}")
            session = get_or_create_session(db, dyad, i % 10 + 1)
            rec = Recording(session_id=session.id, path=f"/bench/{i}.wav", original_name=f"s{i}.wav",
                            sha256=f"{i:064x}", size_bytes=1, duration_s=segments[-1]["end"], sample_rate=16000,
                            channels=1, status="transcribed")
            db.add(rec)
            db.flush()
            db.add(Transcript(recording_id=rec.id, engine="bench", model="m", language="en",
                              duration_s=segments[-1]["end"], segments=segments,
                              speakers=[Speaker(label="SPEAKER_00", role="therapist"),
                                        Speaker(label="SPEAKER_01", role="client")]))
        words += sum(len(s["text"].split()) for s in segments)
        turns += len(segments)
    return {"store_with_index_s": round(time.perf_counter() - start, 2), "words": words, "turns": turns,
            "study_id": study_id}


def fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).casefold()


def naive_matcher(query: str, exact: bool):
    """A Python predicate on a turn's text with the search's meaning (all terms; phrases in order; prefixes)."""
    terms = search.parse(query)
    norm = (lambda s: s.casefold()) if exact else fold
    patterns = []
    for t in terms:
        body = r"\W+".join(re.escape(norm(tok)) for tok in t.tokens)
        patterns.append(re.compile(r"\b" + body + (r"\w*" if t.kind == "prefix" else r"\b")))
    return lambda text_: (lambda s: all(p.search(s) for p in patterns))(norm(text_))


def naive(database: Database, study_id: int, query: str, options: dict, loaded=None) -> tuple[float, int, list]:
    start = time.perf_counter()
    match = naive_matcher(query, options.get("exact_diacritics", False))
    role = options.get("role")
    if loaded is None:
        with database.session() as db:
            loaded = [(t.segments, {s.label: s.role for s in t.speakers})
                      for t in db.scalars(select(Transcript).join(Recording).order_by(Recording.id))]
    hits = [(i, seg["start"]) for i, (segments, roles) in enumerate(loaded) for seg in segments
            if (role is None or roles.get(seg["speaker"]) == role) and match(seg["text"])]
    return time.perf_counter() - start, len(hits), loaded


def timed_queries(database: Database, study_id: int, repeats: int) -> list[dict]:
    rows = []
    _, _, loaded = naive(database, study_id, "x", {})
    for name, query, options in QUERIES:
        laps = []
        with database.session() as db:
            for _ in range(repeats):
                start = time.perf_counter()
                found = search.search(db, study_id, query, limit=50, **options)
                laps.append(time.perf_counter() - start)
        scans = [naive(database, study_id, query, options) for _ in range(3)]
        memory = [naive(database, study_id, query, options, loaded) for _ in range(3)]
        assert scans[0][1] == found.total, (name, scans[0][1], found.total)  # the same turns found
        median = statistics.median(laps) * 1000
        laps.sort()
        naive_ms = statistics.median(s[0] for s in scans) * 1000
        memory_ms = statistics.median(s[0] for s in memory) * 1000
        rows.append({"query": name, "text": query, "options": options, "hits": found.total,
                     "median_ms": round(median, 2), "p95_ms": round(laps[max(0, int(0.95 * len(laps)) - 1)] * 1000, 2),
                     "naive_scan_ms": round(naive_ms, 1), "naive_in_memory_ms": round(memory_ms, 1),
                     "ratio": round(naive_ms / median, 1)})
        print(f"  {name:18} {found.total:6} hits  {median:8.2f} ms (p95 {rows[-1]['p95_ms']:.2f})   "
              f"naive {naive_ms:8.1f} ms (in memory {memory_ms:7.1f})   ×{rows[-1]['ratio']}", flush=True)
    return rows


def run(url: str, args) -> dict:
    database = Database(url)
    database.migrate()
    print(f"{database.engine.dialect.name}: storing {args.sessions} sessions × {args.minutes:g} min ...", flush=True)
    built = build(database, args.sessions, args.minutes, args.wpm)
    start = time.perf_counter()
    with database.session() as db:
        transcripts, turns = search.reindex(db)
    rebuild = time.perf_counter() - start
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    with database.session() as db:
        assert db.scalar(select(TranscriptTurn.id).limit(1)) is not None
    print(f"  stored in {built['store_with_index_s']} s; {built['words']} words in {built['turns']} turns; "
          f"index rebuilt in {rebuild:.2f} s", flush=True)
    queries = timed_queries(database, built["study_id"], args.repeats)
    database.dispose()
    return {"backend": database.engine.dialect.name, "sessions": args.sessions, "minutes": args.minutes,
            "words": built["words"], "turns": built["turns"], "store_with_index_s": built["store_with_index_s"],
            "reindex_all_s": round(rebuild, 2), "reindexed": [transcripts, turns], "queries": queries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=50)
    parser.add_argument("--wpm", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="Also on a throwaway PostgreSQL server.")
    parser.add_argument("--database-url", help="Also on this (empty) database, e.g. a PostgreSQL server of yours.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "python": platform.python_version(),
               "command": " ".join(["bench/search.py", *sys.argv[1:]]), "runs": []}
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        urls = [f"sqlite:///{tmp}/bench.db"]
        if args.postgres:
            urls.append(postgres.fresh_database(stack, "bench"))
        if args.database_url:
            urls.append(args.database_url)
        for url in urls:
            results["runs"].append(run(url, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
