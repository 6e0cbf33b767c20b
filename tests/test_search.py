"""Searching a study's transcripts (coder.study.search), on SQLite and PostgreSQL: the index kept in step with
corrections, restores, role changes and new transcripts; words, phrases, prefixes, speakers, roles and diacritics;
one study's hits only; queries that cannot be read; the command line; the coordinator's page and the units made
from its hits; the index filled for transcripts stored before migration 0013."""
from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import func, select, text

from coder.config import load_settings
from coder.db import Database, migrate
from coder.jobs.processing import store_transcript
from coder.study import search, speakers, transcripts
from coder.study.accounts import create_user
from coder.study.access import grant
from coder.study.models import AuditEvent, RatingUnit, Recording, Speaker, Study, Transcript, TranscriptTurn, User
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study
from coder.web.app import create_app

from .support.cli import coder
from .support.rating_study import PASSWORD, build
from .support.web import csrf_token, login

FOREIGN = [
    {"start": 1.0, "end": 6.0, "speaker": "A", "text": "Let us look at the homework you did at the Café Müller."},
    {"start": 7.0, "end": 12.0, "speaker": "B", "text": "My résumé and a naïve plan; cafe au lait."},
]


def add_transcript(db, study_name: str, segments: list[dict], sha: str, roles: dict | None = None,
                   session: int = 1) -> Recording:
    """A recording of ``study_name`` (dyad T9–C9) with a transcript of ``segments``."""
    study = get_or_create_study(db, study_name)
    dyad = get_or_create_dyad(db, study, "T9", "C9", "D9")
    sess = get_or_create_session(db, dyad, session)
    rec = Recording(session_id=sess.id, path=f"/data/{sha[:4]}.wav", original_name=f"{sha[:4]}.wav", sha256=sha,
                    size_bytes=10, duration_s=60.0, sample_rate=16000, channels=1, status="transcribed")
    db.add(rec)
    db.flush()
    db.add(Transcript(recording_id=rec.id, engine="e", model="m", language="en", duration_s=60.0, segments=segments,
                      speakers=[Speaker(label=label, role=role) for label, role in (roles or {}).items()]))
    db.flush()
    return rec


@pytest.fixture
def study(database):
    built = build(database)
    with database.session() as db:
        add_transcript(db, "Trial S", FOREIGN, "f" * 64, {"A": "therapist", "B": "client"})
    return built


def trial(db, name="Trial R") -> Study:
    return db.scalar(select(Study).where(Study.name == name))


def times(db, query, name="Trial R", **options) -> list[float]:
    return [h.start_s for h in search.search(db, trial(db, name), query, **options).hits]


def test_words_phrases_prefixes_speakers_and_roles(database, study):
    with database.session() as db:
        found = search.search(db, trial(db), "homework")
        assert found.total == 3 and [h.start_s for h in found.hits] == [13.053, 77.99, 104.213]
        first = found.hits[0]
        assert (first.dyad_code, first.session_number, first.time_point, first.who) == ("D1", 3, "week 4", "Therapist")
        assert [part for part, matched in first.fragments if matched] == ["homework"]
        assert "".join(part for part, _ in first.fragments) == first.text
        assert times(db, '"put that on the agenda"') == [13.053]
        assert times(db, '"put the agenda"') == []  # a phrase's words in order, next to each other
        assert times(db, "agenda homework") == [13.053]  # every word, anywhere in the turn
        assert times(db, "HomeWork") == times(db, "homework")
        prefix = search.search(db, trial(db), "home*")
        assert prefix.total >= 3 and {p for h in prefix.hits for p, m in h.fragments if m} >= {"homework"}
        assert times(db, "home") == []  # a word is a whole word
        therapist = times(db, "homework", role="therapist")
        assert therapist == [13.053, 77.99, 104.213] and times(db, "homework", role="client") == []
        client_turns = search.search(db, trial(db), "I", role="client", limit=500)
        assert client_turns.total > 0 and {h.speaker for h in client_turns.hits} == {"SPEAKER_01"}
        assert times(db, "homework", speaker="SPEAKER_00") == therapist
        transcripts.rename_speaker(db, db.get(Recording, study.recording_id).transcript, "SPEAKER_00", "Dr Rivera",
                                   None)
        named = search.search(db, trial(db), "homework", speaker="dr rivera")
        assert [h.who for h in named.hits] == ["Dr Rivera"] * 3
        page = search.search(db, trial(db), "I", limit=2, offset=2)
        assert len(page.hits) == 2 and page.offset == 2 and page.more
        assert [h.start_s for h in page.hits] == [h.start_s for h in search.search(db, trial(db), "I", limit=4).hits][2:]


