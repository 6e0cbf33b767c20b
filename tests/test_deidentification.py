"""De-identification in storage, on SQLite and PostgreSQL: candidates found in the demo session with names
planted in it, decisions and words a person adds, applying refused while anything is pending, pseudonyms kept
across a dyad's sessions, the original revision untouched and still what the search reads, an edit re-checked
for its turn only, what raters read (pseudonyms, never the original, nothing before applying) and hear (the
redacted stretches silent in their listening copy), the anonymisation log apart from the de-identified
exports, the command line, and backup and restore of it all."""
from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from coder.config import load_settings
from coder.pipeline import deidentify, playback
from coder.pipeline.interchange import EXPORTS
from coder.rating import workspace
from coder.study import deidentification as deid
from coder.study import transcripts
from coder.study.models import (AnonymisationEntry, Assignment, AuditEvent, Deidentification, Dyad, Recording, Study,
                                Transcript, TranscriptTurn, User)
from coder.study.tree import get_or_create_session
from coder.web.app import create_app

from .support.cli import coder as run_coder
from .support.planted import NAMES, PEOPLE, planted_segments
from .support.rating_study import build
from .support.web import login

@pytest.fixture(scope="module")
def analyzer():
    return deidentify.analyzer()


@pytest.fixture
def study(database, analyzer):
    built = build(database)
    with database.session() as db:
        transcript = db.get(Recording, built.recording_id).transcript
        transcript.segments = planted_segments()  # as the recogniser wrote it: revision 0
    return built


def _open(db, built):
    transcript = db.get(Recording, built.recording_id).transcript
    return transcript, db.scalar(select(User).where(User.username == "coord"))


def _by_text(state):
    return {c["text"]: c for c in state["candidates"]}


def _review(db, transcript, coord, keep=("Maria", "Anna", "Leeds")):
    """Accept the candidates whose text is in ``keep``, reject the rest."""
    for c in deid.state(db, transcript)["candidates"]:
        if c["decision"] == "pending":
            deid.decide(db, transcript, c["id"], c["text"] in keep, coord)


def _apply(db, built):
    transcript, coord = _open(db, built)
    deid.set_identifiers(db, transcript.recording.session.dyad, PEOPLE, coord)
    deid.detect(db, transcript, coord)
    _review(db, transcript, coord)
    return deid.apply(db, transcript, coord)


