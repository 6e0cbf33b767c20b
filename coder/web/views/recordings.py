"""A study's recordings: uploads (one file per request, JSON back), the manifest that fills in the upload table,
the recordings' processing status (polled by the study page), and starting and cancelling their processing."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, jsonify, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from coder.jobs import options as job_options, queue as job_queue
from coder.pipeline.asr import DEFAULT_ENGINE
from coder.study import tree, uploads
from coder.study.ingest import ManifestError
from coder.study.models import Dyad, Recording, Study
from coder.study.tree import StudyError, get_or_create_dyad
from coder.web import filters, forms
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

bp = Blueprint("recordings", __name__)


class Refused(Exception):
    """An upload refused before anything of it is stored; the message is the answer's error."""


def _error(message: str, status: int = 400):
    return jsonify({"ok": False, "error": message}), status


def _dyad(db, study: Study, form: MultiDict, filename: str) -> Dyad:
    """The dyad an upload is for: one chosen by id, or the one of the therapist and client codes given."""
    if form.get("dyad_id"):
        dyad = tree.dyad_of(db, study, forms.whole_number(form["dyad_id"], "the dyad"))
        if dyad is None:
            raise Refused("no such dyad in this study")
        return dyad
    therapist, client = form.get("therapist", "").strip(), form.get("client", "").strip()
    if not therapist or not client:
        raise Refused(f"{filename}: choose a dyad, or give therapist and client codes")
    return get_or_create_dyad(db, study, therapist, client, form.get("dyad", "").strip() or None)


def _session_of(db, study: Study, form: MultiDict, filename: str) -> tuple[Dyad, int, dt.date | None]:
    """The dyad, session number and date an upload names."""
    try:
        dyad = _dyad(db, study, form, filename)
        number = forms.whole_number(form.get("session", ""), "the session")
    except (ValueError, StudyError) as exc:
        raise Refused(f"{filename}: {exc}") from None
    try:
        date = dt.date.fromisoformat(form["date"]) if form.get("date") else None
    except ValueError:
        raise Refused(f"{filename}: the date must be YYYY-MM-DD") from None
    return dyad, number, date


@bp.route("/studies/<int:study_id>/upload", methods=["POST"])
@coordinator_required
def upload(study_id: int):
    """One recording per request (the page sends each file on its own, with a progress bar); JSON back."""
    db = db_session()
    study = coordinated_study(study_id)
    f = request.files.get("file")
    if f is None or not f.filename:
        return _error("no file in the upload")
    form = request.form
    try:
        dyad, number, date = _session_of(db, study, form, f.filename)
    except Refused as exc:
        return _error(str(exc))
    try:
        rec = uploads.store(db, current_app.extensions["coder.settings"].recordings_dir, f.stream, f.filename, dyad,
                            number, current_user, time_point=form.get("time_point", "").strip() or None,
                            treatment_arm=form.get("arm", "").strip() or None, date=date,
                            client_sha256=form.get("sha256") or None,
                            max_bytes=current_app.config["MAX_UPLOAD_BYTES"])
        db.commit()
    except uploads.UploadError as exc:
        db.rollback()
        return _error(str(exc), 409 if "duplicate" in str(exc) else 400)
    return jsonify({"ok": True, "recording": rec.id, "sha256": rec.sha256, "duration_s": rec.duration_s,
                    "name": rec.original_name, "dyad": dyad.code, "session": number})


@bp.route("/studies/<int:study_id>/manifest", methods=["POST"])
@coordinator_required
def manifest(study_id: int):
    """Read a manifest CSV (the columns of ``coder ingest``) for the upload table; JSON rows or errors."""
    study = coordinated_study(study_id)
    f = request.files.get("manifest")
    if f is None:
        return _error("no manifest in the upload")
    try:
        rows, errors = uploads.manifest_rows(f.stream, f.filename or "", study)
    except ManifestError as exc:
        return _error(str(exc))
    return jsonify({"ok": not errors, "rows": rows, "errors": errors})


def _status(rec: Recording) -> dict:
    transcript = rec.transcript
    eta_s = job_queue.time_left.estimate(rec)
    return {"id": rec.id, "status": rec.status, "progress_s": rec.progress_s, "duration_s": rec.duration_s,
            "percent": job_queue.percent_done(rec), "eta_s": None if eta_s is None else round(eta_s, 1),
            "time_left": filters.time_left(eta_s),
            "error": rec.error, "attempts": rec.attempts, "worker": rec.worker,
            "transcript": transcript.id if transcript else None,
            "transcript_url": url_for("transcripts.page", transcript_id=transcript.id) if transcript else None}


@bp.route("/studies/<int:study_id>/recordings.json")
@coordinator_required
def status(study_id: int):
    """The processing status of the study's recordings (only those of ``id`` in the query string, where given:
    the page that polls), each with its percentage done and an estimate of the time left."""
    study = coordinated_study(study_id)
    ids = request.args.getlist("id", type=int) or None  # the recordings on the page that polls
    return jsonify({"recordings": [_status(rec) for rec in tree.recordings(db_session(), study, ids)]})


def _options() -> dict:
    """The processing options the form asks for, checked (ValueError, JobError)."""
    form = request.form
    speakers = forms.whole_number(form["num_speakers"], "the number of speakers") \
        if form.get("num_speakers") else None
    return job_options.check_options(form.get("engine", DEFAULT_ENGINE), form.get("model", "").strip() or None,
                                     form.get("diarizer", "builtin"), speakers, form.get("language", "").strip(),
                                     current_app.extensions["coder.settings"].models_dir)


@bp.route("/studies/<int:study_id>/process", methods=["POST"])
@coordinator_required
def process(study_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    try:
        options = _options()
    except (ValueError, job_options.JobError) as exc:
        flash(f"Not started: {exc}", "error")
        return forms.back_to_study(study, "recordings")
    chosen = tree.recordings(db, study, forms.chosen_recording_ids())
    if request.form.get("all") and not request.form.get("again"):
        chosen = job_queue.unprocessed(chosen)
    if not chosen:
        flash("Choose recordings to process (or Process all).", "error")
        return forms.back_to_study(study, "recordings")
    job_options.save_options(db, study, options, current_user)
    queued = job_queue.submit(db, chosen, current_user, forms.reason())
    db.commit()
    job_queue.enqueue(queued, current_app.extensions["coder.huey"])
    flash(f"{len(queued)} recording(s) queued for transcription and diarisation"
          + (f" ({len(chosen) - len(queued)} already queued or running)" if len(queued) < len(chosen) else "") + ".")
    return forms.back_to_study(study, "recordings")


@bp.route("/studies/<int:study_id>/cancel", methods=["POST"])
@coordinator_required
def cancel(study_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    done = job_queue.cancel(db, tree.recordings(db, study, forms.chosen_recording_ids()), current_user,
                            forms.reason())
    db.commit()
    flash(f"{len(done)} processing job(s) cancelled." if done else "None of the selected recordings was queued or "
          "being processed.", "message" if done else "error")
    return forms.back_to_study(study, "recordings")
