"""A coordinator's studies: a new study, the study page (participants, recordings, units, assignments), the
study's coordinators and its participants (therapists, clients, dyads), what its raters read beside the audio
and who corrects its transcripts."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.jobs import queue as job_queue
from coder.jobs.options import options_of
from coder.pipeline.asr import ENGINES
from coder.pipeline.diarize import DIARIZERS
from coder.rating import workspace
from coder.rating.designs import study_designs
from coder.study import access, accounts, instruments, transcripts, tree, uploads
from coder.study import deidentification as deid
from coder.study.models import RECORDING_STATUSES, Study
from coder.study.tree import StudyError
from coder.web import forms, paging
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

RATER_VIEW_WORDS = {"automatic": "the current transcript, whatever its status",
                    "verified": "verified transcripts only", "none": "no transcript (audio only)"}
DEID_TEXT_WORDS = {"original": "the original transcript", "deidentified": "the de-identified transcript only"}
DEID_AUDIO_WORDS = {"original": "the recording as it is", "muted": "the recording with the identifiers muted",
                    "tone": "the recording with a tone over the identifiers"}

RECORDINGS_PAGE = 50

bp = Blueprint("studies", __name__)


@bp.route("/studies/new", methods=["GET", "POST"])
@coordinator_required
def new():
    if request.method == "GET":
        return render_template("study_new.html")
    db = db_session()
    name = request.form.get("name", "").strip()
    try:
        study = tree.create_study(db, name, request.form.get("description", ""), current_user)
    except StudyError as exc:
        db.rollback()
        flash(forms.sentence(exc), "error")
        return render_template("study_new.html"), 400
    db.commit()
    flash(f"Study {name} created.")
    return redirect(url_for("studies.page", study_id=study.id))


def _unit_fit(rows) -> dict[str, str]:
    """What units each instrument is rated on, as the units form says it."""
    out = {}
    for row in rows:
        try:
            definition = instruments.stored(row)
        except instruments.InstrumentError:  # stored by hand or by an older coder: the page still opens
            out[row.key] = "units of any kind (its stored definition does not parse)"
            continue
        out[row.key] = ("whole sessions" if definition.rating_unit == "session" else
                        f"{definition.segment_minutes:g}-minute windows" if definition.segment_minutes else "windows")
    return out


@bp.route("/studies/<int:study_id>")
@coordinator_required
def page(study_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    people = tree.participants(db, study)
    coordinators = access.coordinators_of(db, study)
    status = request.args.get("status") or None
    if status is not None and status not in RECORDING_STATUSES:
        abort(400)
    dyad_id = request.args.get("dyad", type=int)
    recordings = paging.page_of(db, tree.recordings_listed(study, status=status, dyad_id=dyad_id),
                                size=RECORDINGS_PAGE)
    transcribers = access.transcribers_of(db, study)
    newest = instruments.newest(db)
    return render_template(
        "study.html", study=study, coordinators=coordinators, transcribers=transcribers,
        other_transcribers=accounts.users(db, "transcriber", active_only=True, excluding=transcribers),
        rater_view=transcripts.rater_view(study), rater_views=transcripts.RATER_VIEWS,
        deid_settings=deid.rater_settings(study), deid_text_words=DEID_TEXT_WORDS, deid_audio_words=DEID_AUDIO_WORDS,
        other_coordinators=accounts.users(db, "coordinator", active_only=True, excluding=coordinators),
        therapists=people.therapists, clients=people.clients, dyads=people.dyads,
        recordings=recordings, status=status, dyad_id=dyad_id,
        status_counts=access.study_counts(db, [study.id])[study.id],
        progress={rec.id: (job_queue.percent_done(rec), job_queue.time_left.estimate(rec))
                  for rec in recordings.items},
        study_label_setting=workspace.study_label_setting(study),
        instruments=newest, unit_fit=_unit_fit(newest),
        designs=study_designs(db, study), raters=accounts.users(db, "rater", active_only=True),
        processing=options_of(study), engines=ENGINES, diarizers=DIARIZERS,
        extensions=sorted(uploads.EXTENSIONS))


@bp.route("/studies/<int:study_id>/coordinators", methods=["POST"])
@coordinator_required
def coordinators(study_id: int):
    """Add a coordinator to the study, or remove one (not the last)."""
    db = db_session()
    study = coordinated_study(study_id)
    action = request.form.get("action")
    if action not in ("add", "remove"):
        abort(400)
    user = accounts.find_user(db, request.form.get("new" if action == "add" else "username", "").strip(),
                              role="coordinator")
    if user is None:
        flash("Choose a coordinator.", "error")
        return forms.back_to_study(study, "coordinators")
    try:
        changed = (access.grant if action == "add" else access.revoke)(db, study, user, current_user,
                                                                       forms.reason())
        db.commit()
    except access.AccessError as exc:
        db.rollback()
        flash(f"Not done: {exc}", "error")
        return forms.back_to_study(study, "coordinators")
    if user.id == current_user.id and action == "remove":
        flash(f"You no longer coordinate {study.name}.")
        return redirect(url_for("home.index"))
    flash(f"{user.username} {'now coordinates' if action == 'add' else 'no longer coordinates'} {study.name}."
          if changed else f"Nothing to change for {user.username}.")
    return forms.back_to_study(study, "coordinators")


@bp.route("/studies/<int:study_id>/transcripts", methods=["POST"])
@coordinator_required
def transcript_settings(study_id: int):
    """What the study's raters read beside the audio (and whether it is de-identified, and their audio masked),
    what they read for the study's name, and who corrects its transcripts."""
    db = db_session()
    study = coordinated_study(study_id)
    action = request.form.get("action")
    if action == "raters":
        try:
            transcripts.set_rater_view(db, study, request.form.get("view", ""), current_user)
            db.commit()
            flash(f"Raters now read {RATER_VIEW_WORDS[transcripts.rater_view(study)]}.")
        except transcripts.ReviewError as exc:
            db.rollback()
            flash(f"Not done: {exc}", "error")
        return forms.back_to_study(study, "transcripts")
    if action == "deidentification":
        try:
            chosen = deid.set_rater_settings(db, study, current_user, text=request.form.get("deid_text") or None,
                                             audio=request.form.get("deid_audio") or None)
            db.commit()
            flash(f"Raters now read {DEID_TEXT_WORDS[chosen['text']]} and hear {DEID_AUDIO_WORDS[chosen['audio']]}.")
        except deid.DeidError as exc:
            db.rollback()
            flash(f"Not done: {exc}", "error")
        return forms.back_to_study(study, "transcripts")
    if action == "study_label":
        try:
            workspace.set_study_label(db, study, current_user, request.form.get("shown", ""),
                                      request.form.get("label", ""))
            db.commit()
            shown = workspace.study_label(study)
            flash(f"Raters now read the study as “{shown}”." if shown else "Raters no longer see the study's name.")
        except workspace.SettingsError as exc:
            db.rollback()
            flash(f"Not done: {exc}", "error")
        return forms.back_to_study(study, "transcripts")
    if action not in ("add", "remove"):
        abort(400)
    user = accounts.find_user(db, request.form.get("new" if action == "add" else "username", "").strip(),
                              role="transcriber")
    if user is None:
        flash("Choose a transcriber.", "error")
        return forms.back_to_study(study, "transcripts")
    changed = (access.grant if action == "add" else access.revoke)(db, study, user, current_user, forms.reason())
    db.commit()
    flash(f"{user.username} {'now corrects' if action == 'add' else 'no longer corrects'} the transcripts of "
          f"{study.name}." if changed else f"Nothing to change for {user.username}.")
    return forms.back_to_study(study, "transcripts")


def _add_participant(db, study: Study, kind: str) -> str:
    """Add the participant the form describes; the message that says so."""
    code = request.form.get("code", "").strip()
    if kind == "dyad":
        therapist, client = request.form.get("therapist", "").strip(), request.form.get("client", "").strip()
        dyad = tree.add_dyad(db, study, therapist, client, code, current_user)
        return f"Dyad {dyad.code} ({therapist} with {client}) added."
    tree.add_participant(db, study, kind, code, current_user)
    return f"{kind.title()} {code} added."


@bp.route("/studies/<int:study_id>/participants", methods=["POST"])
@coordinator_required
def participants(study_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    kind = request.form.get("kind")
    if kind not in (*tree.PARTICIPANT_KINDS, "dyad"):
        abort(400)
    try:
        message = _add_participant(db, study, kind)
        db.commit()
        flash(message)
    except StudyError as exc:
        db.rollback()
        flash(f"Not added: {exc}", "error")
    return forms.back_to_study(study, "participants")