def test_detection_decisions_and_added_words_are_stored(database, study):
    with database.session() as db:
        transcript, coord = _open(db, study)
        dyad = transcript.recording.session.dyad
        assert deid.set_identifiers(db, dyad, {"Client": ["Maria", " Maria  Lopez "], "Sister": "Anna",
                                               "Mother": []}, coord) == {"Client": ["Maria", "Maria Lopez"],
                                                                          "Sister": ["Anna"]}
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "set_identifiers"))
        assert event.detail == {"before": {}, "after": {"Client": 2, "Sister": 1}}  # no names in the trail
        with pytest.raises(deid.DeidError, match="names for Client must be a list"):
            deid.set_identifiers(db, dyad, {"Client": [3]}, coord)
        deid.set_identifiers(db, dyad, PEOPLE, coord)
        assert deid.state(db, transcript)["status"] == "none"
        with pytest.raises(deid.DeidError, match="detect the identifiers first"):
            deid.apply(db, transcript, coord)
        found = deid.detect(db, transcript, coord)
        assert found.analysed == list(range(len(transcript.segments))) and found.new == len(found.deidentification.candidates)
    with database.session() as db:
        transcript, coord = _open(db, study)
        state = deid.state(db, transcript)
        by_text = _by_text(state)
        assert state["status"] == "detected" and state["revision"] == 0 and not state["stale"]
        maria, anna = by_text["Maria"], by_text["Anna"]
        assert (maria["turn"], maria["first"], maria["last"], maria["role"], maria["decision"]) == (0, 5, 5, "Client",
                                                                                                  "pending")
        assert maria["start"] == transcript.segments[0]["words"][5]["start"] and maria["pseudonym"] == "[Client]"
        assert anna["pseudonym"] == "[Sister 1]" and by_text["Leeds"]["pseudonym"] == "[Town A]"
        assert {c["turn"] for c in state["candidates"] if c["text"] == "Anna"} == {3, 5}
        assert len({c["id"] for c in state["candidates"]}) == len(state["candidates"])
        # apply is refused while anything is pending, naming what
        with pytest.raises(deid.Pending, match=r"candidate\(s\) still pending") as refused:
            deid.apply(db, transcript, coord)
        assert sorted(refused.value.ids) == sorted(c["id"] for c in state["candidates"])
        deid.decide(db, transcript, maria["id"], True, coord)
        deid.decide(db, transcript, by_text["Leeds"]["id"], False, coord)
        with pytest.raises(deid.DeidError, match="no candidate 999"):
            deid.decide(db, transcript, 999, True, coord)
        # a person adds words the detection missed: "worried thoughts" as an organisation, say
        added = deid.add(db, transcript, 3, 15, 16, "ORGANIZATION", coord)
        assert (added["text"], added["source"], added["decision"]) == ("worried thoughts", "added", "accepted")
        with pytest.raises(deid.DeidError, match="turn 3 has no words 40–41"):
            deid.add(db, transcript, 3, 40, 41, "PERSON", coord)
        with pytest.raises(deid.DeidError, match="the type must be one of"):
            deid.add(db, transcript, 3, 1, 1, "SHOE", coord)
    with database.session() as db:
        transcript, coord = _open(db, study)
        by_text = _by_text(deid.state(db, transcript))
        assert by_text["Maria"]["decision"] == "accepted" and by_text["Leeds"]["decision"] == "rejected"
        assert by_text["worried thoughts"]["pseudonym"] == "[Organisation A]"
        actions = [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert {"detect_identifiers", "decide_identifier", "add_identifier"} <= set(actions)
        # an added span over a candidate's words supersedes it
        anna3 = next(c for c in deid.state(db, transcript)["candidates"] if c["text"] == "Anna" and c["turn"] == 3)
        wide = deid.add(db, transcript, 3, anna3["first"] - 1, anna3["first"], "PERSON", coord, person="Anna")
        state = _by_text(deid.state(db, transcript))
        assert state["sister Anna"]["pseudonym"] == "[Sister 1]" and wide["person"] == "Anna"
        assert next(c for c in deid.state(db, transcript)["candidates"] if c["id"] == anna3["id"])["decision"] == \
            "rejected"


def test_apply_keeps_the_original_and_writes_the_log_apart(database, study):
    with database.session() as db:
        transcript, coord = _open(db, study)
        original = [dict(s) for s in transcript.segments]
        history = [(r.number, r.segments) for r in transcripts.history(db, transcript)]
        row = _apply(db, study)
        assert row.status == "applied" and row.applied_revision == 0
        text = " ".join(s["text"] for s in row.segments)
        assert "[Client]" in text and "[Sister 1]" in text and "[Town A]" in text
        assert not any(name in text for name in NAMES)
    with database.session() as db:
        transcript, coord = _open(db, study)
        assert transcript.segments == original and transcript.revision == 0
        assert [(r.number, r.segments) for r in transcripts.history(db, transcript)] == history
        # the search still reads the original, never the de-identified version
        turns = db.scalars(select(TranscriptTurn.text).where(TranscriptTurn.transcript_id == transcript.id)).all()
        assert any("Maria" in t for t in turns) and not any("[Client]" in t for t in turns)
        log = deid.log_rows(db, transcript)
        assert [(e.turn, e.original, e.pseudonym) for e in log if e.text in NAMES] == [
            (0, "Maria.", "[Client]"), (3, "Anna", "[Sister 1]"), (5, "Leeds", "[Town A]"), (5, "Anna.", "[Sister 1]")]
        rows = list(csv.DictReader(io.StringIO(deid.log_csv(db, transcript))))
        assert rows[0].keys() == set(deid.LOG_COLUMNS) and {"Maria.", "Anna", "Leeds"} <= {r["original"] for r in rows}
        dyad = transcript.recording.session.dyad
        assert dyad.pseudonyms["maria"] == "[Client]" and dyad.pseudonyms["leeds"] == "[Town A]"
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "apply_deidentification"))
        assert event.detail["replaced"] == len(log) and "Maria" not in str(event.detail)


