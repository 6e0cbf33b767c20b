"""The coordinator's progress dashboard: work per rater and instrument, overdue assignments, processing, the
current reliability of each instrument (from coder.stats.reliability) and the calibration flags."""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from coder.rating import calibration
from coder.rating.scores import NoRatings, instruments_with_ratings, measures_of, ratings_table
from coder.stats import reliability as rel
from coder.study import scope
from coder.study.models import (Assignment, Instrument, Rating, RatingUnit, Recording, Study, TherapySession, User,
                                utcnow)


def assignments(db: Session, study: Study) -> list[tuple[Assignment, Rating | None]]:
    """The study's live assignments with their live ratings."""
    stmt = (scope.in_study(select(Assignment, Rating)
                           .outerjoin(Rating, (Rating.assignment_id == Assignment.id) & Rating.live), Assignment, study)
            .options(joinedload(Assignment.rater), joinedload(Assignment.instrument),
                     joinedload(Assignment.rating_unit).joinedload(RatingUnit.session).joinedload(TherapySession.dyad))
            .order_by(Assignment.id))
    return list(db.execute(stmt).unique().all())


def status_of(rating: Rating | None) -> str:
    return rating.status if rating is not None else "to do"


def work(db: Session, study: Study, now: dt.datetime | None = None) -> dict[str, Any]:
    """Counts per (rater, instrument): assigned, to do, draft, submitted, overdue; and the overdue list."""
    now = now or utcnow()
    rows: dict[tuple[str, str], Counter] = defaultdict(Counter)
    overdue = []
    for a, rating in assignments(db, study):
        status = status_of(rating)
        key = (a.rater.username, a.instrument.key)
        rows[key]["assigned"] += 1
        rows[key][status] += 1
        due = a.due_at
        if due is not None and due < now and status != "submitted":
            rows[key]["overdue"] += 1
            session = a.rating_unit.session
            overdue.append({"assignment": a.id, "rater": a.rater.username, "active": a.rater.active,
                            "instrument": a.instrument.key, "dyad": session.dyad.code, "session": session.number,
                            "unit": a.rating_unit.label or f"Unit {a.rating_unit.id}", "due": due,
                            "status": status, "days_over": (now - due).days})
    table = [{"rater": r, "instrument": i, **{k: c[k] for k in ("assigned", "to do", "draft", "submitted",
                                                                "overdue")},
              "done": c["submitted"] / c["assigned"] if c["assigned"] else 0.0}
             for (r, i), c in sorted(rows.items())]
    totals = Counter()
    for row in table:
        for k in ("assigned", "to do", "draft", "submitted", "overdue"):
            totals[k] += row[k]
    return {"rows": table, "overdue": sorted(overdue, key=lambda o: o["due"]), "totals": dict(totals)}


def overview(db: Session, study: Study, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows (and ``coder progress --json`` prints): the recordings by status, the work
    per rater and instrument with its totals, the overdue assignments, the current reliability per instrument,
    and the raters calibration flags."""
    done = work(db, study, now)
    return {"study": study.name, "processing": processing(db, study), "work": done["rows"], "totals": done["totals"],
            "overdue": done["overdue"], "reliability": reliability(db, study),
            "calibration_flags": calibration.flags(db, study, instrument_keys(db, study))}


def processing(db: Session, study: Study) -> dict[str, int]:
    return dict(Counter(db.scalars(scope.in_study(select(Recording.status), Recording, study))))


def reliability(db: Session, study: Study) -> list[dict[str, Any]]:
    """Per instrument with submitted ratings: ICC(A,1) and ICC(C,1) with 95 % intervals and Krippendorff's
    alpha (interval) of the first measure (the total where the instrument has one), over the units rated by
    two or more raters."""
    out = []
    for row, n in instruments_with_ratings(db, study):
        try:
            definition, table = ratings_table(db, study, row.key, row.version)
        except NoRatings:
            continue
        measure = measures_of(definition)[0]
        entry: dict[str, Any] = {"instrument": row.key, "version": row.version, "name": definition.name,
                                 "measure": measure.label, "ratings": n}
        data = table[["unit_id", "rater", measure.key]].dropna()
        matrix = data.pivot_table(index="unit_id", columns="rater", values=measure.key, aggfunc="first")
        multi = matrix[matrix.notna().sum(axis=1) >= 2]
        entry["units"] = int(len(multi))
        entry["raters"] = int(matrix.shape[1])
        try:
            summary = rel.icc_summary(multi.astype(float))
            entry["icc"] = {form: (summary.get("icc") or {}).get(form) for form in ("ICC(A,1)", "ICC(C,1)")}
            entry["design"] = summary.get("design")
            if summary.get("icc_reason"):
                entry["note"] = summary["icc_reason"]
            entry["alpha"] = rel.krippendorff_alpha(multi.astype(float)) if len(multi) >= 2 else None
        except (rel.ReliabilityError, ValueError) as exc:
            entry["note"] = str(exc)
        if len(multi) < 2:
            entry["note"] = "fewer than two units rated by two or more raters"
        out.append(entry)
    return out


def raters_workload(db: Session, study_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
    """Every rater's open and finished assignments in the given studies (by default in all)."""
    counts: dict[int, Counter] = defaultdict(Counter)
    now = utcnow()
    stmt = (select(Assignment.rater_id, Rating.status, Assignment.due_at)
            .outerjoin(Rating, (Rating.assignment_id == Assignment.id) & Rating.live))
    stmt = scope.in_study(stmt, Assignment, study_ids)
    for rater_id, status, due in db.execute(stmt):
        c = counts[rater_id]
        c["assigned"] += 1
        c[status or "to do"] += 1
        if due is not None and due < now and status != "submitted":
            c["overdue"] += 1
    out = []
    for user in db.scalars(select(User).where(User.role == "rater").order_by(User.active.desc(), User.username)):
        c = counts[user.id]
        out.append({"user": user, **{k: c[k] for k in ("assigned", "to do", "draft", "submitted", "overdue")}})
    return out


def instrument_keys(db: Session, study: Study) -> list[str]:
    """The keys of the instruments the study assigns (else of every stored instrument)."""
    assigned = (select(Instrument.key).distinct().select_from(Assignment)
                .join(Instrument, Assignment.instrument_id == Instrument.id))
    keys = db.scalars(scope.in_study(assigned, Assignment, study)).all()
    stored = db.scalars(select(Instrument.key).where(Instrument.live))
    return sorted(keys) or sorted(set(stored))
