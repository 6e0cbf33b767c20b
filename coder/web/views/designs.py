"""Assignment designs: assigning a study's rating units to raters by a crossed, overlap or calibration design
(coder.rating.designs)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, request
from flask_login import current_user

from coder.rating import designs
from coder.study import instruments
from coder.study.models import AssignmentDesign
from coder.web import forms
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

bp = Blueprint("designs", __name__)


def _summary(design: AssignmentDesign) -> str:
    summ = design.summary
    return (f"Design {design.id} ({design.kind}, seed {design.seed}): {summ['added']} assignment(s) over "
            f"{summ['units']} unit(s), {summ['multiply_coded']} coded by more than one rater; per rater "
            + ", ".join(f"{r} {n}" for r, n in summ["per_rater"].items()) + ".")


@bp.route("/studies/<int:study_id>/designs", methods=["POST"])
@coordinator_required
def create(study_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    form = request.form
    instrument = instruments.find(db, form.get("instrument") or "")
    if instrument is None:
        flash("Choose an instrument.", "error")
        return forms.back_to_study(study, "assign")
    try:
        overlap = float(form.get("overlap") or 0) / 100
        coders = int(form.get("coders") or 2)
        seed = int(form.get("seed") or 0)
        due = designs.due_end_of(dt.date.fromisoformat(form["due"])) if form.get("due") else None
    except ValueError:
        flash("The fraction, raters per unit and seed must be numbers, and the due date YYYY-MM-DD.", "error")
        return forms.back_to_study(study, "assign")
    try:
        design = designs.create(db, study, instrument, form.get("kind", "overlap"), form.getlist("rater"),
                                current_user, overlap=overlap, coders=coders, seed=seed, due=due,
                                reason=forms.reason())
        db.commit()
        flash(_summary(design))
    except designs.DesignError as exc:
        db.rollback()
        flash(f"No assignments made: {exc}", "error")
    return forms.back_to_study(study, "assign")
