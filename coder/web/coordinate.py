"""Coordinator pages: studies, participants, uploads, processing, rating units, raters, assignment designs,
the progress dashboard, calibration, consensus and the audit trail."""
from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from coder.rating import calibration as cal
from coder.pipeline.asr import ENGINES
from coder.pipeline.diarize import DIARIZERS
from coder.study import access, scope, units, uploads
from coder.rating import designs, progress
from coder.jobs import options as jobs, queue as tasks
from coder.study.accounts import AccountError, create_user, generate_password, set_active
from coder.web.database import db_session
from coder.rating.consensus import ConsensusError, discrepancies, record as record_consensus
from coder.study import instruments
from coder.study.instruments import MARKERS
from coder.study.models import (Assignment, AssignmentDesign, AuditEvent, Client, ConsensusRating, Dyad, Instrument,
                                Rating, RatingUnit, Recording, Speaker, Study, Therapist, TherapySession, Transcript,
                                User, utcnow)
from coder.study.tree import StudyError, get_or_create_dyad, get_or_create_study
from coder.study.audit import audit
from coder.web.views import check_row, coordinated_study, coordinator_required

bp = Blueprint("coordinate", __name__)


def _study(study_id: int) -> Study:
    return coordinated_study(study_id)


def _recordings(db, study: Study) -> list[Recording]:
    return list(db.scalars(
        scope.in_study(select(Recording), Recording, study)
        # a transcript's id and speakers, not its segments: a study holds hundreds of long transcripts
        .options(selectinload(Recording.transcripts).load_only(Transcript.id, Transcript.recording_id,
                                                                Transcript.created_at)
                 .selectinload(Transcript.speakers).load_only(Speaker.id, Speaker.label),
                 selectinload(Recording.rating_units),
                 selectinload(Recording.session).selectinload(TherapySession.dyad))
        .order_by(Dyad.code, TherapySession.number, Recording.id)))


def _chosen_recordings(db, study: Study) -> list[Recording]:
    recs = _recordings(db, study)
    if request.form.get("all"):
        return recs
    ids = {int(i) for i in request.form.getlist("recording") if i.isdigit()}
    return [r for r in recs if r.id in ids]


def _reason() -> str:
    return request.form.get("reason", "").strip()[:1000]


def _back(study: Study, anchor: str = ""):
    return redirect(url_for("coordinate.study", study_id=study.id) + (f"#{anchor}" if anchor else ""))


# --- studies and participants ---------------------------------------------------------------------------

@bp.route("/studies/new", methods=["GET", "POST"])
@coordinator_required
def new_study():
    if request.method == "POST":
        db = db_session()
        name = request.form.get("name", "").strip()
        if not name or len(name) > 200:
            flash("Give the study a name (up to 200 characters).", "error")
            return render_template("study_new.html"), 400
        if db.scalar(select(Study).where(Study.name == name)) is not None:
            flash(f"A study named {name} exists already.", "error")
            return render_template("study_new.html"), 400
        study = get_or_create_study(db, name)
        study.description = request.form.get("description", "").strip()[:5000]
        audit(db, "create", study, current_user, name=name)
        access.grant(db, study, current_user, current_user, "created the study")
        db.commit()
        flash(f"Study {name} created.")
        return redirect(url_for("coordinate.study", study_id=study.id))
    return render_template("study_new.html")


@bp.route("/studies/<int:study_id>")
@coordinator_required
def study(study_id: int):
    db = db_session()
    s = _study(study_id)
    therapists = db.scalars(scope.in_study(select(Therapist), Therapist, s).order_by(Therapist.code)).all()
    clients = db.scalars(scope.in_study(select(Client), Client, s).order_by(Client.code)).all()
    dyads = db.scalars(scope.in_study(select(Dyad), Dyad, s).order_by(Dyad.code)).all()
    recs = _recordings(db, s)
    designs_made = db.scalars(select(AssignmentDesign).where(AssignmentDesign.study_id == s.id)
                              .order_by(AssignmentDesign.id.desc())).all()
    raters = db.scalars(select(User).where(User.role == "rater", User.active.is_(True)).order_by(User.username)).all()
    coordinators = access.coordinators_of(db, s)
    others = db.scalars(select(User).where(User.role == "coordinator", User.active.is_(True),
                                           User.id.not_in([c.id for c in coordinators])).order_by(User.username)).all()
    return render_template("study.html", study=s, coordinators=coordinators, other_coordinators=others,
                           therapists=therapists, clients=clients, dyads=dyads,
                           recordings=recs, instruments=instruments.newest(db), designs=designs_made, raters=raters,
                           processing=jobs.options_of(s), engines=ENGINES, diarizers=DIARIZERS,
                           extensions=sorted(uploads.EXTENSIONS))


