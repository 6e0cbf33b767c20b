"""Consensus ratings: what raters agreed on after discussing their discrepant ratings of a unit.

A consensus rating is stored beside the independent ratings and never replaces them. It names the
independent ratings that were discussed (submitted ratings of the same unit and instrument, at least
two), who recorded it and why. Recording it again for the same unit and instrument updates it; every
change goes to the audit trail. Reliability statistics use only independent ratings; aggregation
(``coder.aggregate``, unit rule ``consensus``) uses the consensus where one exists.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from coder.study import instruments
from coder.study.models import Assignment, ConsensusRating, Instrument, Rating, RatingUnit, User
from coder.study.tree import audit


class ConsensusError(ValueError):
    """The consensus cannot be recorded; the message says why."""


def record(db, unit: RatingUnit, instrument_row: Instrument, responses: dict[str, Any], recorder: User,
           rating_ids: list[int], note: str = "") -> ConsensusRating:
    """Record (or update) the consensus of ``rating_ids`` on ``unit``; the scores are checked like a
    submitted rating's."""
    definition = instruments.stored(instrument_row)
    problems = instruments.check_responses(definition, responses, submit=True)
    if problems:
        raise ConsensusError("; ".join(problems))
    ratings = db.scalars(select(Rating).join(Assignment, Rating.assignment_id == Assignment.id)
                         .where(Rating.id.in_(rating_ids), Assignment.rating_unit_id == unit.id,
                                Assignment.instrument_id == instrument_row.id, Rating.status == "submitted",
                                Rating.deleted_at.is_(None))).all()
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
                                   scores=dict(responses), rating_ids=sorted(found), note=note)
        db.add(existing)
        db.flush()
        audit(db, "record_consensus", existing, recorder, unit=unit.id, ratings=sorted(found), note=note)
    else:
        before = dict(existing.scores)
        existing.scores, existing.rating_ids, existing.note = dict(responses), sorted(found), note
        existing.recorded_by, existing.deleted_at = recorder.id, None
        audit(db, "update_consensus", existing, recorder, unit=unit.id, before=before, after=dict(responses),
              note=note)
    db.flush()
    return existing
