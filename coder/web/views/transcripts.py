"""A recording's transcript for the people who correct it (coordinators and transcribers): the editor page, its
audio, the corrections (one JSON request each, saved as a revision by ``coder.study.transcripts``), the history,
the status, speakers' names and roles; a transcriber's list of transcripts; and, for coordinators, the
transcript's exports to download.

Every save names the revision it was made against; a save against an older one is refused with 409 and the
current version, so two editors never overwrite each other.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from coder.jobs import queue as job_queue
from coder.pipeline import interchange, playback
from coder.pipeline.audio import AudioError
from coder.pipeline.measures import MeasuresError
from coder.reports.timeline import Timeline, recording_timeline
from coder.stats.session_plot import TimelineError
from coder.study import access, transcripts
from coder.study.measures import NoTranscript
from coder.study.models import TRANSCRIPT_STATUSES, Transcript, TranscriptRevision
from coder.study.speakers import RoleError, refresh_exports, set_roles, speaking_time, swap_roles, write_exports
from coder.web import forms, jsonapi, wav
from coder.web.database import db_session
from coder.web.guards import coordinated_row, coordinator_required, transcribed_transcript, transcriber_required

bp = Blueprint("transcripts", __name__)

LOW_CONFIDENCE = 0.5  # Whisper's word probability under which a word is marked for checking
SPEEDS = (0.5, 0.75, 1, 1.25, 1.5, 2)


def _segments_view(transcript: Transcript) -> list[dict[str, Any]]:
    """The turns for the editor's script: times, speaker, checked, and every word as [start, end, text, p]."""
    out = []
    for seg in transcript.segments or []:
        words = [[w["start"], w["end"], w.get("text", "").strip(), w.get("probability")]
                 for w in seg.get("words") or []]
        if not words:
            words = [[seg["start"], seg["end"], t, None] for t in seg.get("text", "").split()]
        out.append({"s": seg["start"], "e": seg["end"], "speaker": seg.get("speaker"),
                    "checked": bool(seg.get("checked")), "w": words})
    return out


def _state(transcript: Transcript) -> dict[str, Any]:
    return {"revision": transcript.revision, "status": transcript.status, "segments": _segments_view(transcript),
            "speakers": [{"label": s.label, "name": s.name or "", "role": s.role,
                          "shown": transcripts.speaker_names(transcript)[s.label]} for s in transcript.speakers]}


def _timeline(transcript: Transcript, title: str = "") -> tuple[Timeline | None, str | None]:
    """The session timeline of the transcript's current revision, or why there is none."""
    try:
        return recording_timeline(db_session(), transcript.recording, title), None
    except (NoTranscript, MeasuresError, TimelineError) as exc:
        return None, str(exc)


def _listening_copy(transcript: Transcript) -> playback.ListeningCopy:
    recording = transcript.recording
    return playback.prepare(recording.path, recording.sha256, current_app.extensions["coder.settings"].playback_dir)


@bp.route("/transcripts")
@transcriber_required
def index():
    """The transcripts a transcriber (or coordinator) may correct, study by study, with their status."""
    return render_template("transcripts.html", studies=access.transcribed_studies(db_session(), current_user))


@bp.route("/transcripts/<int:transcript_id>")
@transcriber_required
def page(transcript_id: int):
    transcript, study = transcribed_transcript(transcript_id)
    try:
        start = max(0.0, float(request.args.get("t", 0)))
    except ValueError:
        start = 0.0
    roles = {s.label: s.role for s in transcript.speakers}
    speech = {s.label: speaking_time(transcript.segments, s.label) for s in transcript.speakers}
    data = {"transcript": transcript.id, "user": current_user.id, "duration": transcript.duration_s,
            "threshold": LOW_CONFIDENCE, "start": start, **_state(transcript),
            "urls": {"edit": url_for("transcripts.edit", transcript_id=transcript.id),
                     "restore": url_for("transcripts.restore", transcript_id=transcript.id),
                     "status": url_for("transcripts.status", transcript_id=transcript.id),
                     "speaker": url_for("transcripts.speaker", transcript_id=transcript.id),
                     "history": url_for("transcripts.history", transcript_id=transcript.id),
                     "state": url_for("transcripts.state", transcript_id=transcript.id),
                     "session": url_for("rate.session_token")}}
    timeline, no_timeline = _timeline(transcript)
    return render_template("transcript.html", transcript=transcript, recording=transcript.recording, study=study,
                           roles=roles, speech=speech, data=data, statuses=TRANSCRIPT_STATUSES, speeds=SPEEDS,
                           coordinator=current_user.role == "coordinator", timeline=timeline,
                           no_timeline=no_timeline)


