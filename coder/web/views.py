"""Pages: the study overview for coordinators, the queue for raters, transcripts."""
from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from coder.study import access, scope
from coder.web.database import db_session
from coder.study.models import Dyad, Recording, Study, TherapySession, Transcript

bp = Blueprint("views", __name__)


def coordinator_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if current_user.role != "coordinator":
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def coordinated_study(study_id: int | None) -> Study:
    """The live study, when the current user coordinates it; 404 otherwise (coder.access)."""
    db = db_session()
    study = db.get(Study, study_id) if study_id is not None else None
    if study is None or not study.live or not access.coordinates(db, current_user, study.id):
        abort(404)
    return study


def check_row(row: Any) -> Study:
    """The study of a row (a transcript, a unit, a rating ...) that the current user must coordinate."""
    return coordinated_study(scope.study_of(db_session(), row))


@bp.route("/")
@login_required
def index():
    db = db_session()
    if current_user.role == "coordinator":
        studies = db.scalars(
            select(Study).where(Study.live, Study.id.in_(access.study_ids(db, current_user)))
            .order_by(Study.name).options(
                selectinload(Study.dyads).selectinload(Dyad.sessions).selectinload(TherapySession.recordings)
                .selectinload(Recording.transcripts))).all()
        return render_template("studies.html", studies=studies)
    # Raters see their queue and nothing that would unblind them (see coder.rating).
    from coder.rating.workspace import queue

    entries = queue(db, current_user)
    counts = {status: sum(e.status == status for e in entries) for status in ("to do", "draft", "submitted")}
    return render_template("queue.html", entries=entries, counts=counts)


@bp.route("/transcripts/<int:transcript_id>")
@coordinator_required
def transcript(transcript_id: int):
    transcript = db_session().get(Transcript, transcript_id)
    if transcript is None:
        abort(404)
    check_row(transcript)
    roles = {s.label: s.role for s in transcript.speakers}
    from coder.study.speakers import speaking_time

    speech = {s.label: speaking_time(transcript.segments, s.label) for s in transcript.speakers}
    return render_template("transcript.html", transcript=transcript, recording=transcript.recording, roles=roles,
                           speech=speech)


@bp.route("/transcripts/<int:transcript_id>/roles", methods=["POST"])
@coordinator_required
def transcript_roles(transcript_id: int):
    """A coordinator's correction of the speakers' roles (or a swap), stored, audited and exported."""
    from coder.study.speakers import RoleError, set_roles, swap_roles

    db = db_session()
    transcript = db.get(Transcript, transcript_id)
    if transcript is None:
        abort(404)
    check_row(transcript)
    reason = request.form.get("reason", "").strip()[:500]
    out_dir = current_app.extensions["coder.settings"].transcripts_dir
    try:
        if request.form.get("action") == "swap":
            swap_roles(db, transcript, current_user, reason, out_dir)
        else:
            wanted = {s.label: (request.form.get(f"role-{s.label}") or None) for s in transcript.speakers
                      if f"role-{s.label}" in request.form}
            set_roles(db, transcript, {k: (None if v == "none" else v) for k, v in wanted.items()}, current_user,
                      reason, out_dir)
        db.commit()
        flash("Roles saved.")
    except RoleError as exc:
        db.rollback()
        flash(f"Roles not saved: {exc}")
    return redirect(url_for("views.transcript", transcript_id=transcript_id))
