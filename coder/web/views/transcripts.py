"""A recording's transcript for its coordinators: the page, and the correction of the speakers' roles."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.study.models import Transcript
from coder.study.speakers import RoleError, set_roles, speaking_time, swap_roles
from coder.web import forms
from coder.web.database import db_session
from coder.web.guards import coordinated_row, coordinator_required

bp = Blueprint("transcripts", __name__)


@bp.route("/transcripts/<int:transcript_id>")
@coordinator_required
def page(transcript_id: int):
    transcript, _study = coordinated_row(Transcript, transcript_id)
    roles = {s.label: s.role for s in transcript.speakers}
    speech = {s.label: speaking_time(transcript.segments, s.label) for s in transcript.speakers}
    return render_template("transcript.html", transcript=transcript, recording=transcript.recording, roles=roles,
                           speech=speech)


def _roles_chosen(transcript: Transcript) -> dict[str, str | None]:
    """The role the form gives each speaker it names ("" and "none": no role)."""
    chosen = {s.label: request.form[f"role-{s.label}"] for s in transcript.speakers
              if f"role-{s.label}" in request.form}
    return {label: None if role in ("", "none") else role for label, role in chosen.items()}


@bp.route("/transcripts/<int:transcript_id>/roles", methods=["POST"])
@coordinator_required
def roles(transcript_id: int):
    """A coordinator's correction of the speakers' roles (or a swap), stored, audited and exported."""
    db = db_session()
    transcript, _study = coordinated_row(Transcript, transcript_id)
    reason = forms.reason(limit=500)
    out_dir = current_app.extensions["coder.settings"].transcripts_dir
    try:
        if request.form.get("action") == "swap":
            swap_roles(db, transcript, current_user, reason, out_dir)
        else:
            set_roles(db, transcript, _roles_chosen(transcript), current_user, reason, out_dir)
        db.commit()
        flash("Roles saved.")
    except RoleError as exc:
        db.rollback()
        flash(f"Roles not saved: {exc}")
    return redirect(url_for("transcripts.page", transcript_id=transcript_id))
