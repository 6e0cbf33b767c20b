"""A study's progress dashboard: work per rater and instrument, overdue assignments, processing, current
reliability, and raters flagged by calibration."""
from __future__ import annotations

from flask import Blueprint, render_template

from coder.rating import progress
from coder.study.models import utcnow
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

bp = Blueprint("dashboard", __name__)


@bp.route("/studies/<int:study_id>/dashboard")
@coordinator_required
def page(study_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    return render_template("dashboard.html", study=study, now=utcnow(), overview=progress.overview(db, study))
