"""The reliability report of a study's stored ratings on one instrument.

From the table of submitted ratings (``coder.rating.scores.ratings_table``: one row per rating, a column
per measure: each item, keyed; each subscale; the total), ``build`` computes what a trial team reports:
every ICC form and Krippendorff's alpha per measure, the agreement of every rater pair, each
rater against a gold-standard rater, and drift over time; for an instrument with markers, agreement on the
markers (``events_section``: presence per rating unit, and the timing of placed events within the
instrument's tolerance, ``coder.stats.events``). ``to_rows`` flattens
the result into one tidy table for CSV export; the web page and
``coder reliability --study`` show the same figures.

Interpretation bands
- ICC: Koo & Li (2016): below .50 poor, .50–.75 moderate, .75–.90 good, above .90 excellent.
- Krippendorff's alpha: Krippendorff (2004, p. 241): α ≥ .800 reliable, .667 ≤ α < .800 tentative
  conclusions only, below .667 unreliable.
- Kappas: Landis & Koch (1977): below 0 poor, to .20 slight, to .40 fair, to .60 moderate, to .80
  substantial, above .80 almost perfect.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from coder.rating.events import answer_table, events_by_unit
from coder.rating.scores import measures_of
from coder.stats import agreement
from coder.stats import events as event_stats
from coder.stats import reliability as rel
from coder.study.instruments import InstrumentDefinition

ICC_BANDS = ((0.5, "poor"), (0.75, "moderate"), (0.9, "good"), (math.inf, "excellent"))
ALPHA_BANDS = ((0.667, "unreliable"), (0.8, "tentative"), (math.inf, "reliable"))
KAPPA_BANDS = ((0.0, "poor"), (0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial"),
               (math.inf, "almost perfect"))
BANDS = {
    "icc": {"source": "Koo & Li (2016)", "bands": "< .50 poor · .50–.75 moderate · .75–.90 good · > .90 excellent"},
    "alpha": {"source": "Krippendorff (2004)",
              "bands": "< .667 unreliable · .667–.800 tentative conclusions only · ≥ .800 reliable"},
    "kappa": {"source": "Landis & Koch (1977)",
              "bands": "< 0 poor · to .20 slight · to .40 fair · to .60 moderate · to .80 substantial · "
                       "> .80 almost perfect"},
}


def band(value: float | None, bands) -> str | None:
    if value is None or not math.isfinite(value):
        return None
    return next(label for limit, label in bands if value < limit or (limit == math.inf))


class ReportError(ValueError):
    """No report can be made: the study, instrument or ratings are missing; the message says which."""


# --- the report -----------------------------------------------------------------------------------------

def _matrix(table: pd.DataFrame, measure: str) -> pd.DataFrame:
    return table.pivot(index="unit_id", columns="rater", values=measure).astype(float)


def _icc_with_bands(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("icc"):
        for form in part["icc"].values():
            if form:
                form["interpretation"] = band(form["value"], ICC_BANDS)
                lo, hi = form["ci95"]
                form["interval_interpretation"] = " to ".join(dict.fromkeys(
                    b for b in (band(lo, ICC_BANDS), band(hi, ICC_BANDS)) if b)) or None
    return part


def measure_summary(matrix: pd.DataFrame, level: str, n_boot: int, seed: int, weights: str | None = None,
                    categories=None) -> dict[str, Any]:
    """Every statistic of one measure: the ICCs with their bands, Krippendorff's alpha, and the agreement
    coefficients over ``categories`` (the scale's points) with ``weights``."""
    out: dict[str, Any] = {"n_targets": int(matrix.notna().sum(axis=1).gt(0).sum()),
                           "n_raters": int(matrix.notna().any().sum()),
                           "n_ratings": int(matrix.notna().sum().sum()),
                           "double_coded": int((matrix.notna().sum(axis=1) >= 2).sum())}
    out.update(_icc_with_bands(rel.icc_summary(matrix, seed=seed)))
    out["krippendorff_alpha"] = rel.alpha_summary(matrix, level, n_boot, seed)
    out["krippendorff_alpha"]["interpretation"] = band(out["krippendorff_alpha"]["value"], ALPHA_BANDS)
    out.update(agreement.summary(matrix, level, weights, categories))
    for key in ("fleiss_kappa", "weighted_kappa", "gwet_ac"):
        if key in out:
            out[key]["interpretation"] = band(out[key]["value"], KAPPA_BANDS)
    return out


def pairs(matrix: pd.DataFrame, level: str, weights: str | None = "quadratic",
          categories=None) -> list[dict[str, Any]]:
    frame = rel.pairwise(matrix, level, weights, categories)
    rows = frame.to_dict("records") if len(frame) else []
    for row in rows:
        row["icc_a1_interpretation"] = band(row.get("icc_a1"), ICC_BANDS)
        row["kappa_interpretation"] = band(row.get("kappa"), KAPPA_BANDS)
    return rows


def against_gold(matrix: pd.DataFrame, gold: str, scale_step: float | None = None,
                 pair_rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Each rater's scores against the gold-standard rater's on the units both rated: ICC(A,1), bias
    (rater − gold), mean absolute difference, exact agreement and agreement within one scale step,
    quadratic-weighted kappa. ICC(A,1) and kappa are those of the rater pair (``pairs``; pass its rows when
    they are at hand)."""
    if gold not in matrix.columns:
        return []
    by_pair = {frozenset((p["rater_a"], p["rater_b"])): p for p in (pair_rows or pairs(matrix, "interval"))}
    out = []
    for rater in matrix.columns:
        if rater == gold:
            continue
        both = matrix[[rater, gold]].dropna()
        row: dict[str, Any] = {"rater": rater, "gold": gold, "n": len(both)}
        diff = (both[rater] - both[gold]).to_numpy()
        row["bias"] = float(diff.mean()) if len(diff) else None
        row["mean_absolute_difference"] = float(np.abs(diff).mean()) if len(diff) else None
        row["exact_agreement"] = float((np.abs(diff) < 1e-9).mean()) if len(diff) else None
        if scale_step:
            row["within_one_step"] = float((np.abs(diff) <= scale_step + 1e-9).mean()) if len(diff) else None
        pair = by_pair[frozenset((rater, gold))]
        row.update({key: pair.get(key) for key in ("icc_a1", "icc_a1_ci95", "icc_a1_interpretation", "kappa",
                                                   "kappa_interpretation", "note")})
        out.append(row)
    return out


def drift(table: pd.DataFrame, measure: str, periods: int = 4, seed: int = 0) -> dict[str, Any]:
    """Reliability over time. Double-coded units are put in submission order (by their last rating) and cut
    into ``periods`` blocks of equal size; each block gets ICC(A,1) and alpha. Per rater, each score's
    difference from the mean of the other raters of that unit is regressed on the days since the rater's
    first rating in two ways: the difference itself (bias drift: a rater growing more lenient or severe)
    and its distance from the rater's mean difference (spread drift: a rater growing less consistent)."""
    import statsmodels.api as sm

    data = table[["unit_id", "rater", "submitted_at", measure]].dropna()
    per_unit = data.groupby("unit_id").agg(n=("rater", "size"), last=("submitted_at", "max"))
    double = per_unit[per_unit["n"] >= 2].sort_values("last")
    blocks = []
    if len(double) >= 2 * max(periods, 1):
        for number, chunk in enumerate(np.array_split(double.index.to_numpy(), periods), start=1):
            part = data[data["unit_id"].isin(chunk)]
            matrix = part.pivot(index="unit_id", columns="rater", values=measure).astype(float)
            block: dict[str, Any] = {"period": number, "from": double.loc[chunk, "last"].min().isoformat(),
                                     "to": double.loc[chunk, "last"].max().isoformat(), "n_units": len(chunk)}
            a1 = (rel.icc_summary(matrix, seed=seed).get("icc") or {}).get("ICC(A,1)")
            block["icc_a1"], block["icc_a1_ci95"] = (a1["value"], a1["ci95"]) if a1 else (None, None)
            try:
                block["alpha"] = rel.krippendorff_alpha(matrix)
            except rel.ReliabilityError:
                block["alpha"] = None
            blocks.append(block)
    sums = data.groupby("unit_id")[measure].agg(["sum", "count"])
    data = data.join(sums, on="unit_id")
    data = data[data["count"] >= 2].copy()
    data["deviation"] = data[measure] - (data["sum"] - data[measure]) / (data["count"] - 1)
    raters = []
    for rater, own in data.groupby("rater"):
        own = own.sort_values("submitted_at")
        days = (own["submitted_at"] - own["submitted_at"].min()).dt.total_seconds().to_numpy() / 86400
        deviation = own["deviation"].to_numpy()
        row: dict[str, Any] = {"rater": rater, "n": len(own), "mean_deviation": float(deviation.mean()),
                               "mean_absolute_deviation": float(np.abs(deviation).mean()),
                               "bias_slope_per_30_days": None, "bias_p": None,
                               "spread_slope_per_30_days": None, "spread_p": None}
        if len(own) >= 3 and np.ptp(days) > 0:
            x = sm.add_constant(days)
            for name, y in (("bias", deviation), ("spread", np.abs(deviation - deviation.mean()))):
                fit = sm.OLS(y, x).fit()
                row[f"{name}_slope_per_30_days"] = float(fit.params[1] * 30)
                row[f"{name}_p"] = float(fit.pvalues[1]) if np.isfinite(fit.pvalues[1]) else None
        raters.append(row)
    return {"measure": measure, "periods": blocks, "raters": raters}


def build(table: pd.DataFrame, instrument: InstrumentDefinition, study: str = "", level: str = "interval",
          gold: str | None = None, focus: str = "total", periods: int = 4, n_boot: int = 1000,
          seed: int = 0, weights: str | None = None, coded: list | None = None) -> dict[str, Any]:
    """The whole report. Every measure gets the ICCs, alpha and the agreement coefficients (over an item's
    declared scale points; AC2 and weighted percent agreement with ``weights``); rater pairs (kappa weighted
    by ``weights``, quadratic by default) and the gold standard are computed for every measure; drift and the
    plots' data for the ``focus`` measure. ``coded`` (``coder.rating.events.coded_ratings`` of the same
    ratings) adds the agreement on the instrument's markers and events (``events``; None without markers)."""
    if table.empty:
        raise ReportError("no submitted ratings")
    wanted = [m for m in measures_of(instrument) if m.key in table.columns]
    if focus not in {m.key for m in wanted}:
        focus = wanted[0].key
    step = instrument.scale.step if instrument.scale else None
    report: dict[str, Any] = {
        "study": study, "instrument": {"key": instrument.id, "version": instrument.version, "name": instrument.name},
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "n_ratings": len(table), "n_units": int(table["unit_id"].nunique()),
        "raters": sorted(table["rater"].unique().tolist()), "level": level, "weights": weights,
        "pair_weights": weights or "quadratic", "gold_standard": gold,
        "focus": focus, "bands": BANDS, "measures": [], "pairs": [], "gold": [],
    }
    for m in wanted:
        matrix = _matrix(table, m.key)
        points = scale_points(instrument, m.key)
        summary = {"measure": m.key, "kind": m.kind, "label": m.label,
                   **measure_summary(matrix, level, n_boot, seed, weights, points)}
        report["measures"].append(summary)
        pair_rows = pairs(matrix, level, weights or "quadratic", points)
        report["pairs"] += [{"measure": m.key, **row} for row in pair_rows]
        if gold:
            report["gold"] += [{"measure": m.key, **row} for row in against_gold(matrix, gold, step, pair_rows)]
    report["drift"] = drift(table, focus, periods, seed)
    report["events"] = events_section(instrument, coded) if coded is not None and instrument.markers else None
    return report


def _kappa_bands(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    for key in ("cohen_kappa", "fleiss_kappa", "gwet_ac1"):
        if summary and key in summary:
            summary[key]["interpretation"] = band(summary[key]["value"], KAPPA_BANDS)
    return summary


def events_section(instrument: InstrumentDefinition, coded: list) -> dict[str, Any]:
    """Agreement on the instrument's markers (``coder.stats.events``): presence per rating unit (a salience
    is present; "absent" or no answer is absent) per marker, per kind and pooled; and, where raters place
    events in time, timing agreement within the instrument's tolerance per code, per kind and overall, with
    every rater pair's figures."""
    kinds: dict[str, list[str]] = {}
    for m in instrument.markers:
        kinds.setdefault(m.kind, []).append(m.id)
    labels = {m.id: (m.label, m.kind) for m in instrument.markers}
    answers = answer_table(coded)
    presence = event_stats.presence_agreement(answers, list(labels), kinds) if len(answers) else \
        {"markers": {}, "groups": {}, "pooled": None}
    coding = instrument.events
    out: dict[str, Any] = {
        "marker_answers": instrument.marker_answers,
        "presence": {
            "markers": [{"marker": mid, "label": label, "kind": kind, **(_kappa_bands(presence["markers"].get(mid)) or {})}
                        for mid, (label, kind) in labels.items()],
            "kinds": [{"kind": k, **(_kappa_bands(presence["groups"].get(k)) or {})} for k in kinds],
            "pooled": _kappa_bands(presence["pooled"])},
        "tolerance_s": coding.tolerance_s if coding else None, "spans": coding.spans if coding else None,
        "timing": None}
    if coding:
        timing = event_stats.timing_agreement(events_by_unit(coded), coding.tolerance_s, list(labels), kinds)
        pair_rows = []
        for p in timing["pairs"]:
            base = {"rater_a": p["rater_a"], "rater_b": p["rater_b"], "n_units": p["n_units"]}
            pair_rows.append({**base, "code": None, "kind": None, **p["overall"]})
            pair_rows += [{**base, "code": None, "kind": k, **v} for k, v in p["groups"].items()]
            pair_rows += [{**base, "code": c, "kind": labels.get(c, (c, None))[1], **v} for c, v in p["codes"].items()]
        out["timing"] = {
            "raters": timing["raters"], "n_pairs": timing["n_pairs"], "overall": timing["overall"],
            "codes": [{"code": c, "label": labels.get(c, (c, None))[0], "kind": labels.get(c, (c, None))[1], **v}
                      for c, v in timing["codes"].items()],
            "kinds": [{"kind": k, **v} for k, v in timing["groups"].items()],
            "pairs": pair_rows}
    return out


def scale_points(instrument: InstrumentDefinition, measure: str) -> list[float] | None:
    """The declared points of an item measure's scale (None for subscales and totals, whose values are
    means or sums: their categories are the values observed)."""
    kind, _, item_id = measure.partition(":")
    if kind != "item":
        return None
    return list(instrument.scale_of(instrument.item(item_id)).points)


def plot_data(table: pd.DataFrame, measure: str) -> dict[str, Any]:
    """What the plots of one measure draw: the units × raters scores (heat map) and, per rater pair, the
    means and differences of the units both rated (Bland–Altman)."""
    matrix = _matrix(table, measure)
    labels = table.drop_duplicates("unit_id").set_index("unit_id")
    order = labels.loc[matrix.index].sort_values(["dyad", "session", "unit"]).index
    matrix = matrix.loc[order]
    heat = {"raters": [str(c) for c in matrix.columns],
            "units": [f"{labels.loc[u, 'dyad']} s{labels.loc[u, 'session']} · {labels.loc[u, 'unit']}" for u in order],
            "values": [[None if math.isnan(v) else float(v) for v in row] for row in matrix.to_numpy()]}
    pairs_ = []
    raters = list(matrix.columns)
    for i, a in enumerate(raters):
        for b in raters[i + 1:]:
            try:
                ba = rel.bland_altman(matrix[a], matrix[b])
            except rel.ReliabilityError:
                continue
            pairs_.append({"a": a, "b": b, "n": ba.n, "mean_difference": ba.mean_difference, "limits": list(ba.limits),
                           "means": ba.means.tolist(), "differences": ba.differences.tolist()})
    return {"heatmap": heat, "bland_altman": pairs_}


# --- the tidy export ------------------------------------------------------------------------------------

EXPORT_COLUMNS = ("section", "measure", "kind", "label", "statistic", "also_named", "rater_a", "rater_b", "period",
                  "n", "n_ratings", "value", "se", "ci_low", "ci_high", "F", "df1", "df2", "p", "k", "model", "type",
                  "definition", "interpretation", "interval_interpretation", "estimator", "note")


def _agreement_row(base: dict[str, Any], label: str, entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    ci = entry.get("ci95") or [None, None]
    weights = entry.get("weights")
    return {**base, "statistic": label + (f" ({weights} weights)" if weights else ""), "value": entry["value"],
            "se": entry.get("se"), "ci_low": ci[0], "ci_high": ci[1], "n": entry.get("n_units", base.get("n")),
            "n_ratings": entry.get("n_ratings"), "interpretation": entry.get("interpretation"),
            "note": entry.get("reason") or entry.get("warning")}


def to_rows(report: dict[str, Any]) -> pd.DataFrame:
    """One row per reported figure, for R, SPSS or Stata: section (measures, pairs, gold, drift), measure,
    statistic, raters or period, n, value with interval, test and the form's naming (Koo & Li 2016)."""
    rows = []
    pair_weights = report.get("pair_weights", "quadratic")
    for m in report["measures"]:
        base = {"section": "measures", "measure": m["measure"], "kind": m["kind"], "label": m["label"],
                "n": m["n_targets"]}
        for name, form in (m.get("icc") or {}).items():
            if form is None:
                continue
            also = form.get("shrout_fleiss")
            rows.append({**base, "statistic": form.get("name") or name,
                         "also_named": f"{also} (Shrout & Fleiss 1979)" if also and also != name else None,
                         "n_ratings": m["n_ratings"], "value": form["value"],
                         "ci_low": form["ci95"][0], "ci_high": form["ci95"][1], "F": form["F"], "df1": form["df1"],
                         "df2": form["df2"], "p": form["p"], "k": form["k"], "model": form["model"],
                         "type": form["type"], "definition": form["definition"],
                         "interpretation": form["interpretation"],
                         "interval_interpretation": form.get("interval_interpretation"),
                         "estimator": m.get("icc_estimator"), "note": form.get("F_reason")})
        if m.get("icc_reason"):
            rows.append({**base, "statistic": "ICC", "note": m["icc_reason"]})
        ka = m["krippendorff_alpha"]
        rows.append(_agreement_row(base, f"Krippendorff's alpha ({ka['level']})", ka))
        for key, label in (("fleiss_kappa", "Fleiss' kappa"), ("weighted_kappa", "Cohen's kappa"),
                           ("gwet_ac", "Gwet's AC1" if not report.get("weights") else "Gwet's AC2"),
                           ("percent_agreement", "percent agreement")):
            if key in m:
                rows.append(_agreement_row(base, label, m[key]))
        for category, value in ((m.get("fleiss_kappa") or {}).get("per_category") or {}).items():
            rows.append({**base, "statistic": f"Fleiss' kappa of category {category}", "value": value})
    for p in report["pairs"]:
        base = {"section": "pairs", "measure": p["measure"], "rater_a": p["rater_a"], "rater_b": p["rater_b"],
                "n": p["n"], "note": p.get("note") or None}
        ci = p.get("icc_a1_ci95") or [None, None]
        loa = p.get("limits_of_agreement") or [None, None]
        rows += [{**base, "statistic": "ICC(A,1)", "value": p.get("icc_a1"), "ci_low": ci[0], "ci_high": ci[1],
                  "interpretation": p.get("icc_a1_interpretation")},
                 {**base, "statistic": f"Krippendorff's alpha ({report['level']})", "value": p.get("alpha")},
                 {**base, "statistic": f"Cohen's kappa ({pair_weights})", "value": p.get("kappa"),
                  "se": p.get("kappa_se"), "ci_low": (p.get("kappa_ci95") or [None, None])[0],
                  "ci_high": (p.get("kappa_ci95") or [None, None])[1],
                  "interpretation": p.get("kappa_interpretation")},
                 {**base, "statistic": "percent agreement", "value": p.get("percent_agreement")},
                 {**base, "statistic": f"percent agreement ({pair_weights} weights)",
                  "value": p.get("percent_agreement_weighted")},
                 {**base, "statistic": "mean difference (a − b)", "value": p.get("mean_difference"),
                  "ci_low": loa[0], "ci_high": loa[1], "note": "interval: 95 % limits of agreement"}]
    for g in report["gold"]:
        base = {"section": "gold", "measure": g["measure"], "rater_a": g["rater"], "rater_b": g["gold"], "n": g["n"]}
        ci = g.get("icc_a1_ci95") or [None, None]
        rows += [{**base, "statistic": "ICC(A,1)", "value": g.get("icc_a1"), "ci_low": ci[0], "ci_high": ci[1],
                  "interpretation": g.get("icc_a1_interpretation"), "note": g.get("note") or None},
                 {**base, "statistic": "bias (rater − gold)", "value": g.get("bias")},
                 {**base, "statistic": "mean absolute difference", "value": g.get("mean_absolute_difference")},
                 {**base, "statistic": "exact agreement", "value": g.get("exact_agreement")},
                 {**base, "statistic": f"Cohen's kappa ({pair_weights})", "value": g.get("kappa"),
                  "interpretation": g.get("kappa_interpretation")}]
        if "within_one_step" in g:
            rows.append({**base, "statistic": "agreement within one scale step", "value": g["within_one_step"]})
    d = report["drift"]
    for block in d["periods"]:
        base = {"section": "drift", "measure": d["measure"], "period": block["period"], "n": block["n_units"],
                "note": f"{block['from']} – {block['to']}"}
        ci = block.get("icc_a1_ci95") or [None, None]
        rows += [{**base, "statistic": "ICC(A,1)", "value": block["icc_a1"], "ci_low": ci[0], "ci_high": ci[1]},
                 {**base, "statistic": "Krippendorff's alpha (interval)", "value": block["alpha"]}]
    for r in d["raters"]:
        base = {"section": "drift", "measure": d["measure"], "rater_a": r["rater"], "n": r["n"]}
        rows += [{**base, "statistic": "mean difference from the other raters", "value": r["mean_deviation"]},
                 {**base, "statistic": "bias drift: change of the difference per 30 days",
                  "value": r["bias_slope_per_30_days"], "p": r["bias_p"]},
                 {**base, "statistic": "spread drift: change of |difference − mean difference| per 30 days",
                  "value": r["spread_slope_per_30_days"], "p": r["spread_p"]}]
    rows += _event_rows(report.get("events"))
    return pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))


PRESENCE_STATISTICS = (("percent_agreement", "percent agreement"), ("cohen_kappa", "Cohen's kappa"),
                       ("fleiss_kappa", "Fleiss' kappa"), ("gwet_ac1", "Gwet's AC1"))


def _event_rows(section: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The events section as rows: presence (section ``marker presence``; measure ``marker:ID``, ``kind:KIND``
    or ``markers`` pooled) and timing (section ``event timing``; measure ``code:ID``, ``kind:KIND`` or
    ``events`` overall; rater pairs with their names)."""
    if not section:
        return []
    rows = []
    presence = section["presence"]
    entries = [(f"marker:{m['marker']}", m.get("kind"), m.get("label"), m) for m in presence["markers"]]
    entries += [(f"kind:{k['kind']}", k["kind"], None, k) for k in presence["kinds"]]
    entries.append(("markers", None, "all markers pooled", presence["pooled"] or {}))
    for measure, kind, label, entry in entries:
        base = {"section": "marker presence", "measure": measure, "kind": kind, "label": label,
                "n": entry.get("n_units")}
        if "n_units" not in entry:
            rows.append({**base, "statistic": "presence", "note": "no ratings answer this marker"})
            continue
        for key, name in PRESENCE_STATISTICS:
            if key in entry:
                rows.append(_agreement_row({**base, "n": entry["n_units"]}, f"presence: {name}", entry[key]))
        for p in entry.get("pairs", []):
            pair = {**base, "rater_a": p["rater_a"], "rater_b": p["rater_b"], "n": p["n"]}
            rows += [{**pair, "statistic": "presence: percent agreement", "value": p["percent_agreement"]},
                     {**pair, "statistic": "presence: Cohen's kappa", "value": p["cohen_kappa"],
                      "note": p.get("cohen_kappa_reason")}]
    timing = section.get("timing")
    if not timing:
        return rows
    window = f"timing agreement 2m/(n_a + n_b), starts within ±{section['tolerance_s']:g} s"
    entries = [(f"code:{c['code']}", c.get("kind"), c.get("label"), c) for c in timing["codes"]]
    entries += [(f"kind:{k['kind']}", k["kind"], None, k) for k in timing["kinds"]]
    entries.append(("events", None, "all codes", timing["overall"]))
    for measure, kind, label, entry in entries:
        base = {"section": "event timing", "measure": measure, "kind": kind, "label": label, "n": entry["n_events"]}
        rows += [{**base, "statistic": window, "value": entry["value"],
                  "note": f"mean over {entry['n_pairs']} rater pairs; {entry['matched']} matched pairs of events"},
                 {**base, "statistic": "mean absolute onset difference (s)", "n": entry["matched"],
                  "value": entry["mean_onset_difference"]}]
    for p in timing["pairs"]:
        measure = f"code:{p['code']}" if p["code"] else f"kind:{p['kind']}" if p["kind"] else "events"
        base = {"section": "event timing", "measure": measure, "kind": p["kind"], "rater_a": p["rater_a"],
                "rater_b": p["rater_b"], "n": p["n_a"] + p["n_b"]}
        rows += [{**base, "statistic": window, "value": p["value"],
                  "note": f"{p['n_a']} and {p['n_b']} events in {p['n_units']} shared units, {p['matched']} matched"},
                 {**base, "statistic": "mean absolute onset difference (s)", "n": p["matched"],
                  "value": p["mean_onset_difference"]}]
    return rows
