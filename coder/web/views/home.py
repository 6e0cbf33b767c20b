"""The start page: a coordinator's studies with their recordings, a transcriber's transcripts, or a rater's queue (nothing in it unblinds
them: see coder.rating.workspace)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from coder.rating import workspace
from coder.study import access
from coder.web.database import db_session

bp = Blueprint("home", __name__)

STATUSES = ("to do", "draft", "submitted")


@bp.route("/")
@login_required
def index():
    db = db_session()
    if current_user.role == "coordinator":
        return render_template("studies.html",
                               studies=access.visible_studies(db, current_user, with_recordings=True))
    if current_user.role == "transcriber":
        return redirect(url_for("transcripts.index"))
    entries = workspace.queue(db, current_user)
    counts = {status: sum(e.status == status for e in entries) for status in STATUSES}
    return render_template("queue.html", entries=entries, counts=counts)
