"""Calibration against the master rater: the agreement series worked by hand, the threshold flag and drift,
and the ICC statistic checked against coder.reliability.icc (itself validated against R's psych::ICC in
test_reliability)."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import update

from coder.rating import calibration as cal
from coder.stats import reliability as rel
from coder.study.models import RatingUnit, Study

from .support.analysis_study import ITEMS, build_planned


def _plan():
    """Six calibration units C1..C6 (one per dyad), rated by the master ("gold") first, then by ana and ben
    in order. ana agrees exactly on C1–C3 and is two points off every item on C4–C6; ben is one point off
    on every item throughout, and cem two points off on half the items. An ordinary unit where ana is far
    from gold must not count."""
    plan = []
    for d in range(1, 7):
        plan.append((f"D{d}", 1, "Cal", "gold", 2))
    for d in range(1, 7):
        plan.append((f"D{d}", 1, "Cal", "ana", 2 if d <= 3 else 4))
        plan.append((f"D{d}", 1, "Cal", "ben", 3))
        plan.append((f"D{d}", 1, "Cal", "cem", {item: (0 if i % 2 else 2) for i, item in enumerate(ITEMS)}))
    plan.append(("D1", 2, "Ordinary", "gold", 0))
    plan.append(("D1", 2, "Ordinary", "ana", 4))
    return plan


@pytest.fixture
def calibration_study(database):
    built = build_planned(database, _plan(), study_name="Trial C")
    cal_units = [uid for (d, s, label), uid in built["units"].items() if label == "Cal"]
    with database.session() as db:
        db.execute(update(RatingUnit).where(RatingUnit.id.in_(cal_units)).values(calibration=True))
        study = db.get(Study, built["study_id"])
        study.settings = {"gold_standard": "gold",
                          "calibration": {"statistic": "within_one", "threshold": 0.8, "window": 3}}
    return database, built


def _report(database, built, **conf):
    with database.session() as db:
        study = db.get(Study, built["study_id"])
        if conf:
            study.settings = {**study.settings, "calibration": {**study.settings["calibration"], **conf}}
            db.flush()
        return cal.agreement(db, study, "homework-engagement")


def test_within_one_series_flag_and_drift(calibration_study):
    database, built = calibration_study
    report = _report(database, built)
    assert report["master"] == "gold" and report["calibration_units"] == 6 and report["master_rated"] == 6
    by = {r["rater"]: r for r in report["raters"]}
    assert set(by) == {"ana", "ben", "cem"}
    ana = by["ana"]
    assert ana["n"] == 6  # the ordinary unit is not a calibration unit
    # per rating: 12/12 items within one point on C1–C3, 0/12 on C4–C6; windows of three ratings
    assert [p["within_one"] for p in ana["series"]] == [1, 1, 1, 0, 0, 0]
    assert [p["value"] for p in ana["series"]] == pytest.approx([1, 1, 1, 2 / 3, 1 / 3, 0])
    assert [p["total_difference"] for p in ana["series"]] == [0, 0, 0, 2, 2, 2]
    assert ana["current"] == 0 and ana["flagged"] and ana["drifting"]
    assert by["ben"]["current"] == 1 and not by["ben"]["flagged"]  # one point off is within one step
    assert by["cem"]["current"] == pytest.approx(0.5) and by["cem"]["flagged"] and not by["cem"]["drifting"]
    with database.session() as db:
        flags = cal.flags(db, db.get(Study, built["study_id"]), ["homework-engagement"])
    assert {(f["rater"], f["drifting"]) for f in flags} == {("ana", True), ("cem", False)}


def test_threshold_and_window_come_from_the_study(calibration_study):
    database, built = calibration_study
    report = _report(database, built, threshold=0.4, window=6)
    by = {r["rater"]: r for r in report["raters"]}
    assert by["ana"]["current"] == pytest.approx(0.5) and not by["ana"]["flagged"]  # 36 of 72 items over six
    assert by["cem"]["current"] == pytest.approx(0.5) and not by["cem"]["flagged"]


def test_icc_statistic_equals_reliability_icc_on_the_window(calibration_study):
    database, built = calibration_study
    # give the master some spread across units, so that the ICC exists
    with database.session() as db:
        from sqlalchemy import select

        from coder.study.models import Assignment, Rating, User

        gold = db.scalar(select(User).where(User.username == "gold"))
        for k, rating in enumerate(db.scalars(select(Rating).join(Assignment, Rating.assignment_id == Assignment.id)
                                              .join(RatingUnit).where(Rating.rater_id == gold.id,
                                                                      RatingUnit.calibration.is_(True))
                                              .order_by(Rating.id))):
            rating.responses = {item: (k % 5) for item in ITEMS}
    report = _report(database, built, statistic="icc", window=4)
    ana = next(r for r in report["raters"] if r["rater"] == "ana")
    totals = [(2 if d <= 3 else 4, (d - 1) % 5) for d in range(1, 7)]  # (ana, gold) totals (item means)
    assert ana["series"][0]["value"] is None and ana["series"][1]["value"] is None  # fewer than three
    for n in range(3, 7):
        window = np.array(totals[max(0, n - 4):n], dtype=float)
        assert ana["series"][n - 1]["value"] == pytest.approx(rel.icc(window)["ICC(A,1)"].value, abs=1e-12)


def test_no_master_and_bad_settings(database):
    built = build_planned(database, [("D1", 1, "Cal", "ana", 2)], study_name="Trial N")
    with database.session() as db:
        report = cal.agreement(db, db.get(Study, built["study_id"]), "homework-engagement")
    assert report["raters"] == [] and "no master" in report["note"]
    with pytest.raises(cal.CalibrationError, match="statistic"):
        cal.check_settings("kappa", 0.8, 5)
    with pytest.raises(cal.CalibrationError, match="at least 3"):
        cal.check_settings("icc", 0.7, 2)
