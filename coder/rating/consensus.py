"""Consensus ratings: what raters agreed on after discussing their discrepant ratings of a unit.

A consensus rating is stored beside the independent ratings and never replaces them. It names the
independent ratings that were discussed (submitted ratings of the same unit and instrument, at least
two), who recorded it and why. Recording it again for the same unit and instrument updates it; every
change goes to the audit trail. Reliability statistics use only independent ratings; aggregation
(``coder.reports.aggregation``, unit rule ``consensus``) uses the consensus where one exists.

The consensus page starts from what the raters agree on (``agreed``): an item every rater scored the same,
a marker every rater answered the same (present at one salience, or absent). Events (markers placed in time)
are not merged: the coordinator keeps the raters' events the discussion confirmed (``kept_events``), which
become the consensus's events; ``matching_events`` ticks, to start with, one event of each group that every
rater placed (same code, starts within the instrument's tolerance).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coder.rating import progress
from coder.study import instruments, scope
from coder.study.audit import audit
from coder.study.instruments import MARKERS, events_of, marker_answers
from coder.study.models import Assignment, ConsensusRating, Instrument, Rating, RatingUnit, Study, User


class ConsensusError(ValueError):
    """The consensus cannot be recorded; the message says why."""


def record(db: Session, unit: RatingUnit, instrument_row: Instrument, responses: dict[str, Any], recorder: User,
           rating_ids: list[int], note: str = "") -> ConsensusRating:
    """Record (or update) the consensus of ``rating_ids`` on ``unit``; the responses are checked like
    a submitted rating's."""
    definition = instruments.stored(instrument_row)
    problems = instruments.check_responses(definition, responses, submit=True,
                                           duration=unit.end_s - unit.start_s if unit.recording_id else None)
    if problems:
        raise ConsensusError("; ".join(problems))
    ratings = db.scalars(select(Rating).join(Assignment, Rating.assignment_id == Assignment.id)
                         .where(Rating.id.in_(rating_ids), Assignment.rating_unit_id == unit.id,
                                Assignment.instrument_id == instrument_row.id, Rating.status == "submitted",
                                Rating.live)).all()
    found = {r.id for r in ratings}
    if set(rating_ids) - found:
        raise ConsensusError(f"rating(s) {', '.join(map(str, sorted(set(rating_ids) - found)))} are not submitted "
                             f"ratings of unit {unit.id} on {instrument_row.key} version {instrument_row.version}")
    if len({r.rater_id for r in ratings}) < 2:
        raise ConsensusError("a consensus needs the submitted ratings of at least two raters")
    existing = db.scalar(select(ConsensusRating).where(ConsensusRating.rating_unit_id == unit.id,
                                                       ConsensusRating.instrument_id == instrument_row.id))
    if existing is None:
        existing = ConsensusRating(rating_unit_id=unit.id, instrument_id=instrument_row.id, recorded_by=recorder.id,
                                   responses=dict(responses), rating_ids=sorted(found), note=note)
        db.add(existing)
        db.flush()
        audit(db, "record_consensus", existing, recorder, unit=unit.id, ratings=sorted(found), note=note)
    else:
        before = dict(existing.responses)
        existing.responses, existing.rating_ids, existing.note = dict(responses), sorted(found), note
        existing.recorded_by, existing.deleted_at = recorder.id, None
        audit(db, "update_consensus", existing, recorder, unit=unit.id, before=before, after=dict(responses),
              note=note)
    db.flush()
    return existing


