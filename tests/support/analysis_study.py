"""Studies with known ratings for the aggregation and analysis tests.

``build_planned`` stores the ratings of a plan: (dyad, session, unit, rater, responses). A response of a
single number means every item of homework-engagement (0–4, no reverse-keyed items) gets that value, so
the total and every subscale equal it; a dict gives the items one by one.
"""
from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
from sqlalchemy import select

from coder.study import instruments
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.db import Database
from coder.study.models import Assignment, Rating, RatingUnit, Recording, Study, User
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study

from .rating_study import PASSWORD

KEY = "homework-engagement"
START = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)
ITEMS = [item.id for item in instruments.builtin(KEY).items]
COMPLETION = {item.id for item in instruments.builtin(KEY).items if item.subscale == "completion"}


def get_or_create_unit(db, study: Study, dyad_code: str, session_number: int, label: str, units: dict) -> RatingUnit:
    """The unit ``label`` of session ``session_number`` of dyad ``dyad_code`` (therapist T<n>, client C<n>), on a
    50-minute recording of its own, made on first use and kept in ``units`` by (dyad, session, label)."""
    if (dyad_code, session_number, label) in units:
        return units[(dyad_code, session_number, label)]
    n = dyad_code[1:]
    dyad = get_or_create_dyad(db, study, f"T{n}", f"C{n}", dyad_code)
    session = get_or_create_session(db, dyad, session_number, time_point=f"week {session_number * 2}")
    path = f"{study.name}/{dyad_code}/{session_number}/{label}"
    rec = Recording(session_id=session.id, path=f"/nonexistent/{path}.wav", original_name=f"{label}.wav",
                    sha256=hashlib.sha256(path.encode()).hexdigest(), size_bytes=1, duration_s=3000.0,
                    sample_rate=16000, channels=1, status="transcribed")
    db.add(rec)
    db.flush()
    start = 600.0 * (ord(label[-1]) % 5)
    unit = RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="custom", start_s=start,
                      end_s=start + 600.0, label=label)
    db.add(unit)
    db.flush()
    units[(dyad_code, session_number, label)] = unit
    return unit


def responses_for(definition, value) -> dict:
    if isinstance(value, dict):
        return dict(value)
    return {item.id: value for item in definition.items}


def build_planned(database: Database, plan: list[tuple], study_name: str = "Trial A",
                  extra_dyads: tuple[str, ...] = (), empty_sessions: tuple[tuple[str, int], ...] = (),
                  with_ratings: bool = True) -> dict:
    """Store the plan's ratings; returns {(dyad, session, unit): unit id} and the rating ids by
    (dyad, session, unit, rater). Without ``with_ratings`` only the units and the rater accounts."""
    definition = instruments.builtin(KEY)
    units: dict = {}
    ratings: dict = {}
    with database.session() as db:
        study = get_or_create_study(db, study_name)
        row = instruments.store(db, definition)
        coord = db.scalar(select(User).where(User.username == "coord")) \
            or create_user(db, "coord", PASSWORD, "coordinator", "Coordinator")
        grant(db, study, coord, None)
        users = {u.username: u for u in db.scalars(select(User))}
        for k, (dyad_code, session_number, label, rater, value) in enumerate(plan):
            unit = get_or_create_unit(db, study, dyad_code, session_number, label, units)
            if rater not in users:
                users[rater] = create_user(db, rater, PASSWORD, "rater", rater.title())
                db.flush()
            if not with_ratings:
                continue
            a = Assignment(rater_id=users[rater].id, rating_unit_id=unit.id, instrument_id=row.id)
            db.add(a)
            db.flush()
            when = START + dt.timedelta(hours=k)
            rating = Rating(assignment_id=a.id, rater_id=users[rater].id, responses=responses_for(definition, value),
                            status="submitted", submitted_at=when, created_at=when, updated_at=when)
            db.add(rating)
            db.flush()
            ratings[(dyad_code, session_number, label, rater)] = rating.id
        for code in extra_dyads:
            get_or_create_dyad(db, study, f"T{code[1:]}", f"C{code[1:]}", code)
        for code, number in empty_sessions:
            get_or_create_unit(db, study, code, number, "unrated", units)
        return {"units": {k: u.id for k, u in units.items()}, "ratings": ratings, "study_id": study.id,
                "instrument_id": row.id}


def build_trial(database: Database, dyads: int = 30, sessions: int = 5, seed: int = 3,
                study_name: str = "Trial S") -> dict:
    """A simulated trial: per dyad a homework-engagement level that drifts over sessions, item scores
    around it, two raters per session (the second missing at random), some sessions unrated, and client
    outcomes that depend on engagement and age. Returns the clients'
    variables as written to CSV rows."""
    rng = np.random.default_rng(seed)
    plan = []
    level = {}
    for d in range(1, dyads + 1):
        base = rng.normal(2.0, 0.6)
        trend = rng.normal(0.1, 0.1)
        level[f"D{d}"] = base
        # the dyad's own offset on the completion items: completion varies between dyads beyond engagement
        offset = np.array([rng.normal(0, 0.5) if item in COMPLETION else 0.0 for item in ITEMS])
        for s in range(1, sessions + 1):
            if rng.random() < 0.15 and s > 1:
                continue  # a session not rated
            true = base + trend * s
            for rater in ("ana", "ben"):
                if rater == "ben" and rng.random() < 0.4:
                    continue
                values = np.clip(np.round(true + offset + rng.normal(0, 0.5) + rng.normal(0, 0.7, len(ITEMS))), 0, 4)
                plan.append((f"D{d}", s, "Whole session", rater, dict(zip(ITEMS, values.astype(int).tolist()))))
    build_planned(database, plan, study_name=study_name)
    rows = []
    for d in range(1, dyads + 1):
        pre = float(np.round(rng.normal(11, 3)))
        age = float(rng.integers(19, 65))
        post = float(np.round(pre * 0.6 + 2 - 1.5 * level[f"D{d}"] + 0.03 * age + rng.normal(0, 1.5)))
        rows.append({"client": f"C{d}", "hads_anx_pre": pre, "hads_anx_post": post, "age": age,
                     "sex": "f" if rng.random() < 0.5 else "m"})
    return {"clients": rows, "plan": plan}


def study_of(db, name: str) -> Study:
    return db.scalar(select(Study).where(Study.name == name))


def run_in_browser(page, study_name: str, outcomes_csv, title: str = "", session_model: bool = False) -> None:
    """As the logged-in coordinator: open the study's analysis page, upload the outcomes, fill in the
    anxiety change model on homework engagement (with age, and a session-level model if asked) and run it."""
    page.click("text=Analysis")
    page.click(f"text={study_name}")
    page.set_input_files("#outcomes-form input[type=file]", str(outcomes_csv))
    page.click("#outcomes-form button")
    page.wait_for_selector("#variables")
    page.fill("input[name=title]", title)
    page.fill("input[name=name0]", "anxiety")
    page.select_option("select[name=pre0]", "hads_anx_pre")
    page.select_option("select[name=post0]", "hads_anx_post")
    page.check("input[name=predictors][value=homework_engagement_total]")
    page.check("input[name=covariates][value=age]")
    if session_model:
        page.check("input[name=session_outcomes][value=homework_engagement_completion]")
        page.check("input[name=session_predictors][value=homework_engagement_determinants]")
    page.click("#analysis-form button[type=submit]")
    page.wait_for_selector("#reproduced")
