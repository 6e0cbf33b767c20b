"""A study at the scale of a trial, for the long lists' tests and bench/lists.py: 200 sessions (20 dyads × 10),
a recording and a whole-session unit each, 10 raters each assigned every unit on 4 instruments (8,000
assignments), most of them rated, and an audit event for each rating. Rows go in with bulk INSERTs (ids
assigned here), so that building it takes seconds, not minutes.

What is built is known exactly (``LargeStudy``), so that tests can say which rows a page or a filter must
give: the rating of assignment ``i`` (0-based over units, then raters, then instruments) is submitted, in draft
or absent by ``rating_status(i)``, and its ``updated_at`` falls one second later per assignment.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select, text

from coder.db import Database
from coder.study import instruments
from coder.study.accounts import create_user
from coder.study.models import (Assignment, AuditEvent, Client, Dyad, Rating, RatingUnit, Recording, Study,
                                StudyCoordinator, Therapist, TherapySession)

from .rating_study import PASSWORD

INSTRUMENT_KEYS = ("wai-o-s", "wai-o", "homework-engagement", "rupture-markers")
RECORDING_STATUSES = ("transcribed",) * 7 + ("failed", "registered", "queued")  # by session, in turn
START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def rating_status(i: int) -> str | None:
    """The status of assignment ``i``'s rating: 7 in 10 submitted, 2 in 10 in draft, 1 in 10 not begun."""
    spread = (i * 2654435761) % 2**32 // 7 % 10  # scattered over raters, units and instruments
    return "submitted" if spread < 7 else "draft" if spread < 9 else None


@dataclass
class LargeStudy:
    study_id: int
    study_name: str
    coordinator: str
    raters: list[str]  # user names
    rater_ids: list[int]
    instrument_keys: tuple[str, ...]
    sessions: int
    assignments: int
    ratings: dict[str, int] = field(default_factory=dict)  # status -> count
    recordings: dict[str, int] = field(default_factory=dict)  # status -> count


def _next_id(db, model) -> int:
    return (db.scalar(select(func.max(model.id))) or 0) + 1


def build_large_study(database: Database, name: str = "Trial L", dyads: int = 20, sessions_per_dyad: int = 10,
                      raters: int = 10, instrument_keys: tuple[str, ...] = INSTRUMENT_KEYS,
                      coordinator: str = "coord") -> LargeStudy:
    """Study ``name`` at scale, its coordinator ``coordinator`` and raters rater01, rater02, ... (password
    ``PASSWORD``); see the module's docstring for what it holds."""
    with database.session() as db:
        coord = create_user(db, coordinator, PASSWORD, "coordinator", "Coordinator")
        rater_rows = [create_user(db, f"rater{i + 1:02d}", PASSWORD, "rater", f"Rater {i + 1}") for i in range(raters)]
        stored = [instruments.store(db, instruments.builtin(key)) for key in instrument_keys]
        study = Study(name=name, settings={})
        db.add(study)
        db.flush()
        db.add(StudyCoordinator(study_id=study.id, user_id=coord.id))
        db.flush()
        ids = {m: _next_id(db, m) for m in (Therapist, Client, Dyad, TherapySession, Recording, RatingUnit,
                                            Assignment, Rating, AuditEvent)}
        therapists = [{"id": ids[Therapist] + t, "study_id": study.id, "code": f"T{t + 1:02d}"}
                      for t in range(max(1, dyads // 2))]
        clients = [{"id": ids[Client] + c, "study_id": study.id, "code": f"C{c + 1:03d}"} for c in range(dyads)]
        dyad_rows = [{"id": ids[Dyad] + d, "study_id": study.id, "code": f"D{d + 1:03d}",
                      "therapist_id": therapists[d % len(therapists)]["id"], "client_id": clients[d]["id"]}
                     for d in range(dyads)]
        session_rows, recording_rows, unit_rows = [], [], []
        recordings: dict[str, int] = {}
        for d in range(dyads):
            for n in range(sessions_per_dyad):
                k = len(session_rows)
                session_id, recording_id = ids[TherapySession] + k, ids[Recording] + k
                session_rows.append({"id": session_id, "dyad_id": dyad_rows[d]["id"], "number": n + 1,
                                     "time_point": f"week {n + 1}", "treatment_arm": "CBT" if d % 2 else "TAU"})
                status = RECORDING_STATUSES[k % len(RECORDING_STATUSES)]
                recordings[status] = recordings.get(status, 0) + 1
                recording_rows.append({
                    "id": recording_id, "session_id": session_id, "path": f"/data/{name}/s{k + 1}.wav",
                    "original_name": f"D{d + 1:03d}_s{n + 1:02d}.wav", "sha256": f"{study.id:08x}{k:056x}",
                    "size_bytes": 1000, "duration_s": 3000.0 + k, "sample_rate": 16000, "channels": 1,
                    "status": status, "progress_s": 0.0})
                unit_rows.append({"id": ids[RatingUnit] + k, "session_id": session_id, "recording_id": recording_id,
                                  "kind": "whole_session", "start_s": 0.0, "end_s": 3000.0 + k,
                                  "label": "Whole session"})
        assignment_rows, rating_rows, audit_rows = [], [], []
        counts: dict[str, int] = {}
        for unit in unit_rows:
            for r, rater in enumerate(rater_rows):
                for instrument in stored:
                    i = len(assignment_rows)
                    assignment_id = ids[Assignment] + i
                    assignment_rows.append({"id": assignment_id, "rater_id": rater.id, "rating_unit_id": unit["id"],
                                            "instrument_id": instrument.id, "position": i})
                    status = rating_status(i)
                    if status is None:
                        continue
                    counts[status] = counts.get(status, 0) + 1
                    at = START + dt.timedelta(seconds=i)
                    rating_id = ids[Rating] + len(rating_rows)
                    rating_rows.append({"id": rating_id, "assignment_id": assignment_id, "rater_id": rater.id,
                                        "responses": {}, "notes": "", "status": status, "revision": 1,
                                        "created_at": at, "updated_at": at,
                                        "submitted_at": at if status == "submitted" else None})
                    audit_rows.append({"id": ids[AuditEvent] + len(audit_rows), "at": at, "actor_id": rater.id,
                                       "action": "submit" if status == "submitted" else "save_draft",
                                       "entity": "ratings", "entity_id": rating_id, "study_id": study.id,
                                       "detail": {"revision": 1}})
        for model, rows in ((Therapist, therapists), (Client, clients), (Dyad, dyad_rows),
                            (TherapySession, session_rows), (Recording, recording_rows), (RatingUnit, unit_rows),
                            (Assignment, assignment_rows), (Rating, rating_rows), (AuditEvent, audit_rows)):
            for start in range(0, len(rows), 2000):
                db.execute(insert(model), rows[start:start + 2000])
        if db.bind.dialect.name == "postgresql":  # the id sequences go on after the ids given here
            for model in ids:
                table = model.__tablename__
                db.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT MAX(id) FROM {table}) + 1, false)"))
        db.commit()
        return LargeStudy(study.id, name, coordinator, [u.username for u in rater_rows], [u.id for u in rater_rows],
                          tuple(instrument_keys), len(session_rows), len(assignment_rows), counts, recordings)