@bp.route("/transcripts/<int:transcript_id>/audio")
@transcriber_required
def audio(transcript_id: int):
    """The whole recording as a WAV, with byte ranges."""
    transcript, _study = transcribed_transcript(transcript_id)
    try:
        copy = _listening_copy(transcript)
        clip = playback.clip(copy, 0.0, copy.duration_s)
    except (AudioError, OSError):
        abort(404)
    return wav.response(clip)


@bp.route("/transcripts/<int:transcript_id>/state")
@transcriber_required
def state(transcript_id: int):
    transcript, _study = transcribed_transcript(transcript_id)
    return jsonify({"ok": True, **_state(transcript)})


def _saved(transcript: Transcript, action) -> tuple[Response, int] | Response:
    """Run a correction holding the database's write turn; the new state, or why not (409 with the current
    version when someone else saved first)."""
    try:
        jsonapi.written(action)
    except transcripts.RevisionConflict as exc:
        db_session().refresh(transcript)
        return jsonify({"ok": False, "error": str(exc), "current": _state(transcript)}), 409
    except transcripts.ReviewError as exc:
        return jsonify({"ok": False, "error": str(exc)}), exc.status
    refresh_exports(transcript, current_app.extensions["coder.settings"].transcripts_dir)
    return jsonify({"ok": True, **_state(transcript)})


def _revision(body: dict) -> int:
    return jsonapi.whole_number(body, "revision", "name the revision the change was made against")


@bp.route("/transcripts/<int:transcript_id>/edit", methods=["POST"])
@transcriber_required
def edit(transcript_id: int):
    """One correction: ``{"revision": 3, "op": {"op": "edit_text", "turn": 2, "text": "..."}}``."""
    transcript, _study = transcribed_transcript(transcript_id)
    body = jsonapi.body()
    based_on = _revision(body)
    return _saved(transcript, lambda db: transcripts.apply(db, transcript, based_on, body.get("op"), current_user))


@bp.route("/transcripts/<int:transcript_id>/restore", methods=["POST"])
@transcriber_required
def restore(transcript_id: int):
    """Save an earlier revision again as the newest (``{"revision": 5, "number": 4}``: undo the last save)."""
    transcript, _study = transcribed_transcript(transcript_id)
    body = jsonapi.body()
    based_on = _revision(body)
    number = body.get("number")
    if not isinstance(number, int):
        return jsonify({"ok": False, "error": "name the revision to restore"}), 400
    return _saved(transcript, lambda db: transcripts.restore(db, transcript, number, based_on, current_user))


@bp.route("/transcripts/<int:transcript_id>/status", methods=["POST"])
@transcriber_required
def status(transcript_id: int):
    transcript, _study = transcribed_transcript(transcript_id)
    body = jsonapi.body()
    response = _saved(transcript, lambda db: transcripts.set_status(db, transcript, str(body.get("status")),
                                                                    current_user))
    if transcript.status == "verified" and getattr(response, "status_code", None) == 200:
        _measure_again(transcript)
    return response


