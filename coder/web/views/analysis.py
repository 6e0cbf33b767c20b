"""Aggregation and analysis in the web app (coordinators only): client variables, ratings made elsewhere, the
analysis tables, running models and reading stored analyses."""
from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.jobs import queue as job_queue
from coder.rating import ratings_import
from coder.reports import aggregation, analysis, analysis_output, outcomes
from coder.stats import sheetsafe
from coder.study import access, instruments, measures
from coder.study.models import Analysis, Study
from coder.web import jsonapi
from coder.web.database import db_session
from coder.web.guards import coordinated_row, coordinated_study, coordinator_required

bp = Blueprint("analysis", __name__)
MIME = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "sav": "application/x-spss-sav", "dta": "application/x-stata-dta"}
MEASURE_ROWS = 50  # recordings whose key measures the study page lists


def _rule(args) -> aggregation.Rule:
    try:
        return aggregation.Rule(unit=args.get("unit", "mean") or "mean", dyad=args.get("dyad", "mean") or "mean")
    except aggregation.AggregationError as exc:
        abort(400, str(exc))


def _tables(study: Study, rule: aggregation.Rule) -> aggregation.Tables | None:
    try:
        return aggregation.aggregate(db_session(), study, rule)
    except aggregation.AggregationError:
        return None


def _flash_refusal(exc) -> None:
    """Why a file was refused (``coder.study.refusal.FileRefused``): its first twelve problems."""
    more = f" · and {len(exc.problems) - 12} more" if len(exc.problems) > 12 else ""
    flash(f"{exc.source}: nothing imported. " + " · ".join(exc.problems[:12]) + more, "error")


@bp.route("/analysis")
@coordinator_required
def index():
    studies = access.visible_studies(db_session(), current_user)
    return render_template("analysis_index.html", studies=studies)


@bp.route("/analysis/<int:study_id>")
@coordinator_required
def study_page(study_id: int):
    study = coordinated_study(study_id)
    rule = _rule(request.args)
    db = db_session()
    tables = _tables(study, rule)
    clients = outcomes.client_table(db, study)
    analyses = analysis.stored(db, study)
    kinds = outcomes.variable_kinds(clients)
    numeric = [c for c, kind in kinds.items() if kind == "numeric"]
    recordings = measures.study_recordings(db, study)
    looked = [measures.measures_and_state(db, r) for r in recordings]
    states = [s for _figures, s, _error in looked]
    shown = [(r, s, figures, error if s == "failed" else None)
             for r, (figures, s, error) in zip(recordings[:MEASURE_ROWS], looked)]
    return render_template("analysis_study.html", study=study, rule=rule, tables=tables, clients=clients,
                           kinds=kinds, numeric=numeric, analyses=analyses, instruments=instruments.versions(db),
                           formats=aggregation.FORMATS, levels=aggregation.LEVELS,
                           measure_states={s: states.count(s) for s in measures.STATES if s in states},
                           measure_rows=shown, more_recordings=max(0, len(recordings) - MEASURE_ROWS))


@bp.route("/analysis/<int:study_id>/measures", methods=["POST"])
@coordinator_required
def queue_measures(study_id: int):
    """Queue the measures jobs of the study's transcribed recordings whose measures are missing, stale or failed."""
    study = coordinated_study(study_id)
    chosen = [r.id for r in measures.needing_measures(db_session(), study)]
    job_queue.enqueue_measures(chosen, current_app.extensions["coder.huey"])
    flash(f"{len(chosen)} recording(s) queued for their session process measures." if chosen
          else "Every transcribed recording's measures are current.", "ok")
    return redirect(url_for("analysis.study_page", study_id=study.id) + "#measures")