@bp.route("/studies/<int:study_id>/coordinators", methods=["POST"])
@coordinator_required
def coordinators(study_id: int):
    """Add a coordinator to the study, or remove one (not the last)."""
    db = db_session()
    s = _study(study_id)
    action = request.form.get("action")
    name = request.form.get("new" if action == "add" else "username", "").strip()
    user = db.scalar(select(User).where(User.username == name, User.role == "coordinator"))
    if action not in ("add", "remove"):
        abort(400)
    if user is None:
        flash("Choose a coordinator.", "error")
        return _back(s, "coordinators")
    try:
        changed = (access.grant if action == "add" else access.revoke)(db, s, user, current_user, _reason())
        db.commit()
    except access.AccessError as exc:
        db.rollback()
        flash(f"Not done: {exc}", "error")
        return _back(s, "coordinators")
    if user.id == current_user.id and action == "remove":
        flash(f"You no longer coordinate {s.name}.")
        return redirect(url_for("views.index"))
    flash(f"{user.username} {'now coordinates' if action == 'add' else 'no longer coordinates'} {s.name}."
          if changed else f"Nothing to change for {user.username}.")
    return _back(s, "coordinators")


@bp.route("/studies/<int:study_id>/participants", methods=["POST"])
@coordinator_required
def participants(study_id: int):
    db = db_session()
    s = _study(study_id)
    kind = request.form.get("kind")
    code = request.form.get("code", "").strip()
    try:
        if kind in ("therapist", "client"):
            cls = Therapist if kind == "therapist" else Client
            if not code or len(code) > 100:
                raise StudyError(f"give the {kind} a code (a pseudonym, never a name) of up to 100 characters")
            if db.scalar(select(cls).where(cls.study_id == s.id, cls.code == code)) is not None:
                raise StudyError(f"{kind} {code} exists already")
            obj = cls(study_id=s.id, code=code)
            db.add(obj)
            db.flush()
            audit(db, "create", obj, current_user, code=code)
            message = f"{kind.title()} {code} added."
        elif kind == "dyad":
            therapist, client = request.form.get("therapist", "").strip(), request.form.get("client", "").strip()
            if not therapist or not client:
                raise StudyError("choose the dyad's therapist and client")
            dyad = get_or_create_dyad(db, s, therapist, client, code or None)
            audit(db, "create", dyad, current_user, code=dyad.code, therapist=therapist, client=client)
            message = f"Dyad {dyad.code} ({therapist} with {client}) added."
        else:
            abort(400)
        db.commit()
        flash(message)
    except StudyError as exc:
        db.rollback()
        flash(f"Not added: {exc}", "error")
    return _back(s, "participants")


# --- recordings: upload, manifest, processing ------------------------------------------------------------

def _upload_error(message: str, status: int = 400):
    return jsonify({"ok": False, "error": message}), status