def discrepancies(db: Session, study: Study) -> list[dict[str, Any]]:
    """The study's units with submitted ratings by two or more raters on an instrument, with how far they
    disagree (items differing, the largest difference) and any consensus recorded; those without a consensus
    first, the most discrepant first."""
    by_key: dict[tuple[int, int], list[tuple[Assignment, Rating]]] = defaultdict(list)
    for a, rating in progress.assignments(db, study):
        if rating is not None and rating.status == "submitted":
            by_key[(a.rating_unit_id, a.instrument_id)].append((a, rating))
    consensus = {(c.rating_unit_id, c.instrument_id): c
                 for c in db.scalars(scope.in_study(select(ConsensusRating), ConsensusRating, study))}
    definitions: dict[int, instruments.InstrumentDefinition] = {}
    out = []
    for (unit_id, instrument_id), pairs in by_key.items():
        if len({a.rater_id for a, _r in pairs}) < 2:
            continue
        a0 = pairs[0][0]
        if instrument_id not in definitions:
            definitions[instrument_id] = instruments.stored(a0.instrument)
        definition = definitions[instrument_id]
        differing = 0
        largest = 0.0
        for item in definition.items:
            values = [v for _a, r in pairs if isinstance(v := r.responses.get(item.id), (int, float))]
            if len(values) >= 2 and max(values) != min(values):
                differing += 1
                largest = max(largest, max(values) - min(values))
        session = a0.rating_unit.session
        out.append({"unit": a0.rating_unit, "instrument": a0.instrument, "dyad": session.dyad.code,
                    "session": session.number, "raters": sorted(a.rater.username for a, _r in pairs),
                    "items_differing": differing, "largest": largest,
                    "consensus": consensus.get((unit_id, instrument_id)), "ratings": pairs, "definition": definition})
    return sorted(out, key=lambda e: (e["consensus"] is not None, -e["largest"], -e["items_differing"],
                                      e["unit"].id))


def discrepancy(db: Session, study: Study, unit_id: int, instrument_id: int) -> dict[str, Any] | None:
    """The entry of ``discrepancies`` for one unit and instrument; None where the study has none."""
    return next((e for e in discrepancies(db, study)
                 if e["unit"].id == unit_id and e["instrument"].id == instrument_id), None)


def agreed(definition: instruments.InstrumentDefinition, ratings: list[Rating]) -> dict[str, Any]:
    """The responses every rater gave alike: each item scored the same by all, and under ``markers`` each
    marker answered the same by all (a salience or "absent"); what any rater left blank is not agreed."""
    out: dict[str, Any] = {}
    for item in definition.items:
        values = [r.responses.get(item.id) for r in ratings]
        if values and values[0] is not None and all(v == values[0] for v in values):
            out[item.id] = values[0]
    markers = {}
    answers = [marker_answers(definition, r.responses) for r in ratings]
    for marker in definition.markers:
        values = [a[marker.id] for a in answers]
        if values and values[0] is not None and all(v == values[0] for v in values):
            markers[marker.id] = values[0]
    if markers:
        out[MARKERS] = markers
    return out


def _tolerance(definition: instruments.InstrumentDefinition) -> float:
    return definition.events.tolerance_s if definition.events is not None else 5.0


def matching_events(definition: instruments.InstrumentDefinition, ratings: list[Rating]) -> set[tuple[int, str]]:
    """(rating id, event id) of the first rater's events that every other rater also placed: the same code,
    starting within the instrument's tolerance (each other event matched once)."""
    if len(ratings) < 2:
        return set()
    tolerance = _tolerance(definition)
    first, others = ratings[0], ratings[1:]
    used: set[tuple[int, str]] = set()
    out = set()
    for event in events_of(first.responses):
        found = []
        for other in others:
            match = next((e for e in events_of(other.responses)
                          if e.get("code") == event.get("code") and (other.id, e.get("id")) not in used
                          and abs(float(e.get("start") or 0) - float(event.get("start") or 0)) <= tolerance), None)
            if match is None:
                break
            found.append((other.id, match.get("id")))
        else:
            used.update(found)
            out.add((first.id, event.get("id")))
    return out


def kept_events(ratings: list[Rating], chosen: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """The raters' events the coordinator kept, as the consensus's events: sorted by start and numbered anew
    (``e1``, ``e2``, ...); the consensus names the ratings they came from."""
    by_key = {(r.id, e.get("id")): e for r in ratings for e in events_of(r.responses)}
    kept = sorted((by_key[k] for k in dict.fromkeys(chosen) if k in by_key), key=lambda e: e.get("start") or 0)
    return [{**event, "id": f"e{i}", "note": event.get("note") or ""} for i, event in enumerate(kept, start=1)]
