"""The reliability report in the web app (coordinators only), with CSV and JSON exports."""
from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict

import pandas as pd
from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user

from coder.rating import scores
from coder.rating.calibration import master_of
from coder.rating.events import coded_ratings
from coder.reports import event_export, reliability_report
from coder.stats import agreement, plots, reliability as rel, sheetsafe
from coder.stats.jsonsafe import json_safe
from coder.study import access
from coder.study.models import Study
from coder.web import jsonapi
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

bp = Blueprint("reliability", __name__)

# Reports are recomputed only when the ratings or the options change.
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 16


def _options(study: Study) -> dict:
    args = request.args
    level = args.get("level", "interval")
    if level not in rel.LEVELS:
        abort(400, f"level must be one of {', '.join(rel.LEVELS)}")
    try:
        n_boot = min(max(int(args.get("bootstrap", 1000)), 0), 10000)
        periods = min(max(int(args.get("periods", 4)), 1), 20)
    except ValueError:
        abort(400, "bootstrap and periods must be whole numbers")
    weights = args.get("weights") or None
    if weights is not None and weights not in agreement.WEIGHTS:
        abort(400, f"weights must be one of {', '.join(agreement.WEIGHTS)} (or none)")
    gold = args.get("gold", master_of(study) or "") or None
    return {"level": level, "weights": weights, "n_boot": n_boot, "periods": periods, "gold": gold,
            "focus": args.get("measure", "total"), "version": args.get("version") or None}


def _report(study: Study, key: str, options: dict):
    try:
        instrument, table = scores.ratings_table(db_session(), study, key, options["version"])
    except scores.NoRatings:
        abort(404)
    coded = coded_ratings(db_session(), study, key, instrument.version) if instrument.markers else None
    # events and marker answers can change while the scores stay the same
    coding = hash(json.dumps([(c.rating_id, c.answers, c.events) for c in coded or []], sort_keys=True, default=str))
    fingerprint = (study.id, key, instrument.version, int(pd.util.hash_pandas_object(table, index=False).sum()),
                   coding, tuple(sorted(options.items())))
    with _cache_lock:
        if fingerprint in _cache:
            _cache.move_to_end(fingerprint)
            return instrument, table, _cache[fingerprint]
    result = reliability_report.build(table, instrument, study.name, options["level"], options["gold"],
                                      options["focus"], options["periods"], options["n_boot"],
                                      weights=options["weights"], coded=coded)
    with _cache_lock:
        _cache[fingerprint] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return instrument, table, result


@bp.route("/reliability")
@coordinator_required
def index():
    db = db_session()
    studies = access.visible_studies(db, current_user)
    listing = [(study, scores.instruments_with_ratings(db, study)) for study in studies]
    return render_template("reliability_index.html", listing=listing)


@bp.route("/reliability/<int:study_id>/<key>")
@coordinator_required
def report(study_id: int, key: str):
    study = coordinated_study(study_id)
    options = _options(study)
    instrument, table, result = _report(study, key, options)
    focus = result["focus"]
    data = reliability_report.plot_data(table, focus)
    lo, hi = _range(instrument, table, focus)
    measure = next(m for m in result["measures"] if m["measure"] == focus)
    chart = plots.interval_chart([_icc_a1(m) for m in result["measures"]],
                                 "ICC(A,1) per measure, with 95 % intervals, over Koo & Li's bands")
    heat = plots.heatmap(data["heatmap"]["units"], data["heatmap"]["raters"], data["heatmap"]["values"], lo, hi,
                         f"{measure['label']}: scores by unit and rater")
    bland = [plots.bland_altman(p["means"], p["differences"], p["mean_difference"], p["limits"],
                                f"{p['a']} − {p['b']} (n = {p['n']})") for p in data["bland_altman"]]
    versions = [row.version for row, _n in scores.instruments_with_ratings(db_session(), study) if row.key == key]
    export = {fmt: url_for("reliability.export", study_id=study.id, key=key, fmt=fmt,
                           **{k: v for k, v in request.args.items()}) for fmt in ("csv", "json")}
    event_files = {fmt: url_for("reliability.events_export", study_id=study.id, fmt=fmt, instrument=key,
                                version=instrument.version)
                   for fmt in ("csv", "zip")} if instrument.events else None
    return render_template("reliability.html", study=study, instrument=instrument, report=result, focus=focus,
                           measure=measure, chart=chart, heat=heat, bland=bland, options=options, versions=versions,
                           export=export, event_export=event_files, forms=rel.ICC_FORMS,
                           weight_names=agreement.WEIGHTS)


def _icc_a1(measure: dict) -> tuple:
    """A measure's label, ICC(A,1) and its 95 % interval (None, None where it has none), for the chart."""
    form = (measure.get("icc") or {}).get("ICC(A,1)")
    return (measure["label"], form["value"], form["ci95"]) if form else (measure["label"], None, None)


def _range(instrument, table: pd.DataFrame, focus: str) -> tuple[float, float]:
    """The colour scale's range: the item's scale, the instrument's for mean scores, else the data's."""
    if focus.startswith("item:"):
        scale = instrument.scale_of(instrument.item(focus[len("item:"):]))
    else:
        scale = instrument.scale if instrument.scoring.method == "mean" else None
    if scale is not None:
        return scale.min, scale.max
    values = table[focus].dropna()
    return float(values.min()), float(values.max())


@bp.route("/reliability/<int:study_id>/<key>/export.<fmt>")
@coordinator_required
def export(study_id: int, key: str, fmt: str):
    if fmt not in ("csv", "json"):
        abort(404)
    study = coordinated_study(study_id)
    instrument, _table, result = _report(study, key, _options(study))
    name = f"reliability-{study.name}-{instrument.id}-v{instrument.version}".replace(" ", "_")
    if fmt == "json":
        body = json.dumps(json_safe(result), indent=1, default=str)
        return jsonapi.attachment(body, "application/json", f"{name}.json")
    buffer = io.StringIO()
    sheetsafe.frame(reliability_report.to_rows(result)).to_csv(buffer, index=False)
    return jsonapi.attachment(buffer.getvalue(), "text/csv", f"{name}.csv")


@bp.route("/reliability/<int:study_id>/events.<fmt>")
@coordinator_required
def events_export(study_id: int, fmt: str):
    """The study's coded events (``?instrument=KEY&version=V`` narrows them) as CSV, or as ELAN files in a zip
    archive: submitted, live ratings only (coder.reports.event_export). A study with none gives the CSV's
    header, or an empty archive."""
    if fmt not in ("csv", "zip"):
        abort(404)
    study = coordinated_study(study_id)
    coded = coded_ratings(db_session(), study, request.args.get("instrument") or None,
                          request.args.get("version") or None)
    name = f"events-{study.name}".replace(" ", "_")
    if fmt == "csv":
        return jsonapi.attachment(event_export.csv_text(coded), "text/csv", f"{name}.csv")
    return jsonapi.attachment(event_export.eaf_zip(coded), "application/zip", f"{name}-eaf.zip")
