"""Rating units: cutting the chosen recordings into units, and marking calibration units."""
from __future__ import annotations

from flask import Blueprint, abort, flash, request
from flask_login import current_user

from coder.study import instruments, tree, units
from coder.study.models import RatingUnit
from coder.web import forms
from coder.web.database import db_session
from coder.web.guards import coordinated_row, coordinated_study, coordinator_required

bp = Blueprint("units", __name__)


@bp.route("/studies/<int:study_id>/units", methods=["POST"])
@coordinator_required
def add(study_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    form = request.form
    chosen = tree.recordings(db, study, forms.chosen_recording_ids())
    if not chosen:
        flash("Choose the recordings to cut into units.", "error")
        return forms.back_to_study(study, "units")
    keys = [k for k in form.getlist("instrument") if k]
    if set(keys) - {i.key for i in instruments.newest(db)}:
        abort(400)
    try:
        minutes = float(form["minutes"]) if form.get("minutes") else None
        context = float(form.get("context") or 120)
    except ValueError:
        flash("Minutes and context must be numbers.", "error")
        return forms.back_to_study(study, "units")
    made, skipped = units.cut(db, chosen, form.get("how", "whole"), minutes, form.get("pattern", "").strip() or None,
                              context, current_user, keys, calibration=bool(form.get("calibration")))
    db.commit()
    flash(f"{made} rating unit(s) added" + (f" for {', '.join(keys)}" if keys else "") + "."
          + (" Skipped: " + "; ".join(skipped) if skipped else ""), "error" if skipped else "message")
    return forms.back_to_study(study, "units")


@bp.route("/units/<int:unit_id>", methods=["POST"])
@coordinator_required
def edit(unit_id: int):
    """Mark or unmark a calibration unit."""
    db = db_session()
    unit, study = coordinated_row(RatingUnit, unit_id)
    if request.form.get("action") != "calibration":
        abort(400)
    now = units.toggle_calibration(db, unit, current_user, forms.reason())
    flash(f"Unit {unit.id} is {'now' if now else 'no longer'} a calibration unit.")
    db.commit()
    return forms.back_to_study(study, "units")
