"""``coder reliability``: inter-rater reliability of a CSV of ratings, or the full report on a study's stored
ratings (``--study``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from coder.cli.common import fail, json_text, open_database, study_named
from coder.stats.agreement import WEIGHTS
from coder.stats.reliability import LEVELS, ReliabilityError, summary


@click.command("reliability")
@click.argument("ratings_csv", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--target", help="Column naming the rated unit.")
@click.option("--rater", help="Column naming the rater.")
@click.option("--score", help="Column holding the score.")
@click.option("--level", type=click.Choice(LEVELS), default="interval", show_default=True,
              help="Level of measurement for Krippendorff's alpha (nominal adds Fleiss' kappa).")
@click.option("--weights", type=click.Choice(WEIGHTS),
              help="Agreement weights of Cohen's kappa (two raters), Gwet's AC2 and percent agreement "
                   "(default: none, which gives AC1).")
@click.option("--categories", help="The scale's points, comma-separated (e.g. 1,2,3,4,5,6,7), so that points "
              "nobody used still count in kappa, AC and their weights (default: the scores observed).")
@click.option("--bootstrap", "n_boot", default=1000, show_default=True, type=int,
              help="Bootstrap samples for alpha's interval (0: none).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--study", help="Report on the stored ratings of this study instead of a CSV.")
@click.option("--instrument", "instrument_key", help="With --study: the instrument's key[:version].")
@click.option("--gold", help="With --study: the gold-standard rater (default: the study's, if set).")
@click.option("--measure", default="total", show_default=True,
              help="With --study: the measure for drift (total, subscale:ID or item:ID).")
@click.option("--periods", default=4, show_default=True, type=int, help="With --study: periods for drift.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="With --study: write reliability.json and "
              "reliability.csv here.")
@click.pass_context
def reliability_cmd(ctx, ratings_csv, target, rater, score, level, weights, categories, n_boot, seed, as_json,
                    study, instrument_key, gold, measure, periods, out_dir):
    """Inter-rater reliability of RATINGS_CSV (long format: one row per target × rater score), or with
    --study and --instrument the full report on a study's submitted ratings."""
    if study and ratings_csv:
        fail("give either RATINGS_CSV or --study, not both")
    if study:
        if categories:
            fail("--categories applies to RATINGS_CSV; a study's ratings use the instrument's own points")
        study_report(ctx, study, instrument_key, level, weights, gold, measure, periods, n_boot, seed, as_json,
                     out_dir)
    else:
        csv_report(ratings_csv, target, rater, score, level, weights, _points(categories), n_boot, seed, as_json)


def _points(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"--categories must be numbers separated by commas, not {text!r}")


def csv_report(path: str | None, target: str | None, rater: str | None, score: str | None, level: str,
               weights: str | None, categories: list[float] | None, n_boot: int, seed: int, as_json: bool) -> None:
    """Every statistic the ratings in the CSV at ``path`` allow, as JSON or as text."""
    if not path or not (target and rater and score):
        fail("give RATINGS_CSV with --target, --rater and --score (or --study with --instrument)")
    try:
        result = summary(_read_csv(path), target, rater, score, level, weights, n_boot, seed, categories)
    except ReliabilityError as exc:
        fail(f"{path}: {exc}")
    if as_json:
        click.echo(json_text(result))
        return
    click.echo(f"{result['n_targets']} targets, {result['n_raters']} raters, {result['n_ratings']} ratings")
    _echo_iccs(result)
    _echo_alpha(result["krippendorff_alpha"], level)
    _echo_agreement(result)


def _read_csv(path: str):
    import pandas as pd

    try:
        data = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        fail(f"{path}: not a readable CSV ({' '.join(str(exc).split())[:200]})")
    # errors name the file's line (the header is line 1; a row is one line)
    data.index = pd.RangeIndex(2, len(data) + 2, name="line")
    return data


def _echo_iccs(result: dict[str, Any]) -> None:
    if not result["icc"]:
        click.echo(f"ICC: {result['icc_reason']}")
        return
    for name, f in result["icc"].items():
        if f is None:
            click.echo(f"{name:9s} not estimable in this design")
            continue
        test = f"F({f['df1']:g}, {f['df2']:g}) = {f['F']:.2f}, p = {f['p']:.4g}  " if f["F"] is not None else ""
        if f.get("F_reason"):
            test = "F infinite (no error variance)  "
        label = f"{f['name']} (k̂ = {f['k']:.2f})" if f.get("name") else name
        if f.get("shrout_fleiss") and f["shrout_fleiss"] != name:
            label += f" = {f['shrout_fleiss']}"
        click.echo(f"{label:9s} {f['value']:7.3f}  95% CI [{f['ci95'][0]:.3f}, {f['ci95'][1]:.3f}]  "
                   f"{test}({f['model']}, {f['type']}, {f['definition']})")
    click.echo(result["icc_estimator"])


def _echo_alpha(alpha: dict[str, Any], level: str) -> None:
    if alpha["value"] is None:
        click.echo(f"Krippendorff's alpha: {alpha['reason']}")
        return
    ci = f"  95% CI [{alpha['ci95'][0]:.3f}, {alpha['ci95'][1]:.3f}]" if alpha.get("ci95") else ""
    click.echo(f"Krippendorff's alpha ({level}) {alpha['value']:.3f}{ci}  ({alpha['n_units']} units, "
               f"{alpha['n_ratings']} ratings)")
    if alpha.get("warning"):
        click.echo(f"  warning: {alpha['warning']}")


