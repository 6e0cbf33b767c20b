"""A study's calibration: each rater's agreement with the master rater on calibration units, and the settings
(statistic, threshold, window, master) that flag raters (coder.rating.calibration)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.rating import calibration, designs, progress
from coder.study import accounts
from coder.study.models import Study
from coder.web import forms
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

bp = Blueprint("calibration", __name__)


def _save(db, study: Study):
    form = request.form
    try:
        calibration.save_settings(db, study, current_user, form.get("statistic", "within_one"),
                                  float(form.get("threshold", 0.8)), int(form.get("window", 5)),
                                  form.get("master", "").strip(), forms.reason())
    except (ValueError, calibration.CalibrationError) as exc:
        db.rollback()
        flash(f"Not saved: {exc}", "error")
        return redirect(url_for("calibration.page", study_id=study.id))
    db.commit()
    flash("Calibration settings saved.")
    return redirect(url_for("calibration.page", study_id=study.id))


@bp.route("/studies/<int:study_id>/calibration", methods=["GET", "POST"])
@coordinator_required
def page(study_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    if request.method == "POST":
        return _save(db, study)
    reports = [calibration.agreement(db, study, key) for key in progress.instrument_keys(db, study)]
    return render_template("calibration.html", study=study, reports=reports, conf=calibration.settings_of(study),
                           master=calibration.master_of(study), raters=accounts.users(db, "rater"),
                           n_units=len(designs.study_units(db, study, calibration=True)),
                           statistics=calibration.STATISTICS)