def test_diacritics_folded_or_kept(database, study):
    with database.session() as db:
        assert times(db, "cafe", "Trial S") == [1.0, 7.0]
        assert times(db, "café", "Trial S") == [1.0, 7.0]
        assert times(db, "cafe", "Trial S", exact_diacritics=True) == [7.0]
        assert times(db, "café", "Trial S", exact_diacritics=True) == [1.0]
        assert times(db, "muller", "Trial S") == [1.0] and times(db, "muller", "Trial S", exact_diacritics=True) == []
        assert times(db, "resume naive", "Trial S") == [7.0]
        assert times(db, "rés*", "Trial S") == [7.0] and times(db, "res*", "Trial S", exact_diacritics=True) == []
        assert times(db, '"café müller"', "Trial S", exact_diacritics=True) == [1.0]
        hit = search.search(db, trial(db, "Trial S"), "cafe").hits[0]
        assert [part for part, matched in hit.fragments if matched] == ["Café"]


def test_one_studys_hits_only(database, study):
    with database.session() as db:
        assert len(times(db, "homework")) == 3 and times(db, "homework", "Trial S") == [1.0]
        assert times(db, "muller") == [] and times(db, "cafe") == []
        # a deleted recording's transcript is not searched
        db.get(Recording, study.recording_id).deleted_at = func.now()
        db.flush()
        assert times(db, "homework") == []


def test_the_index_follows_corrections_restores_and_roles(database, study):
    with database.session() as db:
        transcript = db.get(Recording, study.recording_id).transcript
        coord = db.scalar(select(User).where(User.username == "coord"))
        turn = transcript.segments[2]["text"].split().index("homework.")
        transcripts.apply(db, transcript, 0, {"op": "replace_words", "turn": 2, "first": turn, "last": turn,
                                              "text": "assignment."}, coord)
        assert times(db, "homework") == [77.99, 104.213] and times(db, "assignment") == [13.053]
        transcripts.apply(db, transcript, 1, {"op": "merge_turns", "turn": 0}, coord)
        assert times(db, '"how has your week been" "a bit up and down"') == [0.5]
        assert db.scalar(select(func.count()).where(TranscriptTurn.transcript_id == transcript.id)) == \
            len(transcript.segments)
        transcripts.restore(db, transcript, 0, 2, coord)
        assert times(db, "homework") == [13.053, 77.99, 104.213] and times(db, "assignment") == []
        speakers.swap_roles(db, transcript)
        assert times(db, "homework", role="client") == [13.053, 77.99, 104.213]
        assert times(db, "homework", role="therapist") == []
        speakers.set_roles(db, transcript, {"SPEAKER_01": None})
        assert times(db, "homework", role="client") == [13.053, 77.99, 104.213]
        assert search.search(db, trial(db), "I", role="therapist").total == 0


def test_a_new_transcript_replaces_the_old_ones_turns(database, study):
    doc = {"engine": "e", "model": "m", "language": "en", "duration": 60.0, "timings": {}, "channels": 1,
           "no_speech": [], "processing": {}, "sha256": "f" * 64,
           "segments": [{"start": 2.0, "end": 4.0, "speaker": "X", "text": "Nothing about coffee.", "words": []}],
           "speakers": {"X": {"role": "client"}}}
    with database.session() as db:
        rec = db.scalar(select(Recording).where(Recording.sha256 == "f" * 64))
        old = rec.transcript.id
    store_transcript(database, rec.id, doc)
    with database.session() as db:
        assert times(db, "cafe", "Trial S") == []
        assert times(db, "coffee", "Trial S", role="client") == [2.0]
        new = db.get(Recording, rec.id).transcript.id
        assert db.scalars(select(TranscriptTurn.text).where(TranscriptTurn.transcript_id.in_({old, new}))).all() == \
            ["Nothing about coffee."]


