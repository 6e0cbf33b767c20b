"""Client variables, aggregation and process-outcome analysis: ``coder outcomes``, ``coder aggregate`` and
``coder analyze``."""
from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from coder.cli.common import fail, open_database, refused, study_named


def _rule(unit: str, dyad: str):
    from coder.reports.aggregation import AggregationError, Rule

    try:
        return Rule(unit=unit, dyad=dyad)
    except AggregationError as exc:
        fail(str(exc))


RULE_OPTIONS = [
    click.option("--unit", "unit_rule", default="mean", show_default=True,
                 help="Rating → unit: mean (over raters), consensus, or rater:NAME."),
    click.option("--dyad", "dyad_rule", default="mean", show_default=True,
                 help="Session → dyad: mean, first, last, session:N, or slope."),
    click.option("--instrument", "instrument_keys", multiple=True,
                 help="Only this instrument (repeatable; default: every instrument with ratings)."),
]


def _rule_options(f):
    for option in reversed(RULE_OPTIONS):
        f = option(f)
    return f


@click.group()
def outcomes():
    """Client-level outcomes and covariates (e.g. anxiety before and after treatment, age)."""


def _range(values):
    out = {}
    for text in values:
        name, _, span = text.partition("=")
        low, sep, high = span.partition(":")
        try:
            if not name or not sep:
                raise ValueError
            out[name] = (float(low) if low else None, float(high) if high else None)
        except ValueError:
            fail(f"--range {text}: expected COLUMN=MIN:MAX (either side may be empty)")
    return out


@outcomes.command("import")
@click.argument("csv_path", type=click.Path(dir_okay=False))
@click.option("--study", "study_name", required=True)
@click.option("--categorical", "text_columns", multiple=True, metavar="COLUMN",
              help="A column of categories, not numbers (repeatable; columns with no number are categorical anyway).")
@click.option("--missing", "missing_codes", multiple=True, metavar="CODE",
              help="A missing-value code besides empty cells, NA, N/A, NaN and '.' (e.g. -99; repeatable).")
@click.option("--range", "ranges", multiple=True, metavar="COLUMN=MIN:MAX", help="Allowed range of a column.")
@click.pass_context
def outcomes_import(ctx, csv_path, study_name, text_columns, missing_codes, ranges):
    """Import CSV_PATH: one row per client (column `client`), one column per variable. A file with any
    problem imports nothing; every problem is listed with its row and column."""
    from coder.reports.outcomes import OutcomeError, import_csv
    from coder.study.refusal import MISSING

    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        try:
            report = import_csv(db, study, csv_path, text_columns=tuple(text_columns),
                                missing=MISSING + tuple(missing_codes), ranges=_range(ranges))
        except OutcomeError as exc:
            refused(ctx, exc)
        db.commit()
    kinds = ", ".join(f"{v} ({k})" for v, k in report.kinds.items())
    click.echo(f"imported {report.values} values ({report.missing} missing) of {report.clients} clients: {kinds}"
               + (f"; {report.replaced} replaced earlier values" if report.replaced else ""))


@outcomes.command("show")
@click.option("--study", "study_name", required=True)
@click.pass_context
def outcomes_show(ctx, study_name):
    """Print the study's client variables as CSV."""
    from coder.reports.outcomes import client_table
    from coder.stats import sheetsafe

    with open_database(ctx).session() as db:
        click.echo(sheetsafe.frame(client_table(db, study_named(db, study_name))).to_csv(index=False), nl=False)


@click.command("aggregate")
@click.option("--study", "study_name", required=True)
@_rule_options
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--format", "formats", default="csv,xlsx,sav,dta", show_default=True,
              help="Comma-separated: csv, xlsx, sav (SPSS), dta (Stata).")
@click.pass_context
def aggregate_cmd(ctx, study_name, unit_rule, dyad_rule, instrument_keys, out_dir, formats):
    """Write the long (per rating), unit, session and dyad tables of a study's ratings, with its client
    variables, and a codebook; the aggregation rule is recorded in every table."""
    from coder.reports.aggregation import AggregationError, aggregate, write

    rule = _rule(unit_rule, dyad_rule)
    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        try:
            tables = aggregate(db, study, rule, list(instrument_keys) or None)
            written = write(tables, out_dir, tuple(f.strip() for f in formats.split(",") if f.strip()))
        except AggregationError as exc:
            fail(str(exc))
    click.echo(f"{len(tables.long)} ratings → {len(tables.units)} units → {len(tables.sessions)} sessions → "
               f"{len(tables.dyads)} dyads; rule: {rule.describe()}")
    click.echo(f"wrote {len(written)} files to {out_dir}")


