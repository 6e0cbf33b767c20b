"""The rater's workspace: the rating page, its audio, autosave and submit; coordinators' view of ratings.

Every rater route looks the assignment up among the logged-in rater's own
(``rating.assignment_for``) and answers 404 for any other id, so that
nobody learns which units exist, let alone hears or reads them.
"""
from __future__ import annotations

from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request,
                   url_for)
from flask_login import current_user, login_required
from sqlalchemy import select

from coder.study import access
from coder.pipeline import playback
from coder.rating import workspace as ratings
from coder.web.database import db_session
from coder.pipeline.audio import AudioError
from coder.study.instruments import MARKERS
from coder.study.models import AuditEvent, Rating
from coder.web.views import check_row, coordinator_required

bp = Blueprint("rate", __name__)

SPEEDS = (0.75, 1, 1.25, 1.5, 1.75, 2)


def _own_assignment(assignment_id: int, load: bool = True):
    if current_user.role != "rater":
        abort(404)
    assignment = ratings.assignment_for(db_session(), current_user, assignment_id, load)
    if assignment is None:
        abort(404)
    return assignment


def _listening_copy(assignment) -> playback.ListeningCopy:
    recording = assignment.rating_unit.recording
    return playback.prepare(recording.path, recording.sha256, current_app.extensions["coder.settings"].playback_dir)


def _scale_view(scale, item_anchors=None) -> list[dict]:
    anchors = {**scale.anchors, **(item_anchors or {})}
    return [{"value": _plain(p), "anchor": anchors.get(p, "")} for p in scale.points]


def _plain(x: float):
    return int(x) if float(x).is_integer() else x


@bp.route("/rate/<int:assignment_id>")
@login_required
def page(assignment_id: int):
    db = db_session()
    assignment = _own_assignment(assignment_id)
    instrument = ratings.definition(assignment)
    stored = db.scalar(select(Rating).where(Rating.assignment_id == assignment.id))
    waveform, audio_error = [], None
    unit = assignment.rating_unit
    try:
        waveform = playback.waveform(_listening_copy(assignment), unit.start_s, unit.end_s)
    except (AudioError, OSError) as exc:
        audio_error = f"The recording cannot be played: {exc}"
    items = [{"id": item.id, "label": item.label, "description": item.description,
              "subscale": item.subscale, "required": item.required,
              "points": _scale_view(instrument.scale_of(item), item.anchors)} for item in instrument.items]
    markers = [{"id": m.id, "label": m.label, "kind": m.kind, "description": m.description}
               for m in instrument.markers]
    subscales = {s.id: s.name for s in instrument.subscales}
    salience = _scale_view(instrument.salience) if instrument.salience else []
    data = {
        "assignment": assignment.id,
        "user": current_user.id,
        "duration": round(unit.end_s - unit.start_s, 3),
        "rating": ratings.state(stored),
        "items": [{"id": i["id"], "values": [p["value"] for p in i["points"]], "required": i["required"]}
                  for i in items],
        "markers": [m["id"] for m in markers],
        "salience": [p["value"] for p in salience],
        "transcript": ratings.transcript_excerpt(assignment),
        "waveform": waveform,
        "urls": {"save": url_for("rate.save", assignment_id=assignment.id),
                 "submit": url_for("rate.submit", assignment_id=assignment.id),
                 "session": url_for("rate.session_token"), "queue": url_for("views.index")},
    }
    others = ratings.other_ratings(db, assignment, stored)
    return render_template("rate.html", assignment=assignment, unit=ratings.unit_view(assignment),
                           instrument=instrument, items=items, markers=markers, subscales=subscales,
                           salience=salience,
                           data=data, rating=stored, audio_error=audio_error, speeds=SPEEDS, others=others,
                           markers_key=MARKERS)


