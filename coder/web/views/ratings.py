"""The coordinator's view of ratings: the list (all, drafts, submitted) in their studies, one rating with its
events, history and the unit's audio and transcript, and reopening a submitted rating for its rater."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.rating import workspace
from coder.study import access, audit
from coder.study.instruments import MARKERS, events_of
from coder.study.models import Rating
from coder.web import paging
from coder.web import unitplayer
from coder.web.database import db_session
from coder.web.guards import coordinated_row, coordinator_required

bp = Blueprint("ratings", __name__)

SPEEDS = (0.75, 1, 1.25, 1.5, 2)


@bp.route("/ratings")
@coordinator_required
def index():
    """The ratings of the coordinator's studies, newest first, a page at a time; filtered by status, study, rater
    and instrument in the query string."""
    args = request.args
    status = args.get("status") or None
    if status not in (None, "draft", "submitted"):
        abort(400)
    db = db_session()
    mine = access.study_ids(db, current_user)
    study_id, rater_id = args.get("study", type=int), args.get("rater", type=int)
    instrument = args.get("instrument") or None
    stmt = workspace.ratings_listed(status, study_ids=mine, study_id=study_id, rater_id=rater_id,
                                    instrument_key=instrument)
    page = paging.page_of(db, stmt)
    choices = workspace.rating_filter_choices(db, mine)
    return render_template("ratings.html", status=status, page=page, rows=workspace.rating_rows(page.items),
                           study_id=study_id, rater_id=rater_id, instrument=instrument, **choices)


@bp.route("/ratings/<int:rating_id>")
@coordinator_required
def detail(rating_id: int):
    db = db_session()
    rows = workspace.ratings_overview(db, rating_id=rating_id, study_ids=access.study_ids(db, current_user))
    row = next(iter(rows), None)
    if row is None:
        abort(404)
    instrument = workspace.definition(row.assignment)
    labels = {m.id: m.label for m in instrument.markers}
    events = [{**e, "label": labels.get(e.get("code"), e.get("code"))} for e in events_of(row.rating.responses)]
    return render_template("rating.html", row=row, instrument=instrument,
                           history=audit.history(db, "ratings", rating_id), markers_key=MARKERS, events=events,
                           player=unitplayer.data(row.assignment.rating_unit), speeds=SPEEDS)


@bp.route("/ratings/<int:rating_id>/reopen", methods=["POST"])
@coordinator_required
def reopen(rating_id: int):
    db = db_session()
    rating, _study = coordinated_row(Rating, rating_id)
    try:
        workspace.reopen(db, rating, current_user, request.form.get("reason", ""))
        db.commit()
        flash("The rating is open again for its rater.")
    except workspace.RatingError as exc:
        db.rollback()
        flash(f"Not reopened: {exc}", "error")
    return redirect(url_for("ratings.detail", rating_id=rating_id))
