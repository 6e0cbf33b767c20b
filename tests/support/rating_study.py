"""A study ready for rating, shared by the rating and browser tests and the benchmarks (bench/).

The demo session (sample_audio/demo_session.ogg, a scripted two-speaker CBT
session) with a transcript made from its script: the known turns, each turn's
words spread evenly over it. (Transcription itself is tested elsewhere.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from coder.study import instruments
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.pipeline.audio import probe, sha256_file
from coder.db import Database
from coder.study.models import Assignment, Rating, RatingUnit, Recording, Speaker, Transcript
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study

from .paths import SAMPLE_DIR

SESSION_AUDIO = SAMPLE_DIR / "demo_session.ogg"
SESSION_TURNS = SAMPLE_DIR / "demo_session.turns.json"
PASSWORD = "a long enough password"
LABELS = {"therapist": "SPEAKER_00", "client": "SPEAKER_01"}


def script_segments(turns_path: Path = SESSION_TURNS) -> list[dict]:
    segments = []
    for turn in json.loads(turns_path.read_text()):
        words = turn["text"].split()
        step = (turn["end"] - turn["start"]) / len(words)
        label = LABELS[turn["speaker"]]
        segments.append({
            "start": turn["start"], "end": turn["end"], "speaker": label, "text": turn["text"],
            "words": [{"start": round(turn["start"] + i * step, 3), "end": round(turn["start"] + (i + 0.8) * step, 3),
                       "text": w, "speaker": label, "probability": 1.0} for i, w in enumerate(words)]})
    return segments


@dataclass
class RatingStudy:
    database: Database
    recording_id: int
    whole_unit: int
    window_units: list[int]
    assignments: dict[str, list[int]] = field(default_factory=dict)  # rater -> assignment ids
    instrument_ids: dict[str, int] = field(default_factory=dict)


def transcribed_recording(db, session, audio: Path = SESSION_AUDIO, name: str | None = None) -> Recording:
    """The demo session's audio registered in ``session`` with its scripted transcript (roles set)."""
    info = probe(audio)
    rec = Recording(session_id=session.id, path=str(audio), original_name=name or audio.name,
                    sha256=sha256_file(audio), size_bytes=audio.stat().st_size, duration_s=info.duration_s,
                    sample_rate=info.sample_rate, channels=info.channels, status="transcribed")
    db.add(rec)
    db.flush()
    db.add(Transcript(recording_id=rec.id, engine="script", model="turns", language="en",
                      duration_s=info.duration_s, segments=script_segments(),
                      speakers=[Speaker(label="SPEAKER_00", role="therapist"),
                                Speaker(label="SPEAKER_01", role="client")]))
    return rec


def build(database: Database, audio: Path = SESSION_AUDIO, settings: dict | None = None,
          raters: tuple[str, ...] = ("rater1", "rater2", "rater3")) -> RatingStudy:
    """Study "Trial R": dyad D1 (therapist T1, client C1), session 3 (week 4, arm CBT) with the recording;
    a whole-session unit on wai-o-s for every rater, and 1-minute windows on rupture-markers for rater1."""
    info = probe(audio)
    with database.session() as db:
        study = get_or_create_study(db, "Trial R")
        study.settings = settings or {}
        dyad = get_or_create_dyad(db, study, "T1", "C1", "D1")
        session = get_or_create_session(db, dyad, 3, time_point="week 4", treatment_arm="CBT")
        rec = transcribed_recording(db, session, audio, "D1_session3_week4.ogg")
        whole = RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="whole_session", start_s=0.0,
                           end_s=info.duration_s, label="Whole session")
        windows = [RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="fixed_window", start_s=float(a),
                              end_s=float(b), label=f"Minute {i + 1}")
                   for i, (a, b) in enumerate([(0, 60), (60, 120)])]
        db.add_all([whole, *windows])
        wai = instruments.store(db, instruments.builtin("wai-o-s"))
        markers = instruments.store(db, instruments.builtin("rupture-markers"))
        grant(db, study, create_user(db, "coord", PASSWORD, "coordinator", "Coordinator"), None)
        db.flush()
        out = RatingStudy(database, rec.id, whole.id, [w.id for w in windows],
                          instrument_ids={"wai-o-s": wai.id, "rupture-markers": markers.id})
        for name in raters:
            rater = create_user(db, name, PASSWORD, "rater", name.replace("rater", "Rater "))
            db.flush()
            a = Assignment(rater_id=rater.id, rating_unit_id=whole.id, instrument_id=wai.id)
            db.add(a)
            db.flush()
            out.assignments[name] = [a.id]
        first = db.get(Assignment, out.assignments[raters[0]][0]).rater_id
        for w in windows:
            a = Assignment(rater_id=first, rating_unit_id=w.id, instrument_id=markers.id)
            db.add(a)
            db.flush()
            out.assignments[raters[0]].append(a.id)
    return out


def marker_units(database: Database, study: RatingStudy, rater: str = "rater1",
                 spans: tuple[tuple[float, float], ...] = ((120, 170),)) -> list[int]:
    """More 1-minute windows of the session on rupture-markers for ``rater`` (who has minutes 1 and 2 from
    ``build``), appended to ``study.assignments[rater]``; their assignment ids."""
    with database.session() as db:
        rater_id = db.get(Assignment, study.assignments[rater][0]).rater_id
        session_id = db.get(RatingUnit, study.whole_unit).session_id
        out = []
        for i, (a, b) in enumerate(spans):
            unit = RatingUnit(session_id=session_id, recording_id=study.recording_id, kind="fixed_window",
                              start_s=float(a), end_s=float(b), label=f"Minute {int(a // 60) + 1}")
            db.add(unit)
            db.flush()
            assignment = Assignment(rater_id=rater_id, rating_unit_id=unit.id,
                                    instrument_id=study.instrument_ids["rupture-markers"], position=100 + i)
            db.add(assignment)
            db.flush()
            out.append(assignment.id)
    study.assignments[rater].extend(out)
    return out


def stored(database: Database, assignment_id: int) -> Rating | None:
    """The rating stored for an assignment, read in a session of its own."""
    with database.session() as db:
        return db.scalar(select(Rating).where(Rating.assignment_id == assignment_id))