def _change(text: str):
    from coder.reports.analysis import Change

    name, _, span = text.partition("=")
    pre, sep, post = span.partition(":")
    if not (name and pre and sep and post):
        fail(f"--change {text}: expected NAME=PRE:POST, e.g. anxiety=hads_anx_pre:hads_anx_post")
    return Change(name, pre, post)


@click.command("analyze")
@click.option("--study", "study_name", help="The study (not needed with --rerun).")
@click.option("--spec", "spec_path", type=click.Path(exists=True, dir_okay=False),
              help="A JSON or YAML analysis specification (see docs/analysis.md) instead of the options below.")
@click.option("--change", "changes", multiple=True, metavar="NAME=PRE:POST",
              help="A symptom-change outcome from its pre- and post-treatment columns (repeatable).")
@click.option("--predictor", "predictors", multiple=True, metavar="VAR", help="A process variable (repeatable).")
@click.option("--covariate", "covariates", multiple=True, metavar="VAR", help="A covariate (repeatable).")
@click.option("--session-outcome", "session_outcomes", multiple=True, metavar="VAR",
              help="A session-level outcome for a two-level model, sessions in dyads (repeatable).")
@click.option("--session-predictor", "session_predictors", multiple=True, metavar="VAR",
              help="A session-level predictor of the two-level models, split into within and between effects.")
@click.option("--session-covariate", "session_covariates", multiple=True, metavar="VAR",
              help="A covariate of the two-level models (e.g. session, age).")
@click.option("--therapist-level/--no-therapist-level", default=None,
              help="Sessions in dyads in therapists (default: when two or more therapists, one with two or more "
                   "dyads, are in the data).")
@click.option("--random-slopes/--no-random-slopes", default=None,
              help="Random slopes of the within-dyad effects (default: tried where dyads have three or more "
                   "sessions, kept when a likelihood-ratio test supports them).")
@_rule_options
@click.option("--title", default="", help="A title for the stored analysis.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write results.csv, results.json, results.html, the data snapshot and plots here.")
@click.option("--no-store", is_flag=True, help="Do not store the analysis in the database.")
@click.option("--rerun", "rerun_id", type=int, help="Fit stored analysis ID again from its own data snapshot.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def analyze_cmd(ctx, study_name, spec_path, changes, predictors, covariates, session_outcomes, session_predictors,
                session_covariates, therapist_level, random_slopes, unit_rule, dyad_rule, instrument_keys, title,
                out_dir, no_store, rerun_id, as_json):
    """Symptom-change regressions (difference score and residualised change) on process variables and
    covariates, and two-level models of session-level outcomes. Each run is stored with its data snapshot,
    formulas and software versions (unless --no-store), and can be fitted again with --rerun."""
    with open_database(ctx).session() as db:
        if rerun_id is not None:
            _rerun(ctx, db, rerun_id, out_dir, as_json)
            return
        if not study_name:
            fail("give --study (or --rerun ID)")
        if spec_path:
            spec = _spec_file(spec_path)
        else:
            spec = _spec(changes, predictors, covariates, session_outcomes, session_predictors, session_covariates,
                         therapist_level, random_slopes, unit_rule, dyad_rule, instrument_keys, title)
        row, results, data, meta = _run(db, study_named(db, study_name), spec, store=not no_store)
    _report(results, meta, data, out_dir, as_json)
    if row is not None:
        click.echo(f"stored as analysis {row.id} (data SHA-256 {row.data_sha256[:16]}…)", err=as_json)


def _rerun(ctx: click.Context, db, rerun_id: int, out_dir: str | None, as_json: bool) -> None:
    """Fit stored analysis ``rerun_id`` again from its snapshot; exit 1 when the results differ."""
    from coder.reports import analysis, analysis_output
    from coder.study.models import Analysis

    row = db.get(Analysis, rerun_id)
    if row is None:
        fail(f"no analysis {rerun_id}")
    try:
        results = analysis.rerun(row)
    except analysis.AnalysisError as exc:
        fail(str(exc))
    same = analysis.agrees(analysis.public(results), row.results)
    _report(results, analysis_output.record(row), row.data, out_dir, as_json)
    click.echo(f"analysis {row.id} refitted from its snapshot: results "
               + ("identical to the stored ones" if same else "DIFFER from the stored ones"), err=as_json)
    if not same:
        ctx.exit(1)


