"""The reliability report of stored ratings: the table read from the database, every measure, rater pairs,
the gold standard, drift, the web page with its plots and exports, and the command line. The statistics
themselves are validated in test_reliability.py; here the report must give the same figures as those
functions on the scores the study was built with."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from sqlalchemy import select

from coder.stats import agreement, reliability as rel
from coder.rating import scores
from coder.reports import reliability_report as rr
from coder.stats.jsonsafe import json_safe
from coder.web.app import create_app
from coder.config import load_settings
from coder.study.models import Study

from .support.cli import coder
from .support.reliability_study import PASSWORD, build_rated
from .support.web import login


@pytest.fixture
def rated(database):
    return build_rated(database, units=24, seed=3)


def _study(database, rated):
    db = database.sessionmaker()
    return db, db.get(Study, rated.study_id)


def test_the_table_holds_every_submitted_rating_keyed(database, rated):
    db, study = _study(database, rated)
    definition, table = scores.ratings_table(db, study, "wai-o-s")
    assert len(table) == sum(int(m.notna().sum().sum()) for m in rated.keyed.values()) // 12
    for item, expected in rated.keyed.items():
        got = table.pivot(index="unit_id", columns="rater", values=f"item:{item}")
        pd.testing.assert_frame_equal(got.reindex(index=expected.index, columns=expected.columns), expected,
                                      check_names=False, check_dtype=False)
    # reverse-keyed items arrive keyed: the stored response was 8 − value
    assert definition.item("4").reverse
    with pytest.raises(scores.NoRatings, match="no submitted ratings on homework-engagement"):
        scores.ratings_table(db, study, "homework-engagement")
    db.close()


def test_every_measure_matches_the_statistics_on_the_built_scores(database, rated):
    db, study = _study(database, rated)
    definition, table = scores.ratings_table(db, study, "wai-o-s")
    report = rr.build(table, definition, study.name, gold="gold", n_boot=200)
    db.close()
    keys = [m["measure"] for m in report["measures"]]
    assert keys[:4] == ["total", "subscale:task", "subscale:bond", "subscale:goal"] and len(keys) == 16
    item = rated.keyed["7"]
    got = next(m for m in report["measures"] if m["measure"] == "item:7")
    expected = rel.icc_summary(item)
    for form in rel.ICC_FORMS:
        assert got["icc"][form]["value"] == pytest.approx(expected["icc"][form]["value"])
    assert got["icc_estimator"].startswith("REML")  # 30 % of pairs unrated
    assert got["krippendorff_alpha"]["value"] == pytest.approx(rel.krippendorff_alpha(item))
    assert got["icc"]["ICC(A,1)"]["interpretation"] == rr.band(got["icc"]["ICC(A,1)"]["value"], rr.ICC_BANDS)
    # agreement over the item's declared 1–7 points (WAI-O-S), whichever of them were used
    points = [float(p) for p in definition.scale_of(definition.item("7")).points]
    assert got["categories"] == points
    assert got["gwet_ac"]["value"] == pytest.approx(agreement.gwet_ac(item, categories=points).value)
    assert got["percent_agreement"]["value"] == pytest.approx(agreement.percent_agreement(item).value)
    assert got["icc"]["ICC(A,1)"]["estimator"] == "reml" and got["icc"]["ICC(A,1)"]["shrout_fleiss"] == "ICC(2,1)"
    # the total is the mean of the twelve keyed items
    total = sum(rated.keyed[str(i)] for i in range(1, 13)) / 12
    got_total = next(m for m in report["measures"] if m["measure"] == "total")
    assert got_total["icc"]["ICC(A,1)"]["value"] == pytest.approx(rel.icc_summary(total)["icc"]["ICC(A,1)"]["value"])
    # pairs: every pair of the four raters, per measure
    pairs = [p for p in report["pairs"] if p["measure"] == "item:7"]
    assert {(p["rater_a"], p["rater_b"]) for p in pairs} == {("ana", "ben"), ("ana", "cem"), ("ana", "gold"),
                                                            ("ben", "cem"), ("ben", "gold"), ("cem", "gold")}
    ana_gold = next(p for p in pairs if (p["rater_a"], p["rater_b"]) == ("ana", "gold"))
    both = item[["ana", "gold"]].dropna()
    assert ana_gold["n"] == len(both)
    assert ana_gold["mean_difference"] == pytest.approx((both["ana"] - both["gold"]).mean())
    # gold standard: each other rater against gold
    gold = [g for g in report["gold"] if g["measure"] == "item:7"]
    assert [g["rater"] for g in gold] == ["ana", "ben", "cem"]
    ben = next(g for g in gold if g["rater"] == "ben")
    both = item[["ben", "gold"]].dropna()
    assert ben["bias"] == pytest.approx((both["ben"] - both["gold"]).mean())
    assert ben["exact_agreement"] == pytest.approx((both["ben"] == both["gold"]).mean())
    assert ben["icc_a1"] == pytest.approx(rel.icc(both.to_numpy())["ICC(A,1)"].value)


def test_drift_finds_the_rater_whose_noise_grows(sqlite_database):
    """cem's noise grows sixfold over the 120 days: the spread of their differences from the others must
    grow, with a small p, and faster than any steady rater's."""
    rated = build_rated(sqlite_database, units=200, seed=1, missing=0.0, drift=5.0)
    db, study = _study(sqlite_database, rated)
    definition, table = scores.ratings_table(db, study, "wai-o-s")
    db.close()
    d = rr.drift(table, "total", periods=4)
    assert [b["period"] for b in d["periods"]] == [1, 2, 3, 4] and sum(b["n_units"] for b in d["periods"]) == 200
    assert d["periods"][0]["icc_a1"] > d["periods"][-1]["icc_a1"]
    raters = {r["rater"]: r for r in d["raters"]}
    assert raters["cem"]["spread_slope_per_30_days"] > 0 and raters["cem"]["spread_p"] < 0.01
    for steady in ("ana", "ben", "gold"):
        assert raters[steady]["spread_slope_per_30_days"] < raters["cem"]["spread_slope_per_30_days"] / 2