def test_pseudonyms_stay_the_same_across_a_dyads_sessions(database, study):
    with database.session() as db:
        _apply(db, study)
        transcript, coord = _open(db, study)
        first = transcript.recording
        session = get_or_create_session(db, transcript.recording.session.dyad, 4)
        rec = Recording(session_id=session.id, path=first.path, original_name="D1_session4.ogg", sha256="4" * 64,
                        size_bytes=first.size_bytes, duration_s=first.duration_s, sample_rate=first.sample_rate,
                        channels=first.channels, status="transcribed")
        db.add(rec)
        db.flush()
        second = Transcript(recording_id=rec.id, engine="script", model="turns", language="en",
                            duration_s=first.duration_s, segments=planted_segments({
                                0: "Did you see Anna again, or your other sister Beth?",
                                1: "We met in York and then in Leeds, Maria said."}))
        db.add(second)
        db.flush()
        deid.detect(db, second, coord)
        _review(db, second, coord, keep=("Anna", "Beth", "York", "Leeds", "Maria"))
        deid.apply(db, second, coord)
        by_original = {e.text: e.pseudonym for e in deid.log_rows(db, second)}
        assert by_original["Anna"] == "[Sister 1]" and by_original["Leeds"] == "[Town A]"
        assert by_original["Maria"] == "[Client]"
        assert by_original["York"] == "[Town B]" and by_original["Beth"] == "[Person 1]"  # Beth is not on the lists


def test_an_edit_after_deidentification_is_rechecked_for_its_turn_only(database, study):
    with database.session() as db:
        _apply(db, study)
        transcript, coord = _open(db, study)
        before = {c["id"]: c for c in deid.state(db, transcript)["candidates"]}
        # turn 7 gets a name; the de-identified version stays what raters read until applied again
        transcripts.apply(db, transcript, 0, {"op": "edit_text", "turn": 7,
                                              "text": "Mostly that Rose at work will notice."}, coord)
        state = deid.state(db, transcript)
        assert state["stale"] and state["revision"] == 0 and state["current_revision"] == 1
        with pytest.raises(deid.DeidError, match="edited since the identifiers were detected"):
            deid.decide(db, transcript, next(iter(before)), True, coord)
        with pytest.raises(deid.DeidError, match="edited since"):
            deid.apply(db, transcript, coord)
        found = deid.detect(db, transcript, coord)
        assert found.analysed == [7]
        after = {c["id"]: c for c in deid.state(db, transcript)["candidates"]}
        for ident, c in before.items():  # every other turn's candidates, with their decisions
            assert after[ident]["decision"] == c["decision"] and after[ident]["turn"] == c["turn"]
        rose = [c for c in after.values() if c["turn"] == 7]
        assert [(c["text"], c["decision"]) for c in rose] == [("Rose", "pending")]
        assert min(c["id"] for c in rose) > max(before)
        deid.decide(db, transcript, rose[0]["id"], True, coord)
        row = deid.apply(db, transcript, coord)
        assert row.applied_revision == 1 and "Rose" not in row.segments[7]["text"]
        assert "[Person 1]" in row.segments[7]["text"]
        # another name where an accepted one was: found afresh, pending, not hidden by the old decision; the
        # edited turn's other candidate, found again with the same words, keeps its decision
        week = next(c for c in after.values() if c["turn"] == 0 and c["text"] != "Maria")
        transcripts.apply(db, transcript, 1, {"op": "replace_words", "turn": 0, "first": 5, "last": 5,
                                              "text": "Anna."}, coord)
        assert deid.detect(db, transcript, coord).analysed == [0]
        turn0 = [(c["text"], c["decision"], c["id"] == week["id"])
                 for c in deid.state(db, transcript)["candidates"] if c["turn"] == 0]
        assert turn0 == [("Anna", "pending", False), (week["text"], "rejected", True)]