def _echo_agreement(result: dict[str, Any]) -> None:
    for key in ("fleiss_kappa", "weighted_kappa", "gwet_ac", "percent_agreement"):
        if key not in result:
            continue
        entry = result[key]
        label = entry.get("statistic") or {"fleiss_kappa": "Fleiss' kappa", "weighted_kappa": "Cohen's kappa",
                                           "gwet_ac": "Gwet's AC", "percent_agreement": "percent agreement"}[key]
        if entry.get("weights"):
            label += f" ({entry['weights']} weights)"
        if entry["value"] is None:
            click.echo(f"{label}: {entry['reason']}")
            continue
        text = f"{label} {entry['value']:.3f}"
        if entry.get("se") is not None:
            text += f"  SE {entry['se']:.3f}  95% CI [{entry['ci95'][0]:.3f}, {entry['ci95'][1]:.3f}]"
        click.echo(f"{text}  ({entry['n_units']} units, {entry['n_ratings']} ratings)")


def study_report(ctx: click.Context, study_name: str, instrument_key: str | None, level: str, weights: str | None,
                 gold: str | None, measure: str, periods: int, n_boot: int, seed: int, as_json: bool,
                 out_dir: str | None) -> None:
    """The reliability report on the study's submitted ratings of one instrument, as JSON or as text, and in
    ``out_dir`` when given."""
    from coder.reports.reliability_report import build

    if not instrument_key:
        fail("--study needs --instrument KEY[:VERSION]")
    definition, table, gold, coded = _ratings(ctx, study_name, instrument_key, gold)
    report = build(table, definition, study_name, level, gold, measure, periods, n_boot, seed, weights, coded)
    if out_dir:
        _write(report, Path(out_dir))
    if as_json:
        click.echo(json_text(report))
        return
    click.echo(f"{study_name} · {definition.name} v{definition.version}: {report['n_ratings']} ratings of "
               f"{report['n_units']} units by {len(report['raters'])} raters")
    for m in report["measures"]:
        _echo_measure(m)
    if report.get("events"):
        _echo_events(report["events"])
    if out_dir:
        click.echo(f"wrote {Path(out_dir) / 'reliability.json'} and {Path(out_dir) / 'reliability.csv'}")


def _write(report: dict[str, Any], out: Path) -> None:
    from coder.reports.reliability_report import to_rows
    from coder.stats import sheetsafe

    out.mkdir(parents=True, exist_ok=True)
    (out / "reliability.json").write_text(json_text(report))
    sheetsafe.frame(to_rows(report)).to_csv(out / "reliability.csv", index=False)


def _ratings(ctx: click.Context, study_name: str, instrument_key: str, gold: str | None):
    """The instrument's definition, the study's table of submitted ratings on it, the gold-standard rater
    (``gold``, else the study's) and the ratings' markers and events; exit when there are no ratings or the
    gold standard has none."""
    from coder.rating.calibration import master_of
    from coder.rating.events import coded_ratings
    from coder.rating.scores import NoRatings, ratings_table

    key, _, version = instrument_key.partition(":")
    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        try:
            definition, table = ratings_table(db, study, key, version or None)
        except NoRatings as exc:
            fail(str(exc))
        gold = gold or master_of(study)
        coded = coded_ratings(db, study, key, definition.version) if definition.markers else None
    if gold and gold not in set(table["rater"]):
        fail(f"gold-standard rater {gold} has no submitted ratings on {key} in {study_name}")
    return definition, table, gold, coded


def _value(x: float | None, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if x is not None else "–"


def _echo_events(section: dict[str, Any]) -> None:
    """Agreement on the markers: presence pooled and per kind, and the timing of events within the tolerance."""
    click.echo("Markers present per unit (a salience or events placed; \"absent\" or no answer: absent):")
    for label, entry in [("all markers", section["presence"]["pooled"])] + \
            [(k["kind"], k) for k in section["presence"]["kinds"]]:
        if not entry or "n_units" not in entry:
            click.echo(f"  {label:38s} no answers")
            continue
        kappa = entry.get("cohen_kappa") or entry["fleiss_kappa"]
        name = "Cohen's kappa" if "cohen_kappa" in entry else "Fleiss' kappa"
        click.echo(f"  {label:38s} agreement {_value(entry['percent_agreement']['value'])}  AC1 "
                   f"{_value(entry['gwet_ac1']['value'])}  {name} {_value(kappa['value'])}  "
                   f"({entry['n_units']} unit × marker rows, {entry['n_present']} of {entry['n_ratings']} present)")
    timing = section.get("timing")
    if not timing:
        return
    pairs = f"{timing['n_pairs']} rater pair" + ("" if timing["n_pairs"] == 1 else "s")
    click.echo(f"Event timing: starts within ±{section['tolerance_s']:g} s match; agreement 2m/(n_a + n_b), the "
               f"mean over {pairs}:")
    for label, entry in [("all codes", timing["overall"])] + [(k["kind"], k) for k in timing["kinds"]] + \
            [(c["code"], c) for c in timing["codes"] if c["n_events"]]:
        onset = entry["mean_onset_difference"]
        click.echo(f"  {label:38s} {_value(entry['value'])}  ({entry['n_events']} events, {entry['matched']} "
                   f"matched" + (f", mean onset difference {onset:.2f} s)" if onset is not None else ")"))


def _echo_measure(m: dict[str, Any]) -> None:
    a1 = (m.get("icc") or {}).get("ICC(A,1)")
    alpha = m["krippendorff_alpha"]["value"]
    icc_text = f"{a1['value']:.3f} [{a1['ci95'][0]:.2f}, {a1['ci95'][1]:.2f}] {a1['interpretation']}" if a1 else "–"
    click.echo(f"{m['label'][:40]:40s} ICC(A,1) {icc_text}  alpha " + (f"{alpha:.3f}" if alpha is not None else "–"))


COMMANDS = (reliability_cmd,)
