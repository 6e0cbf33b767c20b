"""Calibration: raters' agreement with the study's master (gold-standard) rater on calibration units.

Calibration units are rating units marked ``calibration``; the master rater rates them, and so do the
raters (a ``calibration`` design assigns them to all). Each rater's calibration ratings are put in
submission order and compared with the master's rating of the same unit:

* ``within_one``: the share of item scores within one scale step of the master's (items as keyed);
* ``icc``: ICC(A,1) of the rater's and the master's totals (McGraw & Wong 1996; two-way, absolute
  agreement), which needs three units or more with some spread.

The study sets the statistic, a threshold and a window (``study.settings["calibration"]``). A rater's
current agreement is the statistic over their latest ``window`` calibration ratings; they are flagged when
it falls below the threshold, and marked as drifting when an earlier window had met it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from coder.rating.scores import NoRatings, ratings_table
from coder.stats import reliability as rel
from coder.study import scope
from coder.study.accounts import find_user
from coder.study.audit import audit
from coder.study.models import RatingUnit, Study, User

STATISTICS = ("within_one", "icc")
DEFAULTS: dict[str, Any] = {"statistic": "within_one", "threshold": 0.8, "window": 5}


class CalibrationError(ValueError):
    pass


def settings_of(study: Study) -> dict[str, Any]:
    return {**DEFAULTS, **((study.settings or {}).get("calibration") or {})}


def master_of(study: Study) -> str | None:
    """The user name of the study's master (gold-standard) rater, if it has one."""
    return (study.settings or {}).get("gold_standard")


def check_settings(statistic: str, threshold: float, window: int) -> dict[str, Any]:
    if statistic not in STATISTICS:
        raise CalibrationError(f"statistic must be one of {', '.join(STATISTICS)}")
    if not -1 <= threshold <= 1:
        raise CalibrationError(f"the threshold must lie between -1 and 1, not {threshold}")
    if not 1 <= window <= 100:
        raise CalibrationError(f"the window must hold 1 to 100 ratings, not {window}")
    if statistic == "icc" and window < 3:
        raise CalibrationError("ICC(A,1) needs a window of at least 3 ratings")
    return {"statistic": statistic, "threshold": float(threshold), "window": int(window)}


def set_master(db: Session, settings: dict[str, Any], master: str | None) -> None:
    """Name the master (gold-standard) rater in a study's ``settings``: a rater's user name, "" to clear it, None to
    leave it; CalibrationError for a name that is no rater's."""
    if master:
        if find_user(db, master, "rater") is None:
            raise CalibrationError(f"no rater named {master}")
        settings["gold_standard"] = master
    elif master == "":
        settings.pop("gold_standard", None)


def save_settings(db: Session, study: Study, actor: User | None, statistic: str | None = None,
                  threshold: float | None = None, window: int | None = None, master: str | None = None,
                  reason: str = "") -> None:
    """Check and store the study's calibration settings (audited); a setting given as None keeps its current
    value; ``master`` as in ``set_master``."""
    conf = settings_of(study)
    conf = check_settings(conf["statistic"] if statistic is None else statistic,
                          conf["threshold"] if threshold is None else threshold,
                          conf["window"] if window is None else window)
    settings = {**(study.settings or {}), "calibration": conf}
    set_master(db, settings, master)
    audit(db, "settings", study, actor, before=study.settings or {}, after=settings, reason=reason)
    study.settings = settings
    db.flush()


@dataclass
class Point:
    n: int  # the rater's n-th calibration rating
    unit_id: int
    submitted_at: Any
    within_one: float | None  # this rating alone
    total_difference: float | None  # rater − master
    value: float | None  # the statistic over the window ending here


def _window_value(rows: list[dict[str, Any]], statistic: str) -> float | None:
    if statistic == "within_one":
        hits = sum(r["hits"] for r in rows)
        items = sum(r["items"] for r in rows)
        return hits / items if items else None
    pairs = np.array([[r["total"], r["master_total"]] for r in rows if r["total"] is not None
                      and r["master_total"] is not None], dtype=float)
    if len(pairs) < 3 or np.ptp(pairs) == 0:
        return None
    return float(rel.icc(pairs)["ICC(A,1)"].value)


def agreement(db: Session, study: Study, instrument_key: str) -> dict[str, Any]:
    """Each rater's calibration series against the master, the current value and the flags."""
    conf = settings_of(study)
    master = master_of(study)
    result: dict[str, Any] = {"instrument": instrument_key, "master": master, **conf, "raters": []}
    if not master:
        result["note"] = "no master (gold-standard) rater set for this study"
        return result
    units = set(db.scalars(scope.in_study(select(RatingUnit.id), RatingUnit, study)
                           .where(RatingUnit.calibration.is_(True))))
    try:
        definition, table = ratings_table(db, study, instrument_key)
    except NoRatings:
        result["note"] = f"no submitted ratings on {instrument_key} yet"
        return result
    table = table[table["unit_id"].isin(units)]
    step = definition.scale.step if definition.scale else 1.0
    items = [c for c in table.columns if str(c).startswith("item:")]
    gold = table[table["rater"] == master].set_index("unit_id")
    result["calibration_units"] = len(units)
    result["master_rated"] = int(len(gold))
    if gold.empty:
        result["note"] = f"the master ({master}) has not rated a calibration unit on {instrument_key} yet"
    for rater, own in table[table["rater"] != master].groupby("rater"):
        own = own[own["unit_id"].isin(gold.index)].sort_values("submitted_at")
        rows: list[dict[str, Any]] = []
        points: list[Point] = []
        for _i, r in own.iterrows():
            m = gold.loc[r["unit_id"]]
            a = pd.to_numeric(r[items], errors="coerce").astype(float).to_numpy()
            b = pd.to_numeric(m[items], errors="coerce").astype(float).to_numpy()
            both = ~(np.isnan(a) | np.isnan(b))
            hits = int((np.abs(a[both] - b[both]) <= step + 1e-9).sum())
            total = None if pd.isna(r["total"]) else float(r["total"])
            master_total = None if pd.isna(m["total"]) else float(m["total"])
            rows.append({"hits": hits, "items": int(both.sum()), "total": total, "master_total": master_total})
            window = rows[-conf["window"]:]
            points.append(Point(len(rows), int(r["unit_id"]), r["submitted_at"],
                                hits / both.sum() if both.sum() else None,
                                None if total is None or master_total is None else total - master_total,
                                _window_value(window, conf["statistic"])))
        values = [p.value for p in points if p.value is not None]
        current = values[-1] if values else None
        below = current is not None and current < conf["threshold"]
        met_before = any(v >= conf["threshold"] for v in values[:-1])
        result["raters"].append({
            "rater": rater, "n": len(points), "current": current, "flagged": below,
            "drifting": below and met_before, "full_window": len(points) >= conf["window"],
            "series": [p.__dict__ for p in points]})
    return result


def flags(db: Session, study: Study, instrument_keys: list[str]) -> list[dict[str, Any]]:
    """The flagged raters over the study's instruments, for the dashboard."""
    out = []
    for key in instrument_keys:
        report = agreement(db, study, key)
        for r in report["raters"]:
            if r["flagged"]:
                out.append({"instrument": key, "rater": r["rater"], "current": r["current"],
                            "drifting": r["drifting"], "statistic": report["statistic"],
                            "threshold": report["threshold"]})
    return out
