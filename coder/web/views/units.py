"""Rating units: cutting the chosen recordings into units for named instruments, marking calibration units,
deleting units nobody has rated, and a unit's audio for the coordinator's pages (consensus, a rating)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, request
from flask_login import current_user

from coder.pipeline import playback
from coder.pipeline.audio import AudioError
from coder.study import instruments, tree, units
from coder.study.models import RatingUnit
from coder.web import forms, wav
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
    stored = {i.key: i for i in instruments.newest(db)}
    if set(keys) - set(stored):
        abort(400)
    try:
        minutes = float(form["minutes"]) if form.get("minutes") else None
        context = float(form.get("context") or 120)
    except ValueError:
        flash("Minutes and context must be numbers.", "error")
        return forms.back_to_study(study, "units")
    try:
        units.check_for(form.get("how", "whole"), minutes, [instruments.stored(stored[k]) for k in keys])
    except units.UnitError as exc:
        flash(f"No units added: {exc}.", "error")
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
    """Mark or unmark a calibration unit, or delete a unit nobody has rated."""
    db = db_session()
    unit, study = coordinated_row(RatingUnit, unit_id)
    action = request.form.get("action")
    if action == "delete":
        try:
            withdrawn = units.delete(db, unit, current_user, forms.reason())
        except units.UnitError as exc:
            flash(f"Not deleted: {exc}.", "error")
            return forms.back_to_study(study, "units")
        flash(f"Unit {unit.id} deleted" + (f"; {withdrawn} unrated assignment(s) withdrawn" if withdrawn else "")
              + ".")
    elif action == "calibration":
        now = units.toggle_calibration(db, unit, current_user, forms.reason())
        flash(f"Unit {unit.id} is {'now' if now else 'no longer'} a calibration unit.")
    else:
        abort(400)
    db.commit()
    return forms.back_to_study(study, "units")


@bp.route("/units/<int:unit_id>/audio")
@coordinator_required
def audio(unit_id: int):
    """The unit's stretch of the recording as a WAV with byte ranges, unmasked (as on the transcript editor:
    de-identification masks raters' audio, not the coordinator's)."""
    unit, _study = coordinated_row(RatingUnit, unit_id)
    recording = unit.recording
    if recording is None:
        abort(404)
    try:
        copy = playback.prepare(recording.path, recording.sha256, current_app.extensions["coder.settings"].playback_dir)
        clip = playback.clip(copy, unit.start_s, unit.end_s)
    except (AudioError, OSError):
        abort(404)
    return wav.response(clip)
