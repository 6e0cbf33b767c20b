"""A study with many submitted ratings, for the reliability report's tests and benchmark.

Scores follow the two-way model the statistics assume: each unit has a true alliance level per item,
each rater a bias, plus noise; rounded to the 1–7 scale. A share of unit–rater pairs is left unrated (the
double-coded-fraction design), and one rater drifts: their noise grows (by default fourfold) over the
study's 120 days.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from coder.study import instruments
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.db import Database
from coder.study.models import Assignment, Rating, RatingUnit, Recording
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study

from .rating_study import PASSWORD

START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)


@dataclass
class RatedStudy:
    study_id: int
    instrument_key: str
    keyed: dict[str, pd.DataFrame]  # item id -> units × raters keyed scores, as the report should see them
    unit_ids: list[int]
    raters: list[str]


def build_rated(database: Database, units: int = 24, raters: tuple[str, ...] = ("gold", "ana", "ben", "cem"),
                missing: float = 0.3, seed: int = 0, drifting: str | None = "cem", drift: float = 3.0,
                study_name: str = "Trial Q") -> RatedStudy:
    rng = np.random.default_rng(seed)
    definition = instruments.builtin("wai-o-s")
    items = definition.items
    with database.session() as db:
        study = get_or_create_study(db, study_name)
        row = instruments.store(db, definition)
        grant(db, study, create_user(db, "coord", PASSWORD, "coordinator", "Coordinator"), None)
        users = {name: create_user(db, name, PASSWORD, "rater", name.title()) for name in raters}
        db.flush()
        unit_ids = []
        for u in range(units):
            dyad = get_or_create_dyad(db, study, f"T{u // 4}", f"C{u // 4}", f"D{u // 4}")
            session = get_or_create_session(db, dyad, u % 4 + 1)
            rec = Recording(session_id=session.id, path=f"/nonexistent/{study_name}/{u}.wav", original_name=f"{u}.wav",
                            sha256=hashlib.sha256(f"{study_name}{u}".encode()).hexdigest(), size_bytes=1,
                            duration_s=3000.0, sample_rate=16000, channels=1, status="transcribed")
            db.add(rec)
            db.flush()
            unit = RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="whole_session", start_s=0.0,
                              end_s=3000.0, label="Whole session")
            db.add(unit)
            db.flush()
            unit_ids.append(unit.id)
        true = rng.normal(4.5, 1.0, (units, 1)) + rng.normal(0, 0.5, (units, len(items)))
        bias = {name: rng.normal(0, 0.3) for name in raters}
        rated = rng.random((units, len(raters))) >= missing
        rated[rated.sum(axis=1) < 2, :2] = True  # every unit double-coded at least
        keyed = {item.id: pd.DataFrame(np.nan, index=unit_ids, columns=list(raters)) for item in items}
        order = rng.permutation(units)  # units are rated in this order over 120 days
        for rank, u in enumerate(order):
            when = START + dt.timedelta(days=120 * rank / units, minutes=int(rng.integers(0, 600)))
            for j, name in enumerate(raters):
                if not rated[u, j]:
                    continue
                noise = 0.6 * (1 + drift * rank / units if name == drifting else 1)
                values = np.clip(np.round(true[u] + bias[name] + rng.normal(0, noise, len(items))), 1, 7)
                responses = {}
                for item, value in zip(items, values):
                    keyed[item.id].loc[unit_ids[u], name] = value
                    responses[item.id] = int(8 - value if item.reverse else value)
                a = Assignment(rater_id=users[name].id, rating_unit_id=unit_ids[u], instrument_id=row.id)
                db.add(a)
                db.flush()
                db.add(Rating(assignment_id=a.id, rater_id=users[name].id, responses=responses, status="submitted",
                              submitted_at=when, created_at=when, updated_at=when))
        db.flush()
        return RatedStudy(study.id, definition.id, keyed, unit_ids, list(raters))
