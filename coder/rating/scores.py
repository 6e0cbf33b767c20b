"""A study's submitted ratings, scored: the table that reliability, calibration, the dashboard and the analysis
tables start from.

A *measure* is one figure a rating yields under its instrument's scoring rule: the total, each subscale, each
item (as keyed: reverse-keyed items reflected). ``ratings_table`` gives one row per live, submitted rating of
a study on one instrument version, with its unit, session, dyad, rater and submission time, and one column per
measure (``measures_of``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from coder.study import instruments, scope
from coder.study.instruments import InstrumentDefinition
from coder.study.models import Assignment, Instrument, Rating, RatingUnit, Study, TherapySession


class NoRatings(ValueError):
    """The study has no submitted ratings on the instrument (version) asked for; the message says which."""


@dataclass
class Measure:
    key: str  # total | subscale:<id> | item:<id>
    kind: str
    label: str


def prefix(key: str) -> str:
    """An instrument key as the stem of its variable names in the exports (``wai-o-s`` → ``wai_o_s``)."""
    return re.sub(r"[^0-9a-z]+", "_", key.lower()).strip("_") or "instrument"


def measures_of(definition: InstrumentDefinition) -> list[Measure]:
    out = []
    if definition.scoring.total and definition.items:
        out.append(Measure("total", "total", f"Total ({definition.scoring.method})"))
    for sub in definition.subscales:
        out.append(Measure(f"subscale:{sub.id}", "subscale", sub.name))
    for item in definition.items:
        out.append(Measure(f"item:{item.id}", "item", f"{item.id}. {item.label}" + (" (reversed)" if item.reverse
                                                                                     else "")))
    return out


def measure_values(definition: InstrumentDefinition, responses: dict[str, Any]) -> dict[str, float | None]:
    """One rating's value of every measure, under the keys of ``measures_of``: items keyed."""
    scores = instruments.score(definition, responses)
    return {"total": scores.total, **{f"subscale:{k}": v for k, v in scores.subscales.items()},
            **{f"item:{k}": v for k, v in scores.items.items()}}


def submitted_in(stmt: Select, study: Study) -> Select:
    """A statement over ratings restricted to the live, submitted ratings of the study."""
    return scope.in_study(stmt, Rating, study).where(Rating.status == "submitted")


def instruments_with_ratings(db: Session, study: Study) -> list[tuple[Instrument, int]]:
    """The instrument versions with submitted ratings in a study, and how many."""
    counts = dict(db.execute(submitted_in(select(Assignment.instrument_id, func.count(Rating.id)).select_from(Rating),
                                          study).group_by(Assignment.instrument_id)).all())
    rows = db.scalars(select(Instrument).where(Instrument.id.in_(counts))).all() if counts else []
    return sorted(((row, counts[row.id]) for row in rows), key=lambda x: (x[0].key, x[0].version))


def ratings_table(db: Session, study: Study, instrument_key: str,
                  version: str | None = None) -> tuple[InstrumentDefinition, pd.DataFrame]:
    """The submitted ratings of a study on one instrument version (by default the one with most ratings):
    one row per rating with unit, session, dyad, rater and submission time, and one column per measure."""
    versions = [(row, n) for row, n in instruments_with_ratings(db, study) if row.key == instrument_key]
    if version is not None:
        versions = [(row, n) for row, n in versions if row.version == version]
    if not versions:
        raise NoRatings(f"study {study.name!r} has no submitted ratings on {instrument_key}"
                        + (f" version {version}" if version else ""))
    row = max(versions, key=lambda x: (x[1], x[0].version))[0]
    definition = instruments.stored(row)
    stmt = (submitted_in(select(Rating), study).where(Assignment.instrument_id == row.id)
            .options(joinedload(Rating.assignment).joinedload(Assignment.rating_unit).joinedload(RatingUnit.session)
                     .joinedload(TherapySession.dyad), joinedload(Rating.rater)))
    records = []
    for rating in db.scalars(stmt).unique():
        unit = rating.assignment.rating_unit
        session = unit.session
        records.append({
            "rating_id": rating.id, "unit_id": unit.id, "unit": unit.label or f"Unit {unit.id}",
            "session_id": session.id, "session": session.number, "dyad": session.dyad.code,
            "rater": rating.rater.username, "submitted_at": rating.submitted_at,
            **measure_values(definition, rating.responses or {})})
    return definition, pd.DataFrame.from_records(records)