@bp.route("/rate/<int:assignment_id>/audio")
@login_required
def audio(assignment_id: int):
    """The unit's audio as a WAV, with byte ranges (206) so that playback starts and seeks at once."""
    assignment = _own_assignment(assignment_id)
    unit = assignment.rating_unit
    try:
        clip = playback.clip(_listening_copy(assignment), unit.start_s, unit.end_s)
    except (AudioError, OSError):
        abort(404)
    headers = {"Accept-Ranges": "bytes", "Content-Type": "audio/wav", "Cache-Control": "private, no-store"}
    start, stop, status = 0, clip.length, 200
    if request.range is not None:
        span = request.range.range_for_length(clip.length)
        if span is None:
            return Response(status=416, headers={**headers, "Content-Range": f"bytes */{clip.length}"})
        start, stop, status = span[0], span[1], 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{clip.length}"
    headers["Content-Length"] = str(stop - start)
    if request.method == "HEAD":
        return Response(status=status, headers=headers)
    return Response(clip.read(start, stop), status=status, headers=headers, direct_passthrough=True)


@bp.route("/session")
@login_required
def session_token():
    """A fresh CSRF token for a page whose own went stale (after logging in again in another tab)."""
    from flask_wtf.csrf import generate_csrf

    return jsonify({"user": current_user.id, "csrf": generate_csrf()})


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(Response('{"error": "expected a JSON object"}', 400, mimetype="application/json"))
    return body


def _answer(rating) -> Response:
    return jsonify({"ok": True, **ratings.state(rating)})


def _refusal(exc: ratings.RatingError) -> tuple[Response, int]:
    body = {"ok": False, "error": str(exc), "problems": exc.problems}
    if exc.rating is not None:
        body["current"] = ratings.state(exc.rating)
    return jsonify(body), exc.status


def _write(assignment_id: int, submit: bool):
    db = db_session()
    assignment = _own_assignment(assignment_id, load=False)
    body = _json_body()
    action = ratings.submit if submit else ratings.save_draft
    try:
        with current_app.extensions["coder.db"].writing():
            try:
                saved = action(db, assignment, current_user, body.get("scores"), body.get("notes"),
                               body.get("revision"))
                db.commit()
            except BaseException:
                db.rollback()
                raise
        return _answer(saved)
    except ratings.RatingError as exc:
        return _refusal(exc)


@bp.route("/rate/<int:assignment_id>/save", methods=["POST"])
@login_required
def save(assignment_id: int):
    return _write(assignment_id, submit=False)


@bp.route("/rate/<int:assignment_id>/submit", methods=["POST"])
@login_required
def submit(assignment_id: int):
    return _write(assignment_id, submit=True)


# --- coordinators ---------------------------------------------------------------------------------------

@bp.route("/ratings")
@coordinator_required
def overview():
    status = request.args.get("status") or None
    if status not in (None, "draft", "submitted"):
        abort(400)
    db = db_session()
    return render_template("ratings.html", status=status,
                           rows=ratings.ratings_overview(db, status, study_ids=access.study_ids(db, current_user)))


@bp.route("/ratings/<int:rating_id>")
@coordinator_required
def detail(rating_id: int):
    db = db_session()
    row = next(iter(ratings.ratings_overview(db, rating_id=rating_id, study_ids=access.study_ids(db, current_user))),
               None)
    if row is None:
        abort(404)
    instrument = ratings.definition(row.assignment)
    history = db.scalars(select(AuditEvent).where(AuditEvent.entity == "ratings", AuditEvent.entity_id == rating_id)
                         .order_by(AuditEvent.at, AuditEvent.id)).all()
    return render_template("rating.html", row=row, instrument=instrument, history=history, markers_key=MARKERS)


@bp.route("/ratings/<int:rating_id>/reopen", methods=["POST"])
@coordinator_required
def reopen(rating_id: int):
    db = db_session()
    rating = db.get(Rating, rating_id)
    if rating is None or not rating.live:
        abort(404)
    check_row(rating)
    try:
        ratings.reopen(db, rating, current_user, request.form.get("reason", ""))
        db.commit()
        flash("The rating is open again for its rater.")
    except ratings.RatingError as exc:
        db.rollback()
        flash(f"Not reopened: {exc}", "error")
    return redirect(url_for("rate.detail", rating_id=rating_id))