def _measure_again(transcript: Transcript) -> None:
    """A verified transcript (or corrected roles) changes what the stored process measures count: queue its
    measures job, once per such save rather than per correction (each job also tracks the voices)."""
    try:
        job_queue.enqueue_measures([transcript.recording_id], current_app.extensions["coder.huey"])
    except Exception:  # the save stands; the analysis page lists the measures as stale and queues them again
        current_app.logger.exception("the measures of recording %s were not queued", transcript.recording_id)


@bp.route("/transcripts/<int:transcript_id>/speaker", methods=["POST"])
@transcriber_required
def speaker(transcript_id: int):
    """A speaker's display name: ``{"label": "SPEAKER_00", "name": "Dr Reyes"}``."""
    transcript, _study = transcribed_transcript(transcript_id)
    body = jsonapi.body()
    return _saved(transcript, lambda db: transcripts.rename_speaker(db, transcript, str(body.get("label")),
                                                                    str(body.get("name") or ""), current_user))


@bp.route("/transcripts/<int:transcript_id>/history")
@transcriber_required
def history(transcript_id: int):
    """Every saved revision, newest first, with its author, time, note and changes."""
    transcript, _study = transcribed_transcript(transcript_id)
    rows: list[TranscriptRevision] = transcripts.history(db_session(), transcript)
    return jsonify({"ok": True, "revision": transcript.revision, "revisions": [
        {"number": r.number, "author": r.author.username if r.author else None,
         "at": r.created_at.isoformat(timespec="seconds"), "note": r.note, "changes": r.changes}
        for r in rows]})


@bp.route("/transcripts/<int:transcript_id>/export/<fmt>")
@coordinator_required
def export(transcript_id: int, fmt: str):
    """The current revision as a file to download (json, rttm, vtt, txt, docx, eaf or textgrid); coordinators
    only, since a file that leaves the app is no longer guarded by it."""
    transcript, _study = coordinated_row(Transcript, transcript_id)
    if fmt not in interchange.EXPORTS:
        abort(404)
    return jsonapi.download(lambda folder: write_exports(transcript, folder, (fmt,))[fmt])


@bp.route("/transcripts/<int:transcript_id>/timeline.<fmt>")
@coordinator_required
def timeline(transcript_id: int, fmt: str):
    """The session timeline as a file to download (svg or png); coordinators only, like the other exports."""
    transcript, _study = coordinated_row(Transcript, transcript_id)
    if fmt not in ("svg", "png"):
        abort(404)
    name = transcript.recording.original_name
    picture, problem = _timeline(transcript, f"{name}: who speaks when")
    if picture is None:
        abort(404, problem)
    stem = name.rsplit(".", 1)[0] or "session"
    body, mimetype = picture.file(fmt)
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": jsonapi.disposition(f"{stem}-timeline.{fmt}")})


def _roles_chosen(transcript: Transcript) -> dict[str, str | None]:
    """The role the form gives each speaker it names ("" and "none": no role)."""
    chosen = {s.label: request.form[f"role-{s.label}"] for s in transcript.speakers
              if f"role-{s.label}" in request.form}
    return {label: None if role in ("", "none") else role for label, role in chosen.items()}


@bp.route("/transcripts/<int:transcript_id>/roles", methods=["POST"])
@transcriber_required
def roles(transcript_id: int):
    """A correction of the speakers' roles (or a swap), stored, audited and exported."""
    db = db_session()
    transcript, _study = transcribed_transcript(transcript_id)
    reason = forms.reason(limit=500)
    out_dir = current_app.extensions["coder.settings"].transcripts_dir
    try:
        if request.form.get("action") == "swap":
            swap_roles(db, transcript, current_user, reason, out_dir)
        else:
            set_roles(db, transcript, _roles_chosen(transcript), current_user, reason, out_dir)
        db.commit()
        _measure_again(transcript)
        flash("Roles saved; the process measures of the session are computed again.")
    except RoleError as exc:
        db.rollback()
        flash(f"Roles not saved: {exc}")
    return redirect(url_for("transcripts.page", transcript_id=transcript_id))