@pytest.mark.parametrize("query, message", [
    ('"put it on the agenda', "quotation mark is not closed"),
    ("", "give a word or phrase"),
    ("*** ?? --", "give a word or phrase"),
    ("h*", "at least two letters"),
    (" ".join(["w"] * 17), "at most 16 terms"),
    ("x" * 501, "longer than 500"),
])
def test_queries_that_cannot_be_read(database, study, query, message):
    with database.session() as db:
        with pytest.raises(search.SearchError, match=message):
            search.search(db, trial(db), query)
        with pytest.raises(search.SearchError, match="role must be"):
            search.search(db, trial(db), "homework", role="supervisor")


def test_query_syntax_of_the_databases_is_only_text(database, study):
    """Operators of FTS5 and tsquery, SQL and odd characters reach the database as quoted words."""
    with database.session() as db:
        for query in ("homework OR agenda", "NEAR(homework agenda)", "text:homework", "homework^", "-homework",
                      "homework & !agenda", "homework:*", "'; DROP TABLE transcripts; --", "(homework", "homework)",
                      "{text}: homework", "home* *", "\\homework", "homework\x00", "👍 homework", "follow-up",
                      "don't"):
            search.search(db, trial(db), query)
        assert times(db, "homework OR agenda") == []  # OR is a word here (every word must occur)
        assert times(db, "-homework") == times(db, "homework")
        assert times(db, "let's") == times(db, '"let s"')
        assert db.scalar(select(func.count()).select_from(Transcript)) == 2


def test_the_database_index_answers(database, study):
    """The condition the search puts on transcript_turns is answered by the full-text index: FTS5 on SQLite, the
    GIN index on PostgreSQL (whose expression the query must repeat exactly)."""
    with database.session() as db:
        stmt = select(TranscriptTurn.id).where(search.matches(db, search.parse('home* "the agenda"'), False))
        compiled = str(stmt.compile(db.get_bind(), compile_kwargs={"literal_binds": True}))
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("SET LOCAL enable_seqscan = off"))
            plan = db.execute(text("EXPLAIN " + compiled.replace(":", "\\:"))).scalars().all()
            assert any("Bitmap Index Scan on ix_transcript_turns_fts" in line for line in plan), plan
        else:
            plan = db.execute(text("EXPLAIN QUERY PLAN " + compiled)).all()
            assert any("transcript_turns_fts VIRTUAL TABLE INDEX" in row[-1] for row in plan), plan
        assert len(db.execute(stmt).all()) == 1


def test_reindex_and_units_around_hits(database, study):
    with database.session() as db:
        db.execute(TranscriptTurn.__table__.delete())
        assert times(db, "homework") == []
        assert search.reindex(db, study=trial(db)) == (1, 28)
        assert times(db, "homework") == [13.053, 77.99, 104.213] and times(db, "cafe", "Trial S") == []
        assert search.reindex(db) == (2, 30)
        assert times(db, "cafe", "Trial S") == [1.0, 7.0]
        hits = search.search(db, trial(db), "homework").hits
        coord = db.scalar(select(User).where(User.username == "coord"))
        made, skipped = search.make_units(db, hits, 10, 20, coord, ["wai-o-s"], label="homework")
        assert skipped == []
        # widened by 10 s before and 20 s after: 13.1–22.1 alone; 78.0–82.8 and 104.2–110.2 overlap, one unit
        assert [(u.start_s, u.end_s) for u in made] == [(3.053, 42.109), (67.99, 130.151)]
        assert all(u.kind == "custom" and u.instrument_keys == ["wai-o-s"] for u in made)
        assert made[0].label.startswith("'homework' at 0:03: Thank you for telling me.")
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "create",
                                                                             AuditEvent.entity == "rating_units")) \
            >= len(made)
        with pytest.raises(search.SearchError, match="cannot be negative"):
            search.make_units(db, hits, -1, 20, coord)


