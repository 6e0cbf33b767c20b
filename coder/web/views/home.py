"""The start page: a coordinator's studies, a transcriber's transcripts, or a rater's queue (nothing in it unblinds
them: see coder.rating.workspace), filtered by instrument and status in the query string and a page at a time."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from coder.rating import workspace
from coder.study import access
from coder.web import paging
from coder.web.database import db_session

bp = Blueprint("home", __name__)

STATUS_ARGS = {"to-do": "to do", "draft": "draft", "submitted": "submitted"}  # query string → status
QUEUE_PAGE = 50
STUDIES_PAGE = 20


@bp.route("/")
@login_required
def index():
    db = db_session()
    if current_user.role == "coordinator":
        q = request.args.get("q", "").strip()
        page = paging.page_of(db, access.studies_listed(current_user, q or None), size=STUDIES_PAGE)
        return render_template("studies.html", page=page, q=q,
                               counts=access.study_counts(db, [s.id for s in page.items]))
    if current_user.role == "transcriber":
        return redirect(url_for("transcripts.index"))
    status_arg = request.args.get("status") or None
    if status_arg is not None and status_arg not in STATUS_ARGS:
        abort(400)
    instrument = request.args.get("instrument") or None
    found = workspace.filtered_queue(db, current_user, instrument, STATUS_ARGS.get(status_arg or ""))
    number = paging.number_asked()
    pages = max(1, -(-len(found.entries) // QUEUE_PAGE))
    number = min(number, pages)
    page = paging.Page(number, QUEUE_PAGE, len(found.entries),
                       found.entries[(number - 1) * QUEUE_PAGE:number * QUEUE_PAGE])
    return render_template("queue.html", queue=found, page=page, status=status_arg, instrument=instrument,
                           status_args={v: k for k, v in STATUS_ARGS.items()})