def test_raters_read_pseudonyms_and_never_the_original(database, study):
    with database.session() as db:
        transcript, coord = _open(db, study)
        study_row = db.scalar(select(Study))
        assignment = db.get(Assignment, study.assignments["rater1"][0])

        def words():
            return " ".join(w[2] for turn in workspace.transcript_excerpt(assignment) for w in turn["w"])

        assert "Maria" in words()  # the default: the original
        assert deid.set_rater_settings(db, study_row, coord, text="deidentified") == {"text": "deidentified",
                                                                                      "audio": "original"}
        assert words() == "" and workspace.shown_revision(assignment) is None  # nothing before apply
        deid.set_identifiers(db, transcript.recording.session.dyad, PEOPLE, coord)
        deid.detect(db, transcript, coord)
        assert words() == ""  # nor while it is reviewed
        _review(db, transcript, coord)
        deid.apply(db, transcript, coord)
        text = words()
        assert "[Client]" in text and "[Sister 1]" in text and not any(n in text for n in NAMES)
        assert workspace.shown_revision(assignment) == 0
        # an edit does not leak: raters keep reading the last applied version
        transcripts.apply(db, transcript, 0, {"op": "edit_text", "turn": 1, "text": "Maria again."}, coord)
        assert "Maria" not in words() and workspace.shown_revision(assignment) == 0
        # the study's other setting still holds: only verified transcripts
        transcripts.set_rater_view(db, study_row, "verified", coord)
        assert words() == ""
        with pytest.raises(deid.DeidError, match="raters read original or deidentified"):
            deid.set_rater_settings(db, study_row, coord, text="redacted")


def test_the_masked_listening_copy_is_silent_over_the_redacted_spans(database, study, listening_copy, tmp_path):
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    app = create_app(settings, database, {"TESTING": True})
    aid = study.assignments["rater1"][0]  # the whole session
    with database.session() as db:
        deid.set_rater_settings(db, db.scalar(select(Study)), None, audio="muted")
    client = app.test_client()
    assert login(client, "rater1").status_code == 302
    assert client.get(f"/rate/{aid}/audio").status_code == 404  # not applied: no audio rather than the original
    assert "cannot be played" in client.get(f"/rate/{aid}").get_data(as_text=True)
    with database.session() as db:
        _apply(db, study)
        transcript, _ = _open(db, study)
        spans = deidentify.muted_spans([{"start": e.start_s, "end": e.end_s} for e in deid.log_rows(db, transcript)])
    response = client.get(f"/rate/{aid}/audio")
    assert response.status_code == 200
    samples, rate = sf.read(io.BytesIO(response.data), dtype="int16")
    original = np.fromfile(next(listening_copy.glob("*.pcm")), dtype="<i2")
    assert rate == 16000 and len(samples) == len(original)
    inside = np.zeros(len(samples), dtype=bool)
    for a, b in spans:
        inside[int(round(a * rate)):int(round(b * rate))] = True
    assert inside.any() and not samples[inside].any()  # silent over every span
    assert np.array_equal(samples[~inside], original[~inside]) and original[inside].any()
    assert len(list(settings.playback_dir.glob("*.mute-*.pcm"))) == 1
    # a tone instead: a copy of its own
    with database.session() as db:
        deid.set_rater_settings(db, db.scalar(select(Study)), None, audio="tone")
    toned, _ = sf.read(io.BytesIO(client.get(f"/rate/{aid}/audio").data), dtype="int16")
    assert np.abs(toned[inside]).max() > 5000 and np.array_equal(toned[~inside], original[~inside])


def test_the_deidentified_export_carries_the_pseudonyms_and_the_log_exports_apart(database, study, tmp_path):
    with database.session() as db:
        transcript, coord = _open(db, study)
        transcript.speakers[1].name = "Maria Lopez"  # a display name: left out of the de-identified export
        with pytest.raises(deid.DeidError, match="no de-identified version"):
            deid.write_exports(transcript, tmp_path / "out")
        _apply(db, study)
        paths = deid.write_exports(transcript, tmp_path / "out", EXPORTS)
        assert sorted(p.name for p in paths.values()) == sorted(
            f"recording-{study.recording_id}.deidentified.{ext}" for ext in ("json", "rttm", "vtt", "txt", "docx",
                                                                            "eaf", "TextGrid"))
        (tmp_path / "log.csv").write_text(deid.log_csv(db, transcript))
    from docx import Document

    for fmt, path in paths.items():
        text = "\n".join(p.text for p in Document(path).paragraphs) if fmt == "docx" else path.read_text()
        assert not any(name in text for name in NAMES), fmt
        if fmt not in ("rttm",):
            assert "[Client]" in text, fmt
    assert all(name in (tmp_path / "log.csv").read_text() for name in NAMES)