@bp.route("/studies/<int:study_id>/upload", methods=["POST"])
@coordinator_required
def upload(study_id: int):
    """One recording per request (the page sends each file on its own, with a progress bar); JSON back."""
    db = db_session()
    s = _study(study_id)
    f = request.files.get("file")
    if f is None or not f.filename:
        return _upload_error("no file in the upload")
    form = request.form
    try:
        if form.get("dyad_id"):
            dyad = db.get(Dyad, int(form["dyad_id"]))
            if dyad is None or dyad.study_id != s.id or not dyad.live:
                return _upload_error("no such dyad in this study")
        else:
            therapist, client = form.get("therapist", "").strip(), form.get("client", "").strip()
            if not therapist or not client:
                return _upload_error(f"{f.filename}: choose a dyad, or give therapist and client codes")
            dyad = get_or_create_dyad(db, s, therapist, client, form.get("dyad", "").strip() or None)
        number = int(form.get("session", ""))
        date = dt.date.fromisoformat(form["date"]) if form.get("date") else None
    except ValueError:
        return _upload_error(f"{f.filename}: the session must be a whole number and the date YYYY-MM-DD")
    except StudyError as exc:
        return _upload_error(f"{f.filename}: {exc}")
    settings = current_app.extensions["coder.settings"]
    try:
        rec = uploads.store(db, settings.recordings_dir, f.stream, f.filename, dyad, number, current_user,
                            time_point=form.get("time_point", "").strip() or None,
                            treatment_arm=form.get("arm", "").strip() or None, date=date,
                            client_sha256=form.get("sha256") or None,
                            max_bytes=current_app.config["MAX_UPLOAD_BYTES"])
        db.commit()
    except uploads.UploadError as exc:
        db.rollback()
        return _upload_error(str(exc), 409 if "duplicate" in str(exc) else 400)
    return jsonify({"ok": True, "recording": rec.id, "sha256": rec.sha256, "duration_s": rec.duration_s,
                    "name": rec.original_name, "dyad": dyad.code, "session": number})


@bp.route("/studies/<int:study_id>/manifest", methods=["POST"])
@coordinator_required
def manifest(study_id: int):
    """Read a manifest CSV (the columns of ``coder ingest``) for the upload table; JSON rows or errors."""
    from coder.study.ingest import ManifestError, parse_row, read_manifest

    s = _study(study_id)
    f = request.files.get("manifest")
    if f is None:
        return _upload_error("no manifest in the upload")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.csv"
        f.save(path)
        try:
            raw = read_manifest(path)
        except ManifestError as exc:
            return _upload_error(str(exc).replace(str(path), f.filename or "manifest"))
    rows, errors = [], []
    for i, row in enumerate(raw, start=2):
        try:
            meta = parse_row(row, s.name)
            if meta["study"] != s.name:
                raise ValueError(f"names study {meta['study']}, not {s.name}")
            rows.append({"row": i, "file": uploads.safe_name(row["file"]), "therapist": meta["therapist"],
                         "client": meta["client"], "dyad": meta["dyad"] or "", "session": meta["number"],
                         "time_point": meta["time_point"] or "", "arm": meta["arm"] or "",
                         "date": meta["date"].isoformat() if meta["date"] else ""})
        except ValueError as exc:
            errors.append(f"row {i} ({row.get('file', '')}): {exc}")
    return jsonify({"ok": not errors, "rows": rows, "errors": errors})


@bp.route("/studies/<int:study_id>/recordings.json")
@coordinator_required
def recordings_json(study_id: int):
    db = db_session()
    s = _study(study_id)
    return jsonify({"recordings": [
        {"id": r.id, "status": r.status, "progress_s": r.progress_s, "duration_s": r.duration_s,
         "error": r.error, "attempts": r.attempts, "worker": r.worker,
         "transcript": r.transcript.id if r.transcript else None,
         "transcript_url": url_for("views.transcript", transcript_id=r.transcript.id) if r.transcript else None}
        for r in _recordings(db, s)]})


@bp.route("/studies/<int:study_id>/process", methods=["POST"])
@coordinator_required
def process(study_id: int):
    db = db_session()
    s = _study(study_id)
    form = request.form
    try:
        speakers = int(form["num_speakers"]) if form.get("num_speakers") else None
        options = jobs.check_options(form.get("engine", "openai-whisper"), form.get("model", "").strip() or None,
                                     form.get("diarizer", "builtin"), speakers, form.get("language", "").strip())
    except (ValueError, jobs.JobError) as exc:
        flash(f"Not started: {exc}", "error")
        return _back(s, "recordings")
    chosen = _chosen_recordings(db, s)
    if form.get("all") and not form.get("again"):
        chosen = [r for r in chosen if r.status in ("registered", "failed", "cancelled")]
    if not chosen:
        flash("Choose recordings to process (or Process all).", "error")
        return _back(s, "recordings")
    if options != jobs.options_of(s):
        audit(db, "settings", s, current_user, processing=options)
        s.settings = {**(s.settings or {}), "processing": options}
    queued = tasks.submit(db, chosen, current_user, _reason())
    db.commit()
    tasks.enqueue(queued, current_app.extensions["coder.huey"])
    flash(f"{len(queued)} recording(s) queued for transcription and diarisation"
          + (f" ({len(chosen) - len(queued)} already queued or running)" if len(queued) < len(chosen) else "") + ".")
    return _back(s, "recordings")