def test_export_rows_are_tidy(database, rated):
    db, study = _study(database, rated)
    definition, table = scores.ratings_table(db, study, "wai-o-s")
    db.close()
    report = rr.build(table, definition, study.name, gold="gold", n_boot=0)
    rows = rr.to_rows(report)
    assert list(rows.columns) == list(rr.EXPORT_COLUMNS)
    assert set(rows["section"]) == {"measures", "pairs", "gold", "drift"}
    a1 = rows[(rows.section == "measures") & (rows.measure == "total") & (rows.statistic == "ICC(A,1)")].iloc[0]
    total = next(m for m in report["measures"] if m["measure"] == "total")["icc"]["ICC(A,1)"]
    assert a1["value"] == total["value"] and a1["ci_low"] == total["ci95"][0]
    assert (a1["model"], a1["type"], a1["definition"]) == ("two-way random effects", "single rater",
                                                           "absolute agreement")
    assert "ICC(Q,k̂)" in set(rows["statistic"])
    # Koo & Li's band of the value and of its interval, and Shrout & Fleiss' name, in the export too
    assert a1["interpretation"] == total["interpretation"]
    assert a1["interval_interpretation"] == total["interval_interpretation"] and a1["interval_interpretation"]
    assert a1["also_named"] == "ICC(2,1) (Shrout & Fleiss 1979)"
    item = rows[(rows.section == "measures") & (rows.measure == "item:7")]
    ac1 = item[item.statistic == "Gwet's AC1"].iloc[0]
    got = next(m for m in report["measures"] if m["measure"] == "item:7")["gwet_ac"]
    assert (ac1["value"], ac1["se"], ac1["n"]) == (got["value"], got["se"], got["n_units"])
    assert item[item.statistic == "percent agreement"].iloc[0]["value"] == pytest.approx(
        next(m for m in report["measures"] if m["measure"] == "item:7")["percent_agreement"]["value"])
    json.dumps(json_safe(report), allow_nan=False)