@bp.route("/analysis/<int:study_id>/outcomes", methods=["POST"])
@coordinator_required
def import_outcomes(study_id: int):
    study = coordinated_study(study_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV file of client variables.", "error")
        return redirect(url_for("analysis.study_page", study_id=study.id))
    db = db_session()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(upload.filename).name
        upload.save(path)
        try:
            report = outcomes.import_csv(db, study, path, actor=current_user)
        except outcomes.OutcomeError as exc:
            db.rollback()
            _flash_refusal(exc)
            return redirect(url_for("analysis.study_page", study_id=study.id))
    db.commit()
    flash(f"Imported {report.values} values of {report.clients} clients ({', '.join(report.variables)}).", "ok")
    return redirect(url_for("analysis.study_page", study_id=study.id))


@bp.route("/analysis/<int:study_id>/ratings", methods=["POST"])
@coordinator_required
def import_ratings(study_id: int):
    """Ratings made elsewhere, from a CSV or Excel file (coder.rating.ratings_import); a dry run only checks."""
    study = coordinated_study(study_id)
    back = redirect(url_for("analysis.study_page", study_id=study.id) + "#ratings-import")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV or Excel file of ratings.", "error")
        return back
    db = db_session()
    key, _, version = request.form.get("instrument", "").partition(":")
    instrument = instruments.find(db, key, version or None)
    if instrument is None:
        flash("Choose the instrument the ratings were made on.", "error")
        return back
    layout = request.form.get("layout") or None
    if layout not in (None, *ratings_import.LAYOUTS):
        abort(400, "layout must be long or wide")
    dry_run, register = bool(request.form.get("dry_run")), bool(request.form.get("register"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(upload.filename).name
        upload.save(path)
        try:
            report = ratings_import.import_ratings(db, study, instrument, path, current_user, layout, dry_run,
                                                   register)
        except ratings_import.RatingsImportError as exc:
            db.rollback()
            _flash_refusal(exc)
            return back
    if dry_run:
        db.rollback()
    else:
        db.commit()
    flash(f"{report.source} ({report.layout}, {report.instrument}): {'would import' if dry_run else 'imported'} "
          f"{report.created} ratings"
          + (f", {report.dyads_registered} new dyads" if report.dyads_registered else "")
          + (f", {report.sessions_registered} new sessions without a recording" if report.sessions_registered else "")
          + (f", {report.units_created} new units" if report.units_created else "")
          + (f"; {report.unchanged} already here, unchanged" if report.unchanged else "")
          + (f"; {report.missing_responses} items left empty" if report.missing_responses else "") + ".", "ok")
    return back


@bp.route("/analysis/<int:study_id>/tables/<name>.<fmt>")
@coordinator_required
def table_file(study_id: int, name: str, fmt: str):
    """One table (long, units, sessions, dyads, codebook) as CSV, SPSS or Stata, or every table as Excel."""
    study = coordinated_study(study_id)
    if fmt not in aggregation.FORMATS or (name not in (*aggregation.LEVELS, "codebook", "tables")) \
            or (name == "tables") != (fmt == "xlsx") or (name == "codebook" and fmt != "csv"):
        abort(404)
    tables = _tables(study, _rule(request.args))
    if tables is None:
        abort(404)
    with tempfile.TemporaryDirectory() as tmp:
        written = aggregation.write(tables, tmp, (fmt,))
        path = next(p for p in written if p.name == f"{name}.{fmt}")
        body = path.read_bytes()
    return jsonapi.attachment(body, MIME[fmt], f"{study.name}-{name}.{fmt}".replace(" ", "_"))


def _spec_from_form(form) -> analysis.Spec:
    changes = []
    for i in range(3):
        pre, post = form.get(f"pre{i}", ""), form.get(f"post{i}", "")
        if pre and post:
            changes.append(analysis.Change(form.get(f"name{i}") or f"outcome{i + 1}", pre, post))
    session_models = [analysis.SessionModel(o, form.getlist("session_predictors"), form.getlist("session_covariates"))
                      for o in form.getlist("session_outcomes")]
    return analysis.Spec(changes=changes, predictors=form.getlist("predictors"), covariates=form.getlist("covariates"),
                         session_models=session_models, rule=_rule(form), title=form.get("title", "").strip())


@bp.route("/analysis/<int:study_id>/run", methods=["POST"])
@coordinator_required
def run(study_id: int):
    study = coordinated_study(study_id)
    spec = _spec_from_form(request.form)
    db = db_session()
    try:
        row, _results, _tables = analysis.run(db, study, spec, actor=current_user)
    except (analysis.AnalysisError, aggregation.AggregationError) as exc:
        db.rollback()
        flash(f"The analysis did not run: {exc}", "error")
        return redirect(url_for("analysis.study_page", study_id=study.id, unit=spec.rule.unit, dyad=spec.rule.dyad))
    db.commit()
    return redirect(url_for("analysis.result", analysis_id=row.id))


@bp.route("/analysis/result/<int:analysis_id>")
@coordinator_required
def result(analysis_id: int):
    row, _study = coordinated_row(Analysis, analysis_id)
    results = analysis.rerun(row)  # the fits for the plots, from the stored snapshot
    return render_template("analysis.html", row=row, study=row.study, results=row.results,
                           meta=analysis_output.record(row), figures=analysis_output.figures(results, row.data),
                           same=analysis.public(results) == row.results)


@bp.route("/analysis/result/<int:analysis_id>/<name>.<fmt>")
@coordinator_required
def result_file(analysis_id: int, name: str, fmt: str):
    row, _study = coordinated_row(Analysis, analysis_id)
    filename = f"analysis-{row.id}-{name}.{fmt}"
    if (name, fmt) == ("results", "csv"):
        body, mime = analysis_output.rows_csv(row.results), "text/csv"
    elif (name, fmt) == ("results", "json"):
        body = json.dumps({**analysis_output.record(row), "results": row.results}, indent=1, default=str)
        mime = "application/json"
    elif (name, fmt) == ("results", "html"):
        results = analysis.rerun(row)
        body = analysis_output.render(results, analysis_output.record(row),
                                      analysis_output.figures(results, row.data))
        mime = "text/html"
    elif name in ("dyads", "sessions") and fmt == "csv":
        buffer = io.StringIO()
        sheetsafe.frame(analysis.frames(row.data)[0 if name == "dyads" else 1]).to_csv(buffer, index=False)
        body, mime = buffer.getvalue(), "text/csv"
    else:
        abort(404)
    return jsonapi.attachment(body, mime, filename)