@bp.route("/studies/<int:study_id>/cancel", methods=["POST"])
@coordinator_required
def cancel(study_id: int):
    db = db_session()
    s = _study(study_id)
    done = tasks.cancel(db, _chosen_recordings(db, s), current_user, _reason())
    db.commit()
    flash(f"{len(done)} processing job(s) cancelled." if done else "None of the selected recordings was queued or "
          "being processed.", "message" if done else "error")
    return _back(s, "recordings")


# --- rating units ------------------------------------------------------------------------------------------

@bp.route("/studies/<int:study_id>/units", methods=["POST"])
@coordinator_required
def add_units(study_id: int):
    db = db_session()
    s = _study(study_id)
    form = request.form
    chosen = _chosen_recordings(db, s)
    if not chosen:
        flash("Choose the recordings to cut into units.", "error")
        return _back(s, "units")
    keys = [k for k in form.getlist("instrument") if k]
    known = {i.key for i in instruments.newest(db)}
    if set(keys) - known:
        abort(400)
    made, skipped = 0, []
    try:
        minutes = float(form["minutes"]) if form.get("minutes") else None
        context = float(form.get("context") or 120)
    except ValueError:
        flash("Minutes and context must be numbers.", "error")
        return _back(s, "units")
    for rec in chosen:
        try:
            spans = units.plan(rec, form.get("how", "whole"), minutes, form.get("pattern", "").strip() or None,
                               context)
        except ValueError as exc:
            skipped.append(f"{rec.original_name}: {exc}")
            continue
        made += len(units.add(db, rec, spans, current_user, keys, calibration=bool(form.get("calibration"))))
    db.commit()
    flash(f"{made} rating unit(s) added" + (f" for {', '.join(keys)}" if keys else "") + "."
          + (" Skipped: " + "; ".join(skipped) if skipped else ""), "error" if skipped else "message")
    return _back(s, "units")


@bp.route("/units/<int:unit_id>", methods=["POST"])
@coordinator_required
def edit_unit(unit_id: int):
    """Mark or unmark a calibration unit."""
    db = db_session()
    unit = db.get(RatingUnit, unit_id)
    if unit is None or not unit.live:
        abort(404)
    s = check_row(unit)
    action = request.form.get("action")
    if action == "calibration":
        unit.calibration = not unit.calibration
        audit(db, "calibration" if unit.calibration else "not_calibration", unit, current_user, reason=_reason())
        flash(f"Unit {unit.id} is {'now' if unit.calibration else 'no longer'} a calibration unit.")
    else:
        abort(400)
    db.commit()
    return _back(s, "units")


# --- raters ------------------------------------------------------------------------------------------------

@bp.route("/raters", methods=["GET", "POST"])
@coordinator_required
def raters():
    db = db_session()
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = generate_password()
        try:
            user = create_user(db, username, password, "rater", request.form.get("display_name", "").strip())
            audit(db, "create", user, current_user, username=username, role="rater")
            db.commit()
            flash(f"Rater {username} created. Give them the user name and this one-time password: {password} "
                  "(it is stored only hashed and shown only now).", "credentials")
        except AccountError as exc:
            db.rollback()
            flash(f"Not created: {exc}", "error")
        return redirect(url_for("coordinate.raters"))
    return render_template("raters.html", workload=progress.raters_workload(db, access.study_ids(db, current_user)))