def test_the_command_line_round_trip(database, study, tmp_path):
    env = {"CODER_HOME": tmp_path / "home", "DATABASE_URL": database.url}

    def coder(*args):
        return run_coder("deid", *args, env=env, timeout=300)

    rec = str(study.recording_id)
    assert coder("people", "D1", "--set", "Client=Maria", "--set", "Client=Maria Lopez", "--set",
                 "Therapist=Helen", "--set", "Sister=Anna").exit_code == 0
    shown = coder("people", "D1")
    assert shown.exit_code == 0 and "Client: Maria; Maria Lopez" in shown.stdout
    bad = coder("people", "D1", "--set", "Client")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
    assert coder("accept", rec, "1").stderr.strip() == "error: no candidates yet: detect the identifiers first"
    detected = coder("detect", rec)
    assert detected.exit_code == 0 and "candidates" in detected.stdout
    listing = coder("show", rec).stdout
    assert "Maria" in listing and "pending" in listing and "[Client]" in listing
    refused = coder("apply", rec)
    assert refused.exit_code == 1 and "still pending" in refused.stderr
    with database.session() as db:
        transcript, _ = _open(db, study)
        keep = [str(c["id"]) for c in deid.state(db, transcript)["candidates"] if c["text"] in NAMES]
    assert coder("accept", rec, *keep).exit_code == 0
    assert coder("reject", rec, "--all").exit_code == 0
    assert coder("add", rec, "3", "15", "16", "--type", "ORGANIZATION").exit_code == 0
    assert coder("add", rec, "3", "99", "99").exit_code == 1
    applied = coder("apply", rec)
    assert applied.exit_code == 0 and "replaced" in applied.stdout
    assert coder("log", rec, "--out", tmp_path / "log.csv").exit_code == 0
    assert "Maria" in (tmp_path / "log.csv").read_text()
    out = run_coder("export", rec, "--deidentified", "--out", tmp_path / "export", "--format", "txt", env=env)
    assert out.exit_code == 0
    text = (tmp_path / "export" / f"recording-{rec}.deidentified.txt").read_text()
    assert "[Client]" in text and "[Organisation A]" in text and not any(n in text for n in NAMES)
    assert run_coder("export", rec, "--out", tmp_path / "plain", "--format", "txt", env=env).exit_code == 0
    assert "Maria" in (tmp_path / "plain" / f"recording-{rec}.txt").read_text()  # the normal export, unchanged
    settings = coder("raters", "Trial R", "--text", "deidentified", "--audio", "tone")
    assert settings.exit_code == 0 and "de-identified" in settings.stdout
    with database.session() as db:
        assert deid.rater_settings(db.scalar(select(Study))) == {"text": "deidentified", "audio": "tone"}


def test_backup_and_restore_keep_the_deidentification(db_url, tmp_path, analyzer):
    from coder.db import Database

    database = Database(db_url)
    database.migrate()
    built = build(database)
    with database.session() as db:
        db.get(Recording, built.recording_id).transcript.segments = planted_segments()
    with database.session() as db:
        _apply(db, built)
    home = tmp_path / "home"
    env = {"CODER_HOME": home, "DATABASE_URL": database.url}
    assert run_coder("backup", tmp_path / "b.tar", env=env, timeout=300).exit_code == 0
    restored_url = f"sqlite:///{tmp_path / 'restored.db'}"
    env2 = {"CODER_HOME": tmp_path / "home2", "DATABASE_URL": restored_url}
    result = run_coder("restore", tmp_path / "b.tar", env=env2, timeout=300)
    assert result.exit_code == 0, result.output
    restored = Database(restored_url)

    def snapshot(d):
        with d.session() as db:
            row = db.scalar(select(Deidentification))
            dyad = db.scalar(select(Dyad))
            log = [(e.turn, e.first_word, e.original, e.pseudonym) for e in db.scalars(select(AnonymisationEntry)
                                                                                       .order_by(AnonymisationEntry.id))]
            return row.candidates, row.segments, row.status, dyad.identifiers, dyad.pseudonyms, log

    assert snapshot(restored) == snapshot(database) and snapshot(restored)[5]
    restored.dispose()
    database.dispose()
