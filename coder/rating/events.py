"""A study's submitted ratings as event coding: each rating's marker answers and its events, with where they
happened. Event agreement (the reliability report), event rates (the aggregation tables) and the event exports
(CSV, ELAN) start from here.

Only live, submitted ratings count, as everywhere in the analyses (``coder.rating.scores.submitted_in``). An
event's times in a rating are seconds from its unit's start; ``event_table`` adds the unit's start in the
recording (``RatingUnit.start_s``) to give the time in the recording.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from coder.rating.scores import submitted_in
from coder.study import instruments
from coder.study.models import Assignment, Instrument, Rating, RatingUnit, Study, TherapySession

EVENT_COLUMNS = ["study", "instrument", "version", "dyad", "session", "recording", "recording_id", "unit", "unit_id",
                 "unit_start_s", "rater", "rating_id", "event", "code", "kind", "start", "end", "unit_time_start",
                 "unit_time_end", "salience", "note"]
ANSWER_COLUMNS = ["unit", "rater", "marker", "kind", "answer", "present", "events"]


@dataclass
class Coded:
    """One submitted rating on an instrument with markers: where it is, who made it, each marker's answer
    (``instruments.marker_answers``: a salience, "absent" or None) and its events (sorted by start)."""
    rating_id: int
    instrument: str
    version: str
    definition: Any
    study: str
    dyad: str
    session: int
    session_id: int
    recording_id: int | None
    recording: str
    recording_path: str
    unit_id: int
    unit: str
    unit_start_s: float
    unit_end_s: float
    rater: str
    answers: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


def coded_ratings(db: Session, study: Study, key: str | None = None, version: str | None = None) -> list[Coded]:
    """The study's live, submitted ratings on instruments that declare markers (``key`` and ``version`` narrow
    them to one instrument version), in the order dyad, session, unit start, rater."""
    stmt = (submitted_in(select(Rating), study)
            .options(joinedload(Rating.assignment).joinedload(Assignment.rating_unit)
                     .joinedload(RatingUnit.session).joinedload(TherapySession.dyad),
                     joinedload(Rating.assignment).joinedload(Assignment.rating_unit).joinedload(RatingUnit.recording),
                     joinedload(Rating.assignment).joinedload(Assignment.instrument), joinedload(Rating.rater)))
    if key is not None:
        stmt = stmt.where(Assignment.instrument_id.in_(
            select(Instrument.id).where(Instrument.key == key,
                                        *([Instrument.version == version] if version is not None else []))))
    definitions: dict[int, Any] = {}
    out = []
    for rating in db.scalars(stmt).unique():
        a = rating.assignment
        if a.instrument_id not in definitions:
            definitions[a.instrument_id] = instruments.stored(a.instrument)
        definition = definitions[a.instrument_id]
        if not definition.markers:
            continue
        unit = a.rating_unit
        recording = unit.recording
        responses = rating.responses or {}
        out.append(Coded(
            rating.id, a.instrument.key, a.instrument.version, definition, study.name, unit.session.dyad.code,
            unit.session.number, unit.session_id, unit.recording_id,
            (recording.original_name or f"recording {recording.id}") if recording else "",
            recording.path if recording else "", unit.id, unit.label or f"Unit {unit.id}", float(unit.start_s or 0.0),
            float(unit.end_s or 0.0), rating.rater.username, instruments.marker_answers(definition, responses),
            instruments.events_of(responses)))
    return sorted(out, key=lambda c: (c.instrument, c.version, c.dyad, c.session, c.unit_start_s, c.unit_id,
                                      c.rater))


def event_table(coded: list[Coded]) -> pd.DataFrame:
    """One row per event (``EVENT_COLUMNS``): study, instrument, dyad, session number, recording, unit, rater,
    the event's id, code and the code's kind, its start and end in the recording (unit start + the time in the
    unit; end empty for a moment), the times in the unit, salience and note."""
    rows = []
    for c in coded:
        kinds = {m.id: m.kind for m in c.definition.markers}
        for e in c.events:
            end = e.get("end")
            rows.append({"study": c.study, "instrument": c.instrument, "version": c.version, "dyad": c.dyad,
                         "session": c.session, "recording": c.recording, "recording_id": c.recording_id,
                         "unit": c.unit, "unit_id": c.unit_id, "unit_start_s": c.unit_start_s, "rater": c.rater,
                         "rating_id": c.rating_id, "event": e.get("id"), "code": e["code"],
                         "kind": kinds.get(e["code"]), "start": round(c.unit_start_s + float(e["start"]), 3),
                         "end": round(c.unit_start_s + float(end), 3) if end is not None else None,
                         "unit_time_start": float(e["start"]),
                         "unit_time_end": float(end) if end is not None else None,
                         "salience": e.get("salience"), "note": e.get("note") or ""})
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def answer_table(coded: list[Coded]) -> pd.DataFrame:
    """One row per rating × marker of its instrument (``ANSWER_COLUMNS``): the unit id, rater, marker, its kind,
    the answer (salience, "absent" or None), present (1 when the answer is a salience or the rating has events
    of the marker, else 0) and the number of the rating's events of that marker."""
    rows = []
    for c in coded:
        counts: dict[str, int] = {}
        for e in c.events:
            counts[e["code"]] = counts.get(e["code"], 0) + 1
        for m in c.definition.markers:
            answer = c.answers.get(m.id)
            present = (answer is not None and answer != instruments.ABSENT) or counts.get(m.id, 0) > 0
            rows.append({"unit": c.unit_id, "rater": c.rater, "marker": m.id, "kind": m.kind, "answer": answer,
                         "present": int(present), "events": counts.get(m.id, 0)})
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


def events_by_unit(coded: list[Coded]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Unit id → rater → that rater's events in the unit (an empty list where they placed none), as
    ``coder.stats.events.timing_agreement`` takes them."""
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for c in coded:
        out.setdefault(c.unit_id, {})[c.rater] = list(c.events)
    return out