@bp.route("/raters/<int:user_id>", methods=["POST"])
@coordinator_required
def rater(user_id: int):
    db = db_session()
    user = db.get(User, user_id)
    if user is None or user.role != "rater":
        abort(404)
    action = request.form.get("action")
    reason = _reason()
    try:
        if action in ("deactivate", "reassign"):
            if not reason:
                raise designs.DesignError("give a reason (it goes to the audit trail)")
            mine = access.study_ids(db, current_user)
            moved = designs.reassign(db, user, current_user, reason, request.form.getlist("to") or None, mine) \
                if action == "reassign" or request.form.get("reassign") else []
            if action == "deactivate":
                elsewhere = len(designs.open_assignments(db, user)) - len(designs.open_assignments(db, user, mine))
                if elsewhere:
                    raise designs.DesignError(f"{user.username} has {elsewhere} unrated assignment(s) in studies "
                                              "you do not coordinate; their coordinators must move them first")
                set_active(db, user, False, current_user, reason)
            flash((f"{user.username} deactivated; their ratings stay. " if action == "deactivate" else "")
                  + (f"{len(moved)} unrated assignment(s) moved to "
                     f"{', '.join(sorted({r for _u, r in moved}))}." if moved else ""))
        elif action == "activate":
            set_active(db, user, True, current_user, reason)
            flash(f"{user.username} can log in again.")
        else:
            abort(400)
        db.commit()
    except designs.DesignError as exc:
        db.rollback()
        flash(f"Not done: {exc}", "error")
    return redirect(url_for("coordinate.raters"))


# --- assignment designs --------------------------------------------------------------------------------------

@bp.route("/studies/<int:study_id>/designs", methods=["POST"])
@coordinator_required
def make_design(study_id: int):
    db = db_session()
    s = _study(study_id)
    form = request.form
    instrument = next((i for i in instruments.newest(db) if i.key == form.get("instrument")), None)
    if instrument is None:
        flash("Choose an instrument.", "error")
        return _back(s, "assign")
    try:
        overlap = float(form.get("overlap") or 0) / 100
        coders = int(form.get("coders") or 2)
        seed = int(form.get("seed") or 0)
        due = designs.due_end_of(dt.date.fromisoformat(form["due"])) if form.get("due") else None
    except ValueError:
        flash("The fraction, raters per unit and seed must be numbers, and the due date YYYY-MM-DD.", "error")
        return _back(s, "assign")
    try:
        design = designs.create(db, s, instrument, form.get("kind", "overlap"), form.getlist("rater"), current_user,
                                overlap=overlap, coders=coders, seed=seed, due=due, reason=_reason())
        db.commit()
        summ = design.summary
        flash(f"Design {design.id} ({design.kind}, seed {design.seed}): {summ['added']} assignment(s) over "
              f"{summ['units']} unit(s), {summ['multiply_coded']} coded by more than one rater; per rater "
              + ", ".join(f"{r} {n}" for r, n in summ["per_rater"].items()) + ".")
    except designs.DesignError as exc:
        db.rollback()
        flash(f"No assignments made: {exc}", "error")
    return _back(s, "assign")


# --- dashboard ---------------------------------------------------------------------------------------------------

@bp.route("/studies/<int:study_id>/dashboard")
@coordinator_required
def dashboard(study_id: int):
    db = db_session()
    s = _study(study_id)
    keys = progress.instrument_keys(db, s)
    return render_template("dashboard.html", study=s, work=progress.work(db, s), processing=progress.processing(db, s),
                           reliability=progress.reliability(db, s), flags=cal.flags(db, s, keys),
                           now=utcnow())


# --- calibration ---------------------------------------------------------------------------------------------

@bp.route("/studies/<int:study_id>/calibration", methods=["GET", "POST"])
@coordinator_required
def calibration(study_id: int):
    db = db_session()
    s = _study(study_id)
    if request.method == "POST":
        form = request.form
        try:
            cal.save_settings(db, s, current_user, form.get("statistic", "within_one"),
                              float(form.get("threshold", 0.8)), int(form.get("window", 5)),
                              form.get("master", "").strip(), _reason())
        except (ValueError, cal.CalibrationError) as exc:
            db.rollback()
            flash(f"Not saved: {exc}", "error")
            return redirect(url_for("coordinate.calibration", study_id=s.id))
        db.commit()
        flash("Calibration settings saved.")
        return redirect(url_for("coordinate.calibration", study_id=s.id))
    keys = progress.instrument_keys(db, s)
    reports = [cal.agreement(db, s, key) for key in keys]
    raters_all = db.scalars(select(User).where(User.role == "rater").order_by(User.username)).all()
    n_units = len(designs.study_units(db, s, calibration=True))
    return render_template("calibration.html", study=s, reports=reports, conf=cal.settings_of(s),
                           master=(s.settings or {}).get("gold_standard"), raters=raters_all, n_units=n_units,
                           statistics=cal.STATISTICS)