def test_search_from_the_command_line(database, study, tmp_path):
    env = {"DATABASE_URL": database.url}
    home = tmp_path / "home"
    out = coder("--home", home, "search", "Trial R", "homework", "--role", "therapist", env=env, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("D1 session 3\t0:13\trecording ")
    assert lines[0].endswith("Therapist\tThank you for telling me. Let's put that on the agenda. Last time we agreed "
                             "on some [homework]. Could we start by looking at how that went?")
    assert "1–3 of 3 hit(s) for homework" in out.stderr
    out = coder("--home", home, "search", "Trial S", "cafe", "--exact-diacritics", "--limit", "1", env=env,
                check=True)
    assert len(out.stdout.splitlines()) == 1 and "[cafe] au lait" in out.stdout
    bad = coder("--home", home, "search", "Trial R", '"unclosed', env=env)
    assert bad.exit_code == 1 and "quotation mark is not closed" in bad.stderr
    assert coder("--home", home, "search", "No such study", "x", env=env).exit_code != 0
    out = coder("--home", home, "search", "reindex", env=env, check=True)
    assert out.stdout.strip() == "2 transcript(s), 30 turn(s) indexed"
    out = coder("--home", home, "search", "units", "Trial R", "homework", "--before", "5", "--after", "30",
                "--instrument", "wai-o-s", env=env, check=True)
    assert len(out.stdout.splitlines()) >= 1 and "around 3 hit(s)" in out.stderr
    with database.session() as db:
        made = db.scalars(select(RatingUnit).where(RatingUnit.kind == "custom")).all()
        assert made and all(u.instrument_keys == ["wai-o-s"] and u.recording_id == study.recording_id for u in made)


@pytest.fixture
def site(tmp_path, database, study):
    with database.session() as db:
        create_user(db, "other", PASSWORD, "coordinator", "Other")
        grant(db, trial(db, "Trial S"), create_user(db, "coord2", PASSWORD, "coordinator", "Coord 2"), None)
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True})
    client = app.test_client()
    login(client, "coord")
    with database.session() as db:
        study_id = trial(db).id
    return app, client, study_id


def test_the_search_page(site, database, study):
    app, client, study_id = site
    page = client.get(f"/studies/{study_id}", follow_redirects=True).get_data(as_text=True)
    assert f'href="/studies/{study_id}/search"' in page
    response = client.get(f"/studies/{study_id}/search?q=homework")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "3 hits" in body
    with database.session() as db:
        transcript_id = db.get(Recording, study.recording_id).transcript.id
    assert f'href="/transcripts/{transcript_id}?t=13.1"' in body
    assert body.count("<mark>homework</mark>") == 3 and "D1" in body and "week 4" in body
    assert '<label>Words or phrases <input type="search" name="q"' in body
    none = client.get(f"/studies/{study_id}/search?q=cafe").get_data(as_text=True)
    assert "0 hits" in none and "Müller" not in none
    client_only = client.get(f"/studies/{study_id}/search?q=homework&role=client").get_data(as_text=True)
    assert "0 hits" in client_only
    bad = client.get(f"/studies/{study_id}/search?q=%22agenda")
    assert bad.status_code == 400 and "A quotation mark is not closed" in html.unescape(bad.get_data(as_text=True))
    paged = client.get(f"/studies/{study_id}/search?q=I&page=2").get_data(as_text=True)
    assert 'rel="prev"' in paged


def test_the_search_page_is_for_the_studys_coordinators(site, database):
    app, _client, study_id = site
    for name, status in (("other", 404), ("coord2", 404), ("rater1", 403)):
        c = app.test_client()
        login(c, name)
        assert c.get(f"/studies/{study_id}/search?q=homework").status_code == status, name
        token = csrf_token(c, "/")
        assert c.post(f"/studies/{study_id}/search/units", data={"csrf_token": token, "q": "homework",
                                                                  "which": "all"}).status_code == status, name
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(RatingUnit).where(RatingUnit.kind == "custom")) == 0


