#!/usr/bin/env python3
"""Recall and precision of coder's detection of identifiers, on a scripted session whose identifiers were
planted and listed.

    .venv/bin/python bench/deidentify.py [--script bench/sessions/identifiers.deid.txt]
                                         [--json bench/results-deidentify.json]

Input: ``bench/sessions/identifiers.deid.txt``, a CBT session of 57 turns with every identifier marked
``{text|TYPE}``: names of the client, the therapist, family members and others (some lowercase, as a recogniser
writes them; "Rose", also a flower here), towns and places, organisations, specific dates, phone numbers and
e-mail addresses. Each turn becomes words as Whisper writes them (a leading space, 0.35 s a word) and is analysed
the way coder runs detection (``coder.pipeline.deidentify.detect``, the configured spaCy pipeline, the default
threshold), once with the study's lists of the client's, the therapist's and the family's names and once
without.

Scoring: a candidate is a hit when its words overlap the words of a planted identifier of a compatible type.
Types are compatible when equal ("strict"), or, in the main figures, when both are names of something (PERSON,
ORGANIZATION, LOCATION, NRP: a redacted name is redacted whatever the model called it, and the reviewer
corrects the label), or a phone number and a date (spaCy calls phone numbers dates). Recall = planted
identifiers hit by some candidate / planted identifiers; precision = candidates that hit some planted
identifier / candidates. Per type, recall is counted by the planted identifier's type and precision by the
candidate's type.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coder.pipeline import deidentify  # noqa: E402

SCRIPT = ROOT / "bench" / "sessions" / "identifiers.deid.txt"
PEOPLE = {"Client": ["Maria", "Maria Lopez"], "Therapist": ["Helen", "Dr Evans"], "Sister": ["Anna"],
          "Mother": ["Rose"], "Partner": ["Dave|David"]}
ROLES = {"T": "therapist", "C": "client"}
WORD_S = 0.35
NAMES = {"PERSON", "ORGANIZATION", "LOCATION", "NRP"}
MARK = re.compile(r"\{([^{}|]+)\|([A-Z_]+)\}")


def load(path: Path) -> tuple[list[dict], list[dict]]:
    """The script's turns as segments with timed words, and the planted identifiers as (turn, first, last,
    type, text)."""
    segments, planted, t = [], [], 0.0
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        role, marked = line.split("|", 1)
        text, spans, at = "", [], 0
        for m in MARK.finditer(marked):
            text += marked[at:m.start()]
            spans.append((len(text), len(text) + len(m.group(1)), m.group(2), m.group(1)))
            if m.group(2) not in deidentify.ENTITIES:
                raise ValueError(f"unknown type {m.group(2)!r} in {line!r}")
            text += m.group(1)
            at = m.end()
        text += marked[at:]
        words, offsets, pos = [], [], 0
        for i, token in enumerate(text.split()):
            pos = text.index(token, pos)
            offsets.append((pos, pos + len(token)))
            pos += len(token)
            words.append({"start": round(t, 3), "end": round(t + WORD_S - 0.05, 3), "text": (" " if i else "") + token,
                          "speaker": ROLES[role], "probability": 0.9})
            t += WORD_S
        turn = len(segments)
        segments.append({"start": words[0]["start"], "end": words[-1]["end"], "speaker": ROLES[role], "text": text,
                         "words": words})
        for a, b, kind, surface in spans:
            covered = [i for i, (x, y) in enumerate(offsets) if x < b and a < y]
            planted.append({"turn": turn, "first": covered[0], "last": covered[-1], "type": kind, "text": surface})
        t += 0.6
    return segments, planted


def compatible(planted_type: str, candidate_type: str, strict: bool) -> bool:
    if planted_type == candidate_type:
        return True
    if strict:
        return False
    return ({planted_type, candidate_type} <= NAMES) or {planted_type, candidate_type} == {"PHONE_NUMBER", "DATE_TIME"}


def score(planted: list[dict], candidates: list, strict: bool) -> dict:
    def hits(p, c):
        return (p["turn"] == c.turn and p["first"] <= c.last and c.first <= p["last"]
                and compatible(p["type"], c.entity, strict))

    found = [any(hits(p, c) for c in candidates) for p in planted]
    right = [any(hits(p, c) for p in planted) for c in candidates]
    by_type = {}
    for kind in sorted({p["type"] for p in planted} | {c.entity for c in candidates}):
        ps = [f for p, f in zip(planted, found) if p["type"] == kind]
        cs = [r for c, r in zip(candidates, right) if c.entity == kind]
        by_type[kind] = {"planted": len(ps), "recall": round(sum(ps) / len(ps), 3) if ps else None,
                         "candidates": len(cs), "precision": round(sum(cs) / len(cs), 3) if cs else None}
    return {"planted": len(planted), "candidates": len(candidates),
            "recall": round(sum(found) / len(planted), 3), "precision": round(sum(right) / len(candidates), 3),
            "by_type": by_type,
            "missed": [f'{p["type"]} {p["text"]!r} (turn {p["turn"]})' for p, f in zip(planted, found) if not f],
            "false_positives": [f"{c.entity} {c.text!r} (turn {c.turn})" for c, r in zip(candidates, right) if not r]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--script", type=Path, default=SCRIPT)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results-deidentify.json")
    args = ap.parse_args()
    segments, planted = load(args.script)
    t0 = time.perf_counter()
    deidentify.analyzer()
    load_s = time.perf_counter() - t0
    runs = {}
    for name, people in (("with_study_lists", PEOPLE), ("without_study_lists", None)):
        t0 = time.perf_counter()
        candidates = deidentify.detect(segments, people)
        elapsed = time.perf_counter() - t0
        runs[name] = {"seconds": round(elapsed, 2), "main": score(planted, candidates, strict=False),
                      "strict": score(planted, candidates, strict=True)}
    from importlib.metadata import version
    nlp = deidentify.analyzer().nlp_engine.nlp["en"]
    result = {
        "script": str(args.script.relative_to(ROOT)) if args.script.is_relative_to(ROOT) else str(args.script),
        "turns": len(segments), "words": sum(len(s["words"]) for s in segments),
        "planted_by_type": dict(Counter(p["type"] for p in planted)),
        "pipeline": f'{nlp.meta["lang"]}_{nlp.meta["name"]} {nlp.meta["version"]}',
        "spacy": version("spacy"), "presidio_analyzer": version("presidio-analyzer"),
        "score_threshold": deidentify.SCORE_THRESHOLD, "load_seconds": round(load_s, 2),
        "python": platform.python_version(), "machine": platform.machine(),
        "runs": runs,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for name, run in runs.items():
        m, s = run["main"], run["strict"]
        print(f"{name}: recall {m['recall']:.3f} precision {m['precision']:.3f} "
              f"(strict types: {s['recall']:.3f} / {s['precision']:.3f}), {m['candidates']} candidates, "
              f"{run['seconds']} s")
        for kind, row in m["by_type"].items():
            print(f"    {kind:14} planted {row['planted']:3} recall {row['recall']}  "
                  f"candidates {row['candidates']:3} precision {row['precision']}")
        print("    missed:", "; ".join(m["missed"]) or "none")
        print("    false positives:", "; ".join(m["false_positives"]) or "none")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