# --- consensus ------------------------------------------------------------------------------------------------

@bp.route("/studies/<int:study_id>/consensus")
@coordinator_required
def consensus(study_id: int):
    db = db_session()
    s = _study(study_id)
    return render_template("consensus.html", study=s, entries=discrepancies(db, s))


def _number(raw: str) -> Any:
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        return raw  # refused with the reason by the instrument's checks


@bp.route("/studies/<int:study_id>/consensus/<int:unit_id>/<int:instrument_id>", methods=["GET", "POST"])
@coordinator_required
def consensus_unit(study_id: int, unit_id: int, instrument_id: int):
    db = db_session()
    s = _study(study_id)
    entry = next((e for e in discrepancies(db, s) if e["unit"].id == unit_id and e["instrument"].id == instrument_id),
                 None)
    if entry is None:
        abort(404)
    instrument, definition, ratings = entry["instrument"], entry["definition"], entry["ratings"]
    existing = entry["consensus"]
    if request.method == "POST":
        responses: dict[str, Any] = {}
        for item in definition.items:
            raw = request.form.get(f"item-{item.id}", "").strip()
            if raw:
                responses[item.id] = _number(raw)
        markers = {m.id: _number(request.form.get(f"marker-{m.id}", "").strip()) for m in definition.markers
                   if request.form.get(f"marker-{m.id}", "").strip()}
        if markers:
            responses[MARKERS] = markers
        note = request.form.get("note", "").strip()[:2000]
        chosen = [int(i) for i in request.form.getlist("rating") if i.isdigit()] or [r.id for _a, r in ratings]
        try:
            record_consensus(db, entry["unit"], instrument, responses, current_user, chosen, note)
            db.commit()
            flash("Consensus recorded beside the independent ratings, which stay as they were.")
            return redirect(url_for("coordinate.consensus", study_id=s.id))
        except ConsensusError as exc:
            db.rollback()
            flash(f"Not recorded: {exc}", "error")
    return render_template("consensus_unit.html", study=s, entry=entry, definition=definition, ratings=ratings,
                           existing=existing, form=request.form if request.method == "POST" else None)


# --- audit trail ---------------------------------------------------------------------------------------------

AUDIT_PAGE = 200


@bp.route("/audit")
@coordinator_required
def audit_trail():
    db = db_session()
    # a coordinator's studies' events, account events (raters serve every study), and their own actions
    mine = (AuditEvent.study_id.in_(access.study_ids(db, current_user)) | (AuditEvent.entity == "users")
            | ((AuditEvent.study_id.is_(None)) & (AuditEvent.actor_id == current_user.id)))
    stmt = select(AuditEvent).where(mine).options(selectinload(AuditEvent.actor)).order_by(AuditEvent.id.desc())
    entity, action, actor = request.args.get("entity"), request.args.get("action"), request.args.get("actor")
    if entity:
        stmt = stmt.where(AuditEvent.entity == entity)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor:
        stmt = stmt.join(User, AuditEvent.actor_id == User.id).where(User.username == actor)
    before = request.args.get("before", type=int)
    if before:
        stmt = stmt.where(AuditEvent.id < before)
    events = db.scalars(stmt.limit(AUDIT_PAGE)).all()
    if request.args.get("format") == "csv":
        return _audit_csv(db, stmt)
    entities = sorted(db.scalars(select(AuditEvent.entity).where(mine).distinct()))
    actions = sorted(db.scalars(select(AuditEvent.action).where(mine).distinct()))
    return render_template("audit.html", events=events, entities=entities, actions=actions,
                           args=request.args, page=AUDIT_PAGE)


def _audit_csv(db, stmt):
    import csv
    import json

    from flask import Response

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "at", "actor", "action", "entity", "entity_id", "detail"])
    for e in db.scalars(stmt.limit(None)):
        w.writerow([e.id, e.at.isoformat(), e.actor.username if e.actor else "", e.action, e.entity, e.entity_id,
                    json.dumps(e.detail, ensure_ascii=False, default=str)])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=audit.csv"})