def test_units_from_the_hits_on_the_page(site, database, study):
    app, client, study_id = site
    body = client.get(f"/studies/{study_id}/search?q=homework").get_data(as_text=True)
    hit_ids = re.findall(r'name="hit" value="(\d+)"', body)
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    assert len(hit_ids) == 3
    assert client.post(f"/studies/{study_id}/search/units", data={"q": "homework", "hit": hit_ids[:1]}).status_code \
        == 400  # no CSRF token
    response = client.post(f"/studies/{study_id}/search/units",
                           data={"csrf_token": token, "q": "homework", "which": "chosen", "hit": hit_ids[:1],
                                 "before": "5", "after": "10", "instrument": "wai-o-s"})
    assert response.status_code == 302 and response.location.endswith(f"/studies/{study_id}/search?q=homework")
    with database.session() as db:
        units = db.scalars(select(RatingUnit).where(RatingUnit.kind == "custom")).all()
        assert [(u.start_s, u.end_s, u.instrument_keys) for u in units] == [(8.053, 32.109, ["wai-o-s"])]
    follow = client.get(response.location).get_data(as_text=True)
    assert "1 rating unit(s) added around 1 hit(s) for wai-o-s." in html.unescape(follow)
    client.post(f"/studies/{study_id}/search/units", data={"csrf_token": token, "q": "homework", "which": "all",
                                                           "before": "0", "after": "0", "calibration": "1"})
    with database.session() as db:
        units = db.scalars(select(RatingUnit).where(RatingUnit.kind == "custom", RatingUnit.calibration)).all()
        assert len(units) == 3
    # hits of another study's transcripts are not taken
    with database.session() as db:
        foreign = db.scalar(select(TranscriptTurn.id).join(Transcript).join(Recording)
                            .where(Recording.sha256 == "f" * 64))
    response = client.post(f"/studies/{study_id}/search/units", data={"csrf_token": token, "q": "cafe",
                                                                      "hit": [str(foreign)]}, follow_redirects=True)
    assert "Choose the hits to make units around." in html.unescape(response.get_data(as_text=True))
    response = client.post(f"/studies/{study_id}/search/units", data={"csrf_token": token, "q": "homework",
                                                                      "hit": hit_ids, "before": "soon"},
                           follow_redirects=True)
    assert "must be numbers" in response.get_data(as_text=True)


def test_migration_0013_indexes_the_transcripts_stored_before_it(db_url):
    db = Database(db_url)
    migrate(db.engine, "0012")
    segments = json.dumps([{"start": 0.0, "end": 2.0, "speaker": "A", "text": "Wir waren im Café."},
                           {"start": 2.0, "end": 4.0, "speaker": "B", "text": "Homework again."}])
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO studies (id, name, description, settings, created_at) "
                          "VALUES (1, 'S', '', '{}', '2026-01-01')"))
        conn.execute(text("INSERT INTO therapists (id, study_id, code, created_at) VALUES (1, 1, 'T1', '2026-01-01')"))
        conn.execute(text("INSERT INTO clients (id, study_id, code, created_at) VALUES (1, 1, 'C1', '2026-01-01')"))
        conn.execute(text("INSERT INTO dyads (id, study_id, therapist_id, client_id, code, created_at) "
                          "VALUES (1, 1, 1, 1, 'D1', '2026-01-01')"))
        conn.execute(text("INSERT INTO sessions (id, dyad_id, number, created_at) VALUES (7, 1, 1, '2026-01-01')"))
        conn.execute(text("INSERT INTO recordings (id, session_id, path, original_name, sha256, size_bytes, "
                          "duration_s, sample_rate, channels, status, progress_s, attempts, created_at) VALUES (3, 7, "
                          "'a.wav', 'a.wav', :sha, 1, 60, 16000, 1, 'transcribed', 0, 0, '2026-01-01')"),
                     {"sha": "a" * 64})
        conn.execute(text("INSERT INTO transcripts (id, recording_id, engine, model, duration_s, segments, timings, "
                          "notes, created_at, status, revision) VALUES (4, 3, 'e', 'm', 4, :seg, '{}', '{}', "
                          "'2026-01-01', 'automatic', 0)"), {"seg": segments})
        conn.execute(text("INSERT INTO speakers (id, transcript_id, label, role, role_source) "
                          "VALUES (1, 4, 'B', 'client', 'manual')"))
    migrate(db.engine)
    with db.session() as s:
        assert times(s, "cafe", "S") == [0.0] and times(s, "homework", "S", role="client") == [2.0]
    db.dispose()
