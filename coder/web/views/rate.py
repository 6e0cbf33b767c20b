"""The rater's workspace: the rating page, its audio, autosave and submit, and a fresh CSRF token for a page
whose own went stale.

Every rater route looks the assignment up among the logged-in rater's own
(``guards.own_assignment``, over ``rating.workspace.assignment_for``) and answers 404 for any other id,
so that nobody learns which units exist, let alone hears or reads them.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from coder.pipeline import playback
from coder.pipeline.audio import AudioError
from coder.rating import workspace
from coder.study.deidentification import DeidError
from coder.study.instruments import MARKERS, InstrumentDefinition
from coder.study.models import Assignment, Rating
from coder.web import jsonapi, wav
from coder.web.database import db_session
from coder.web.guards import own_assignment

bp = Blueprint("rate", __name__)

SPEEDS = (0.75, 1, 1.25, 1.5, 1.75, 2)


def _listening_copy(assignment: Assignment) -> playback.ListeningCopy:
    """The rater's listening copy: the recording's, or its masked copy where the study de-identifies raters'
    audio (none at all, AudioError, where the recording's de-identification has not been applied)."""
    recording = assignment.rating_unit.recording
    if recording is None:
        raise AudioError("the session has no recording (it was rated on paper)")
    try:
        mask = workspace.audio_mask(assignment)
    except DeidError as exc:
        raise AudioError(str(exc)) from None
    copy = playback.prepare(recording.path, recording.sha256, current_app.extensions["coder.settings"].playback_dir)
    return copy if mask is None else playback.masked(copy, mask.mode, mask.spans)


def _plain(x: float):
    return int(x) if float(x).is_integer() else x


def _scale_view(scale, item_anchors=None) -> list[dict]:
    anchors = {**scale.anchors, **(item_anchors or {})}
    return [{"value": _plain(p), "anchor": anchors.get(p, "")} for p in scale.points]


def _items(instrument: InstrumentDefinition) -> list[dict[str, Any]]:
    return [{"id": item.id, "label": item.label, "description": item.description,
             "subscale": item.subscale, "required": item.required,
             "points": _scale_view(instrument.scale_of(item), item.anchors)} for item in instrument.items]


def _waveform(assignment: Assignment) -> tuple[list, str | None]:
    """The unit's waveform for the player, or why the recording cannot be played."""
    unit = assignment.rating_unit
    try:
        return playback.waveform(_listening_copy(assignment), unit.start_s, unit.end_s), None
    except (AudioError, OSError) as exc:
        return [], f"The recording cannot be played: {exc}"


def _page_data(assignment: Assignment, stored: Rating | None, items: list[dict], markers: list[dict],
               salience: list[dict], waveform: list, instrument: InstrumentDefinition) -> dict[str, Any]:
    """What the page's script needs: the unit, the scales, the stored rating and the URLs it calls."""
    unit = assignment.rating_unit
    return {
        "assignment": assignment.id,
        "user": current_user.id,
        "duration": round(unit.end_s - unit.start_s, 3),
        "rating": workspace.state(stored),
        "items": [{"id": i["id"], "values": [p["value"] for p in i["points"]], "required": i["required"]}
                  for i in items],
        "markers": [m["id"] for m in markers],
        "codes": {m["id"]: {"label": m["label"], "kind": m["kind"]} for m in markers},
        "salience": [p["value"] for p in salience],
        "marker_answers": instrument.marker_answers,
        "events": ({"spans": instrument.events.spans, "tolerance_s": instrument.events.tolerance_s}
                   if instrument.events is not None and markers else None),
        "transcript": workspace.transcript_excerpt(assignment),
        "waveform": waveform,
        "preferences": workspace.preferences(current_user),
        "urls": {"save": url_for("rate.save", assignment_id=assignment.id),
                 "submit": url_for("rate.submit", assignment_id=assignment.id),
                 "next": url_for("rate.next_unit", assignment_id=assignment.id),
                 "preferences": url_for("rate.preferences"),
                 "session": url_for("rate.session_token"), "queue": url_for("home.index")},
    }


@bp.route("/rate/<int:assignment_id>")
@login_required
def page(assignment_id: int):
    db = db_session()
    assignment = own_assignment(assignment_id)
    instrument = workspace.definition(assignment)
    stored = workspace.stored_rating(db, assignment)
    waveform, audio_error = _waveform(assignment)
    items = _items(instrument)
    markers = [{"id": m.id, "label": m.label, "kind": m.kind, "description": m.description}
               for m in instrument.markers]
    salience = _scale_view(instrument.salience) if instrument.salience else []
    return render_template("rate.html", assignment=assignment, unit=workspace.unit_view(assignment),
                           instrument=instrument, items=items, markers=markers,
                           subscales={s.id: s.name for s in instrument.subscales}, salience=salience,
                           data=_page_data(assignment, stored, items, markers, salience, waveform, instrument),
                           rating=stored, reopened=workspace.reopen_reason(db, stored),
                           audio_error=audio_error, speeds=SPEEDS,
                           others=workspace.other_ratings(db, assignment, stored), markers_key=MARKERS)


@bp.route("/rate/<int:assignment_id>/next")
@login_required
def next_unit(assignment_id: int):
    """On to the rater's next unit of the same instrument that is not submitted (``workspace.next_assignment``);
    back to the queue, saying so, when there is none."""
    assignment = own_assignment(assignment_id)
    following = workspace.next_assignment(db_session(), current_user, assignment)
    if following is None:
        flash(f"You have submitted all your units of {assignment.instrument.name}.", "done")
        return redirect(url_for("home.index"))
    return redirect(url_for("rate.page", assignment_id=following.id))


@bp.route("/preferences", methods=["POST"])
@login_required
def preferences():
    """Change the logged-in account's settings of the rating page (JSON: {"confirm_submit": false})."""
    changes = jsonapi.body()
    try:
        saved = jsonapi.written(lambda db: workspace.set_preferences(db, current_user._get_current_object(), changes))
    except workspace.RatingError as exc:
        return jsonify({"ok": False, "error": str(exc)}), exc.status
    return jsonify({"ok": True, "preferences": saved})


@bp.route("/rate/<int:assignment_id>/audio")
@login_required
def audio(assignment_id: int):
    """The unit's audio as a WAV, with byte ranges (206) so that playback starts and seeks at once."""
    assignment = own_assignment(assignment_id)
    unit = assignment.rating_unit
    try:
        clip = playback.clip(_listening_copy(assignment), unit.start_s, unit.end_s)
    except (AudioError, OSError):
        abort(404)
    return wav.response(clip)


@bp.route("/session")
@login_required
def session_token():
    """A fresh CSRF token for a page whose own went stale (after logging in again in another tab)."""
    return jsonify({"user": current_user.id, "csrf": generate_csrf()})


def _refusal(exc: workspace.RatingError) -> tuple[Response, int]:
    body = {"ok": False, "error": str(exc), "problems": exc.problems}
    if exc.rating is not None:
        body["current"] = workspace.state(exc.rating)
    return jsonify(body), exc.status


def _write(assignment_id: int, submit: bool):
    """Save a draft or submit, holding the database's write turn (SQLite); the stored state, or why not."""
    assignment = own_assignment(assignment_id, load=False)
    body = jsonapi.body()
    try:
        checked = workspace.check_save(assignment, current_user._get_current_object(), body.get("scores"),
                                       body.get("notes"), body.get("revision"), submit)
        saved = jsonapi.written(lambda db: workspace.store(db, checked))
        return jsonify({"ok": True, **workspace.state(saved)})
    except workspace.RatingError as exc:
        return _refusal(exc)


@bp.route("/rate/<int:assignment_id>/save", methods=["POST"])
@login_required
def save(assignment_id: int):
    return _write(assignment_id, submit=False)


@bp.route("/rate/<int:assignment_id>/submit", methods=["POST"])
@login_required
def submit(assignment_id: int):
    return _write(assignment_id, submit=True)