def _spec(changes, predictors, covariates, session_outcomes, session_predictors, session_covariates,
          therapist_level, random_slopes, unit_rule, dyad_rule, instrument_keys, title):
    """The analysis the options describe."""
    from coder.reports.analysis import SessionModel, Spec

    return Spec(changes=[_change(c) for c in changes], predictors=list(predictors), covariates=list(covariates),
                session_models=[SessionModel(o, list(session_predictors), list(session_covariates), therapist_level,
                                             random_slopes)
                                for o in session_outcomes],
                rule=_rule(unit_rule, dyad_rule), instruments=list(instrument_keys) or None, title=title)


def _spec_file(path: str):
    """The analysis a JSON or YAML specification file describes."""
    from coder.reports.analysis import Spec

    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        fail(f"{path}: not valid JSON/YAML ({' '.join(str(exc).split())[:200]})")
    if not isinstance(data, dict):
        fail(f"{path}: expected a mapping with changes, predictors, covariates, session_models, aggregation")
    return Spec.from_dict(data)


def _run(db, study, spec, store: bool):
    """Fit ``spec`` on the study's data; the stored row (None with ``store`` false), the results, the data
    snapshot and the analysis's record."""
    from coder.reports import analysis, analysis_output
    from coder.reports.aggregation import AggregationError

    try:
        row, results, tables = analysis.run(db, study, spec, store=store)
    except (analysis.AnalysisError, AggregationError) as exc:
        fail(str(exc))
    data = analysis.snapshot(tables)
    meta = analysis_output.record(row) if row else analysis_output.unstored_record(study.name, spec, results, data)
    db.commit()
    return row, results, data, meta


def _report(results, meta, data, out_dir, as_json):
    from coder.reports import analysis, analysis_output

    if out_dir:
        written = analysis_output.write(out_dir, results, meta, data)
        click.echo(f"wrote {len(written)} files to {out_dir}", err=as_json)
    if as_json:
        click.echo(json.dumps({**meta, "results": analysis.public(results)}, indent=2, default=str))
        return
    from coder.reports.analysis_output import fmt

    for change in results["changes"]:
        for m in change["models"]:
            click.echo(f"\n{m['model']}\n  {m['formula']}   n = {m['n']}, R² = {m['r2']:.3f}, "
                       f"adjusted R² = {m['adj_r2']:.3f}, f² = {fmt(m.get('f2'))}")
            _coefficients(m["coefficients"], beta=True)
        click.echo("  " + change["note"])
    for m in results["session_models"]:
        click.echo(f"\n{m['model']}\n  {m['formula']}   {m['n']} sessions in {m['groups']} dyads"
                   + (f" of {m['therapists']} therapists" if m.get("therapists") else ""))
        if not m["converged"]:
            click.echo(f"  did not converge: {m.get('reason', '')}")
            continue
        click.echo(f"  ICC(null) = {fmt(m['icc_null'])}"
                   + (f", therapist share = {fmt(m['icc_therapist_null'])}" if m.get("icc_therapist_null")
                      is not None else ""))
        _coefficients(m["coefficients"], beta=False)
    family = results.get("adjustment")
    if family and family["n_tests"] > 1:
        click.echo(f"\np (Holm) and p (BH): adjusted over {family['n_tests']} tests, {family['description']}")


def _coefficients(rows, beta):
    from coder.reports.analysis_output import fmt, fmt_p

    click.echo(f"  {'term':32s} {'b':>10s} {'SE':>9s} {'p':>7s} {'p Holm':>7s} {'p BH':>7s}  95% CI"
               + ("               β  partial R²" if beta else ""))
    for c in rows:
        adjusted = "".join(f" {fmt_p(c[k]) if c.get(k) is not None else '':>7s}" for k in ("p_holm", "p_bh"))
        click.echo(f"  {c['term'][:32]:32s} {fmt(c['estimate']):>10s} {fmt(c['se']):>9s} {fmt_p(c['p']):>7s}"
                   f"{adjusted}  [{fmt(c['ci_low'])}, {fmt(c['ci_high'])}]"
                   + (f"  {fmt(c['beta'])}  {fmt(c.get('partial_r2'))}" if beta else ""))


COMMANDS = (outcomes, aggregate_cmd, analyze_cmd)