@pytest.fixture
def app(database, rated, tmp_path):
    return create_app(load_settings(home=tmp_path / "home", database_url=database.url), database, {"TESTING": True})


def test_the_report_page_and_its_exports(app, rated):
    client = app.test_client()
    url = f"/reliability/{rated.study_id}/wai-o-s"
    assert client.get(url).status_code == 302  # login first
    login(client, "ana", PASSWORD)
    assert client.get(url).status_code == 403 and client.get("/reliability").status_code == 403  # raters: no
    client = app.test_client()
    login(client, "coord", PASSWORD)
    index = client.get("/reliability").get_data(as_text=True)
    assert "Trial Q" in index and "Working alliance" in index
    page = client.get(url + "?gold=gold&measure=subscale:bond&bootstrap=100")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Bond: every ICC form" in html and "ICC(Q,k̂)" in html and "REML variance components" in html
    assert html.count('class="plot"') >= 1 + 6  # the interval chart and six Bland–Altman plots
    assert "scores by unit and rater" in html and html.count("<rect") > 24 * 4
    assert "Against the gold standard" in html and "Bias (rater − gold)" in html
    assert "Koo &amp; Li" in html
    assert "Bond: agreement on the scale" in html and "Gwet&#39;s AC1" in html and "Percent agreement" in html
    weighted = client.get(url + "?measure=item:7&weights=quadratic&bootstrap=0").get_data(as_text=True)
    assert "Gwet&#39;s AC2" in weighted
    assert "Over the categories 1, 2, 3, 4, 5, 6, 7, with quadratic weights" in weighted
    assert client.get(url + "?weights=cubic").status_code == 400
    csv = client.get(url + "/export.csv?gold=gold&bootstrap=100")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    rows = pd.read_csv(io.StringIO(csv.get_data(as_text=True)))
    assert set(rows["section"]) == {"measures", "pairs", "gold", "drift"}
    data = client.get(url + "/export.json?gold=gold&bootstrap=100").get_json()
    assert data["gold_standard"] == "gold" and len(data["measures"]) == 16
    assert client.get(f"/reliability/{rated.study_id}/no-such-scale").status_code == 404
    assert client.get(url + "?level=loud").status_code == 400


def test_the_command_reports_on_a_study(database, rated, tmp_path):
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}

    def run(*args):
        return coder(*args, env=env, timeout=300)

    gold = run("study", "Trial Q", "--gold-standard", "gold")
    assert gold.exit_code == 0, gold.stderr
    assert "gold standard gold" in gold.stdout
    out = run("reliability", "--study", "Trial Q", "--instrument", "wai-o-s", "--bootstrap", "100", "--out",
              str(tmp_path / "rep"))
    assert out.exit_code == 0, out.stderr
    assert "Total (mean)" in out.stdout and "ICC(A,1)" in out.stdout
    report = json.loads((tmp_path / "rep" / "reliability.json").read_text())
    assert report["gold_standard"] == "gold" and report["gold"]
    assert (tmp_path / "rep" / "reliability.csv").read_text().startswith("section,measure")
    bad = run("reliability", "--study", "Trial Q", "--instrument", "nope")
    assert bad.exit_code != 0 and "no submitted ratings on nope" in bad.stderr
    nobody = run("study", "Trial Q", "--gold-standard", "nobody")
    assert nobody.exit_code != 0 and "no rater named nobody" in nobody.stderr
    with database.session() as db:
        assert db.scalar(select(Study).where(Study.name == "Trial Q")).settings["gold_standard"] == "gold"
