"""An analysis as a reader sees it: results tables, plots, and the files ``coder analyze`` writes.

Written to the output folder (and offered by the web page for a stored analysis):

  results.csv     one row per coefficient of every model, with the model's n, R² and formula
  results.json    the specification, formulas, data SHA-256, software versions and every figure
  results.html    a standalone page with the tables and plots (no scripts, nothing fetched)
  data/dyads.csv, data/sessions.csv   the snapshot the models were fitted to
  plots/*.svg     partial regression plots and per-dyad trajectories
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from coder.reports import analysis
from coder.stats import plots, sheetsafe
from coder.stats.regression import partial_regression

RESULT_COLUMNS = ["outcome", "model", "kind", "term", "role", "estimate", "se", "statistic", "p", "p_holm", "p_bh",
                  "ci_low", "ci_high", "beta", "beta_ci_low", "beta_ci_high", "partial_r2", "f2", "n", "groups", "r2",
                  "adj_r2", "model_f2", "formula", "note"]


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value != value:
            return "—"
        if abs(value) >= 1e5 or (value != 0 and abs(value) < 1e-3):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_p(value: float | None) -> str:
    if value is None:
        return "—"
    return "< .001" if value < 0.001 else f"{value:.3f}".lstrip("0")


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "-", text).strip("-").lower()[:80]


def figures(results: dict[str, Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Partial regression plots of each numeric predictor in every change model, and per-dyad trajectories
    of each rating scale the analysis uses, from the data snapshot. Needs results with their fits
    (``analysis.fit``)."""
    _dyads, sessions = analysis.frames(data)
    scales = data["variables"]["scales"]
    out = []
    for change in results["changes"]:
        for model in change["models"]:
            for coef in model["coefficients"]:
                term = coef["term"]
                if term == "Intercept" or term.startswith("C(") or term == change["pre"]:
                    continue
                x, y = partial_regression(model, term)
                title = f"{change['outcome']}, {model['kind']}: {term}"
                out.append({"name": f"partial-{_slug(change['outcome'])}-{model['kind']}-{_slug(term)}",
                            "title": title, "kind": "partial regression",
                            "svg": plots.partial_regression(x, y, coef["estimate"], title, f"{term} | others",
                                                            f"{model['outcome']} | others")})
    variables = []
    for change in results["changes"]:
        variables += [t for t in change["models"][0]["terms"] if t in sessions.columns]
    for model in results["session_models"]:
        variables += [model["outcome"]] + [c["term"].removesuffix("_within") for c in model["coefficients"]
                                           if c["term"].endswith("_within")]
    for variable in dict.fromkeys(variables):
        if variable not in scales or variable not in sessions.columns:
            continue
        series = {dyad: list(zip(part["session"].astype(float), part[variable].astype(float)))
                  for dyad, part in sessions.dropna(subset=[variable]).groupby("dyad")}
        if series:
            title = f"{variable} per session, one line per dyad"
            out.append({"name": f"trajectories-{_slug(variable)}", "title": title, "kind": "trajectories",
                        "svg": plots.trajectories(series, title, "session", variable)})
    return out


def rows_csv(results: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in analysis.table_rows(results):
        writer.writerow({k: sheetsafe.cell("" if row.get(k) is None else row.get(k)) for k in RESULT_COLUMNS})
    return buffer.getvalue()


def record(row) -> dict[str, Any]:
    """What a stored analysis says about itself: id, time, study, spec and its aggregation rule, formulas,
    data SHA-256, versions."""
    created = row.created_at.isoformat(sep=" ", timespec="seconds") if row.created_at else None
    return {"analysis_id": row.id, "created_at": created, "study": row.study.name, "title": row.title,
            "spec": row.spec, "aggregation": analysis.Spec.from_dict(row.spec).rule.describe(),
            "formulas": row.formulas, "data_sha256": row.data_sha256, "versions": row.versions}


def unstored_record(study_name: str, spec: analysis.Spec, results: dict[str, Any],
                    data: dict[str, Any]) -> dict[str, Any]:
    """What an analysis that was not stored says about itself: ``record`` without an id and a time."""
    return {"study": study_name, "spec": spec.as_dict(), "aggregation": spec.rule.describe(),
            "formulas": analysis.formulas(results), "data_sha256": analysis.digest(data),
            "versions": analysis.versions()}


def render(results: dict[str, Any], meta: dict[str, Any], figs: list[dict[str, Any]], standalone: bool = True) -> str:
    env = Environment(loader=PackageLoader("coder.reports"), autoescape=select_autoescape(["html"]))
    env.filters.update(fmt=fmt, fmt_p=fmt_p)
    template = env.get_template("analysis_standalone.html" if standalone else "analysis_body.html")
    return template.render(results=analysis.public(results), meta=meta, figures=figs)


def write(out_dir: str | Path, results: dict[str, Any], meta: dict[str, Any], data: dict[str, Any]) -> list[Path]:
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    dyads, sessions = analysis.frames(data)
    figs = figures(results, data)
    written = []

    def put(name: str, text: str) -> None:
        path = out / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)

    put("results.csv", rows_csv(results))
    put("results.json", json.dumps({**meta, "results": analysis.public(results)}, indent=2, default=str))
    put("results.html", render(results, meta, figs))
    put("data/dyads.csv", sheetsafe.frame(dyads).to_csv(index=False))
    put("data/sessions.csv", sheetsafe.frame(sessions).to_csv(index=False))
    for fig in figs:
        put(f"plots/{fig['name']}.svg", str(fig["svg"]))
    return written
