#!/usr/bin/env python3
"""Reliability statistics at scale: 500 units × 10 raters × 10 items, 30 % of unit–rater pairs unrated.

    .venv/bin/python bench/reliability.py [--repeats 3] [--json bench/results-reliability.json]

The scores follow the two-way model (unit, rater and residual variance per
item, rounded to a 1–7 scale); 30 % of the 5,000 unit–rater pairs are left
out at random, so the ICCs need the REML estimator of incomplete designs.

Timed, each the best of ``--repeats`` runs, on one process:
- "all statistics": for every item, the six ICC forms (REML variance
  components, k̂, q, 10,000-draw Monte-Carlo intervals), Krippendorff's alpha
  and the agreement of all 45 rater pairs (ICC(A,1), alpha, weighted kappa,
  limits of agreement). The target is 5 s for the ten items.
- "the full report": ``coder.reliability_report.build`` on the same scores as
  a 10-item instrument with two subscales and a total (13 measures, pairs and
  the gold standard for each, drift), without the bootstrap.
- the bootstrap of alpha's interval (1,000 resamples) for the ten items, apart.
- beside it, in the same run, statsmodels' MixedLM fitting the same crossed
  REML model for one item, to set the variance-component fit against an
  established implementation (and its estimates against ours).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coder.study import instruments  # noqa: E402
from coder.stats import reliability as rel  # noqa: E402
from coder.rating.scores import measure_values  # noqa: E402
from coder.reports import reliability_report as rr  # noqa: E402

UNITS, RATERS, ITEMS, MISSING = 500, 10, 10, 0.3


def scores(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rated = rng.random((UNITS, RATERS)) >= MISSING
    raters = [f"r{j:02d}" for j in range(RATERS)]
    out = {}
    for i in range(ITEMS):
        y = (4 + rng.normal(0, 1.0, (UNITS, 1)) + rng.normal(0, 0.4, (1, RATERS))
             + rng.normal(0, 0.8, (UNITS, RATERS)))
        y = np.clip(np.round(y), 1, 7)
        y[~rated] = np.nan
        out[str(i + 1)] = pd.DataFrame(y, columns=raters)
    return out


def instrument() -> instruments.InstrumentDefinition:
    return instruments.parse({
        "id": "bench-scale", "name": "Benchmark scale", "version": "1", "rating_unit": "session",
        "scale": {"min": 1, "max": 7},
        "subscales": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
        "items": [{"id": str(i + 1), "label": f"Item {i + 1}", "subscale": "a" if i < 5 else "b"}
                  for i in range(ITEMS)]})


def table(items: dict[str, pd.DataFrame], definition: instruments.InstrumentDefinition) -> pd.DataFrame:
    """The long table ``coder.rating.scores.ratings_table`` would read from the database."""
    first = next(iter(items.values()))
    start = pd.Timestamp("2026-01-05", tz="UTC")
    rows = []
    for u in range(UNITS):
        for rater in first.columns:
            if np.isnan(first.loc[u, rater]):
                continue
            responses = {item: items[item].loc[u, rater] for item in items}
            rows.append({"rating_id": len(rows), "unit_id": u, "unit": "Whole session", "session_id": u,
                         "session": 1, "dyad": f"D{u // 5}", "rater": rater,
                         "submitted_at": start + pd.Timedelta(hours=4 * u),
                         **measure_values(definition, responses)})
    return pd.DataFrame(rows)


def all_statistics(items: dict[str, pd.DataFrame]) -> dict:
    out = {}
    for item, matrix in items.items():
        out[item] = {"icc": rel.icc_summary(matrix), "alpha": rel.krippendorff_alpha(matrix),
                     "pairs": len(rel.pairwise(matrix))}
    return out


def best(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    items = scores()
    n_scores = int(sum(m.notna().sum().sum() for m in items.values()))
    definition = instrument()
    long = table(items, definition)

    t_all, stats = best(lambda: all_statistics(items), args.repeats)
    t_report, report = best(lambda: rr.build(long, definition, "bench", gold="r00", n_boot=0), args.repeats)
    t_boot, _ = best(lambda: [rel.bootstrap_alpha(m, "interval", 1000) for m in items.values()], args.repeats)

    import statsmodels.formula.api as smf

    first = items["1"]
    rows, cols = np.nonzero(first.notna().to_numpy())
    data = pd.DataFrame({"s": rows, "r": cols, "y": first.to_numpy()[rows, cols], "g": 1})
    t_ours, ours = best(lambda: rel.variance_components(first), args.repeats)
    t_sm, fit = best(lambda: smf.mixedlm("y ~ 1", data, groups="g", vc_formula={"s": "0 + C(s)", "r": "0 + C(r)"},
                                          re_formula="0").fit(reml=True), 1)
    theirs = dict(zip(fit.model.exog_vc.names, fit.vcomp))

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "python": platform.python_version(),
        "design": {"units": UNITS, "raters": RATERS, "items": ITEMS, "missing": MISSING,
                   "cells": UNITS * RATERS * ITEMS, "scores": n_scores},
        "all_statistics_s": round(t_all, 3),
        "estimator": stats["1"]["icc"]["icc_estimator"],
        "icc_a1_item1": stats["1"]["icc"]["icc"]["ICC(A,1)"]["value"],
        "report_s": round(t_report, 3), "report_measures": len(report["measures"]),
        "bootstrap_1000_all_items_s": round(t_boot, 3),
        "variance_components_item1": {
            "ours_s": round(t_ours, 4), "statsmodels_s": round(t_sm, 3),
            "ours": {"target": ours.target, "rater": ours.rater, "residual": ours.residual},
            "statsmodels": {"target": float(theirs["s"]), "rater": float(theirs["r"]), "residual": float(fit.scale)}},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
