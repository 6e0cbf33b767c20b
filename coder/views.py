"""Pages: the study overview for coordinators, the queue for raters, transcripts."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .app import db_session
from .models import Assignment, Dyad, Recording, Study, TherapySession, Transcript

bp = Blueprint("views", __name__)


def coordinator_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if current_user.role != "coordinator":
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.route("/")
@login_required
def index():
    db = db_session()
    if current_user.role == "coordinator":
        studies = db.scalars(
            select(Study).where(Study.deleted_at.is_(None)).order_by(Study.name).options(
                selectinload(Study.dyads).selectinload(Dyad.sessions).selectinload(TherapySession.recordings)
                .selectinload(Recording.transcripts))).all()
        return render_template("studies.html", studies=studies)
    # Raters see their queue and nothing that would unblind them (session number, arm, time-point).
    assignments = db.scalars(
        select(Assignment).where(Assignment.rater_id == current_user.id, Assignment.deleted_at.is_(None))
        .order_by(Assignment.position, Assignment.id)).all()
    return render_template("queue.html", assignments=assignments)


@bp.route("/transcripts/<int:transcript_id>")
@coordinator_required
def transcript(transcript_id: int):
    transcript = db_session().get(Transcript, transcript_id)
    if transcript is None:
        abort(404)
    roles = {s.label: s.role for s in transcript.speakers}
    return render_template("transcript.html", transcript=transcript, recording=transcript.recording, roles=roles)
