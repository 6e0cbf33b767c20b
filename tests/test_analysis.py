"""Process–outcome models: checked against NIST's certified Longley results and against statsmodels fitted
directly to the numbers, on a simulated trial that runs through the whole chain (ratings in the
database → aggregation → client outcomes → models)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from coder.reports import analysis, analysis_output, outcomes
from coder.stats import regression
from coder.study.models import Analysis

from .support.analysis_study import build_trial, study_of
from .support.cli import coder

# NIST Statistical Reference Datasets, Longley (1967), linear least squares, "higher" difficulty:
# https://www.itl.nist.gov/div898/strd/lls/data/Longley.shtml (certified values, 15 significant digits).
LONGLEY_CERTIFIED = {
    "Intercept": (-3482258.63459582, 890420.383607373), "GNPDEFL": (15.0618722713733, 84.9149257747669),
    "GNP": (-0.358191792925910e-01, 0.334910077722432e-01), "UNEMP": (-2.02022980381683, 0.488399681651699),
    "ARMED": (-1.03322686717359, 0.214274163161675), "POP": (-0.511041056535807e-01, 0.226073200069370),
    "YEAR": (1829.15146461355, 455.478499142212)}
LONGLEY_R2 = 0.995479004577296
LONGLEY_RESIDUAL_SD = 304.854073561965
LONGLEY_F = 330.285339234588


def test_longley_reproduces_the_nist_certified_values():
    data = sm.datasets.longley.load_pandas().data  # the NIST data set as shipped with statsmodels
    model = regression.ols(data, "TOTEMP", ["GNPDEFL", "GNP", "UNEMP", "ARMED", "POP", "YEAR"])
    got = {c["term"]: c for c in model["coefficients"]}
    for term, (b, se) in LONGLEY_CERTIFIED.items():
        assert got[term]["estimate"] == pytest.approx(b, rel=1e-6), term
        assert got[term]["se"] == pytest.approx(se, rel=1e-6), term
    assert model["r2"] == pytest.approx(LONGLEY_R2, rel=1e-6)
    assert model["rmse"] == pytest.approx(LONGLEY_RESIDUAL_SD, rel=1e-6)
    assert model["f"] == pytest.approx(LONGLEY_F, rel=1e-6)
    assert model["n"] == 16 and model["df_resid"] == 9


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    from coder.db import Database

    path = tmp_path_factory.mktemp("trial")
    database = Database(f"sqlite:///{path / 'coder.db'}")
    database.migrate()
    built = build_trial(database)
    rows = built["clients"]
    rows[4]["hads_anx_post"] = "NA"  # a client lost to follow-up
    outcome_csv = path / "outcomes.csv"
    with open(outcome_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with database.session() as db:
        outcomes.import_csv(db, study_of(db, "Trial S"), outcome_csv)
        db.commit()
    yield database, outcome_csv
    database.dispose()


SPEC = analysis.Spec(changes=[analysis.Change("anxiety", "hads_anx_pre", "hads_anx_post")],
                     predictors=["homework_engagement_total"], covariates=["age", "sex"],
                     session_models=[analysis.SessionModel("homework_engagement_completion",
                                                           ["homework_engagement_determinants"], ["session"],
                                                           therapist_level=False, random_slopes=False)],
                     title="Engagement and anxiety")


@pytest.fixture(scope="module")
def fitted(trial):
    database, _ = trial
    with database.session() as db:
        row, results, tables = analysis.run(db, study_of(db, "Trial S"), SPEC)
        db.commit()
        return row.id, results, tables


def _direct(y, X):
    return sm.OLS(np.asarray(y, float), np.asarray(X, float)).fit()


def test_change_models_match_statsmodels_fitted_directly(fitted):
    _, results, tables = fitted
    dyads = tables.dyads
    change = results["changes"][0]
    sample = dyads.dropna(subset=["hads_anx_pre", "hads_anx_post", "homework_engagement_total", "age", "sex"])
    assert change["n"] == len(sample) == 29 and change["excluded"] == 1
    male = (sample["sex"] == "m").astype(float)
    ones = np.ones(len(sample))
    difference, residualised = change["models"]
    # the formula orders a factor's dummies first: Intercept, C(sex)[T.m], then the numeric terms
    X = np.column_stack([ones, male, sample["homework_engagement_total"], sample["age"]])
    for model, y, design in ((difference, sample["hads_anx_post"] - sample["hads_anx_pre"], X),
                             (residualised, sample["hads_anx_post"],
                              np.column_stack([ones, male, sample["hads_anx_pre"], X[:, 2:]]))):
        ref = _direct(y, design)
        got = model["coefficients"]
        np.testing.assert_allclose([c["estimate"] for c in got], ref.params, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose([c["se"] for c in got], ref.bse, rtol=1e-8)
        np.testing.assert_allclose([c["p"] for c in got], ref.pvalues, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose([[c["ci_low"], c["ci_high"]] for c in got], ref.conf_int(), rtol=1e-8)
        assert model["r2"] == pytest.approx(ref.rsquared, rel=1e-8)
        assert model["adj_r2"] == pytest.approx(ref.rsquared_adj, rel=1e-8)
        assert model["n"] == 29
        # standardised coefficients: the slopes of the model refitted to z-scores
        z = (design[:, 1:] - design[:, 1:].mean(0)) / design[:, 1:].std(0, ddof=1)
        zy = (np.asarray(y, float) - np.mean(y)) / np.std(y, ddof=1)
        np.testing.assert_allclose([c["beta"] for c in got[1:]], _direct(zy, np.column_stack([ones, z])).params[1:],
                                   rtol=1e-8)
    assert "C(sex)" in difference["formula"] and difference["formula"].startswith("anxiety_change ~")
    assert residualised["formula"].startswith("hads_anx_post ~ hads_anx_pre")


def test_baseline_correlations_and_the_note(fitted):
    _, results, tables = fitted
    change = results["changes"][0]
    sample = tables.dyads.dropna(subset=["hads_anx_pre", "hads_anx_post", "homework_engagement_total", "age", "sex"])
    got = {c["variable"]: c for c in change["baseline_correlations"]}
    assert set(got) == {"homework_engagement_total", "age"}  # sex is categorical
    r = np.corrcoef(sample["homework_engagement_total"], sample["hads_anx_pre"])[0, 1]
    assert got["homework_engagement_total"]["r"] == pytest.approx(r, rel=1e-10)
    strong = [c["variable"] for c in change["baseline_correlations"] if abs(c["r"]) >= 0.3]
    if strong:
        assert f"{', '.join(strong)} correlate" in change["note"] and "Lord's paradox" in change["note"]
    else:
        assert "No predictor correlates with baseline hads_anx_pre" in change["note"]


def test_partial_regression_slope_is_the_coefficient(fitted):
    _, results, _ = fitted
    model = results["changes"][0]["models"][1]
    x, y = regression.partial_regression(model, "homework_engagement_total")
    slope = float((x * y).sum() / (x * x).sum())
    coef = next(c for c in model["coefficients"] if c["term"] == "homework_engagement_total")
    assert slope == pytest.approx(coef["estimate"], rel=1e-8)


def test_multilevel_matches_statsmodels_with_hand_centred_predictors(fitted):
    _, results, tables = fitted
    m = results["session_models"][0]
    s = tables.sessions.dropna(subset=["homework_engagement_completion", "homework_engagement_determinants",
                                       "session"])
    x = s["homework_engagement_determinants"].to_numpy()
    means = s.groupby("dyad")["homework_engagement_determinants"].mean()
    between = s["dyad"].map(means).to_numpy()
    exog = np.column_stack([np.ones(len(s)), x - between, between, s["session"].to_numpy(float)])
    ref = sm.MixedLM(s["homework_engagement_completion"].to_numpy(), exog, groups=s["dyad"].to_numpy()) \
        .fit(reml=True)  # statsmodels' defaults
    assert ref.converged
    np.testing.assert_allclose([c["estimate"] for c in m["coefficients"]], ref.fe_params, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose([c["se"] for c in m["coefficients"]], ref.bse_fe, rtol=1e-8)
    np.testing.assert_allclose([c["p"] for c in m["coefficients"]], ref.pvalues[:4], rtol=1e-8, atol=1e-300)
    assert m["group_variance"] == pytest.approx(float(ref.cov_re[0, 0]), rel=1e-8)
    assert m["residual_variance"] == pytest.approx(ref.scale, rel=1e-8)
    assert m["n"] == len(s) and m["groups"] == s["dyad"].nunique() == 30
    assert [c["term"] for c in m["coefficients"]] == [
        "Intercept", "homework_engagement_determinants_within", "homework_engagement_determinants_between",
        "session"]
    assert m["converged"] and 0 < m["icc_null"] < 1


def test_person_mean_centring():
    frame = pd.DataFrame({"dyad": ["a", "a", "b", "b", "b"], "x": [1.0, 3.0, 2.0, 2.0, 5.0]})
    out = regression.centre(frame, ["x"])
    assert out["x_between"].tolist() == [2, 2, 3, 3, 3]
    assert out["x_within"].tolist() == [-1, 1, -1, -1, 2]


def test_the_stored_analysis_is_reproducible_from_its_snapshot(trial, fitted):
    database, _ = trial
    analysis_id, results, _ = fitted
    with database.session() as db:
        row = db.get(Analysis, analysis_id)
        assert row.data_sha256 == analysis.digest(row.data)
        assert row.formulas == analysis.formulas(results) and row.versions["statsmodels"]
        assert row.spec["aggregation"] == {"unit": "mean", "dyad": "mean"}
        assert analysis.public(analysis.rerun(row)) == row.results == analysis.public(results)
        row.data["dyads"][0]["hads_anx_pre"] = 99.0  # tampered snapshot
        with pytest.raises(analysis.AnalysisError, match="no longer match"):
            analysis.rerun(row)
        db.rollback()


def test_errors_name_the_variable(fitted):
    _, _, tables = fitted
    with pytest.raises(analysis.AnalysisError, match="no variable 'wai_total'"):
        analysis.fit(analysis.Spec(changes=SPEC.changes, predictors=["wai_total"]), tables.dyads, tables.sessions)
    with pytest.raises(analysis.AnalysisError, match="anxiety: no variable hads_dep_pre"):
        analysis.fit(analysis.Spec(changes=[analysis.Change("anxiety", "hads_dep_pre", "hads_anx_post")]),
                     tables.dyads, tables.sessions)
    with pytest.raises(analysis.AnalysisError, match="nothing to fit"):
        analysis.fit(analysis.Spec(), tables.dyads, tables.sessions)
    with pytest.raises(analysis.AnalysisError, match="complete cases"):
        regression.ols(tables.dyads.head(3), "hads_anx_post", ["hads_anx_pre", "age", "homework_engagement_total"])


def test_report_files(fitted, trial, tmp_path):
    database, _ = trial
    analysis_id, results, _ = fitted
    with database.session() as db:
        row = db.get(Analysis, analysis_id)
        meta = analysis_output.record(row)
        assert meta["study"] == "Trial S" and "mean over the dyad's rated sessions" in meta["aggregation"]
        written = analysis_output.write(tmp_path, results, meta, row.data)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"results.csv", "results.json", "results.html", "data/dyads.csv", "data/sessions.csv"} <= names
    assert any(n.startswith("plots/partial-anxiety-residualised-homework-engagement-total") for n in names)
    assert "plots/trajectories-homework-engagement-completion.svg" in names
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == len(analysis.table_rows(results))
    coef = table[(table["kind"] == "residualised") & (table["term"] == "homework_engagement_total")].iloc[0]
    assert coef["estimate"] == pytest.approx(
        next(c["estimate"] for c in results["changes"][0]["models"][1]["coefficients"]
             if c["term"] == "homework_engagement_total"), rel=1e-12)
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["data_sha256"] == row.data_sha256 and stored["formulas"] == row.formulas
    # effect sizes and the adjusted p-values over the family of predictor tests (three here: the engagement
    # total in both change models, and the within and between parts in the session model)
    assert coef["partial_r2"] == pytest.approx(coef["statistic"] ** 2 / (coef["statistic"] ** 2 + 29 - 5))
    family = results["adjustment"]
    assert family["n_tests"] == 4 and table["p_holm"].notna().sum() == 4
    predictors = table[table["role"] == "predictor"]
    assert (predictors["p_holm"] >= predictors["p"]).all() and (predictors["p_bh"] <= predictors["p_holm"]).all()
    html = (tmp_path / "results.html").read_text()
    assert row.data_sha256 in html and "<svg" in html and "<script" not in html
    assert "p (Holm)" in html and "adjusted over a family of 4 tests" in html and "partial R²" in html
    assert pd.read_csv(tmp_path / "data" / "dyads.csv").shape[0] == 30


def test_the_commands_import_aggregate_analyse_and_rerun(database, tmp_path):
    """The whole path from the command line, on SQLite and PostgreSQL."""
    built = build_trial(database, dyads=12, sessions=4, seed=5, study_name="Trial C")
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}

    def run(*args):
        return coder(*args, env=env, timeout=300)

    bad = tmp_path / "bad.csv"
    bad.write_text("client,hads_anx_pre,hads_anx_post\nC1,12,8\nC2,x,7\nC99,1,1\n")
    out = run("outcomes", "import", str(bad), "--study", "Trial C")
    assert out.exit_code == 1
    assert "nothing imported" in out.stderr and "row 3, column hads_anx_pre: 'x' is not a number" in out.stderr
    assert "C99 (row 4)" in out.stderr
    good = tmp_path / "outcomes.csv"
    with open(good, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(built["clients"][0]))
        writer.writeheader()
        writer.writerows(built["clients"])
    out = run("outcomes", "import", str(good), "--study", "Trial C", "--range", "hads_anx_pre=0:21")
    assert out.exit_code == 0, out.stderr
    assert "of 12 clients" in out.stdout and "sex (text)" in out.stdout
    assert run("outcomes", "show", "--study", "Trial C").stdout.startswith("client,age,hads_anx_post")

    out = run("aggregate", "--study", "Trial C", "--dyad", "first", "--out", str(tmp_path / "tables"),
              "--format", "csv,xlsx")
    assert out.exit_code == 0, out.stderr
    dyads = pd.read_csv(tmp_path / "tables" / "dyads.csv")
    assert len(dyads) == 12 and "earliest rated session" in dyads["aggregation"][0]
    assert "hads_anx_pre" in dyads.columns and (tmp_path / "tables" / "tables.xlsx").exists()
    assert run("aggregate", "--study", "Trial C", "--dyad", "median", "--out", str(tmp_path / "x")).exit_code != 0

    out = run("analyze", "--study", "Trial C", "--change", "anxiety=hads_anx_pre:hads_anx_post",
              "--predictor", "homework_engagement_total", "--covariate", "age",
              "--session-outcome", "homework_engagement_completion",
              "--session-predictor", "homework_engagement_determinants", "--out", str(tmp_path / "results"))
    assert out.exit_code == 0, out.stderr
    assert "anxiety: residualised change" in out.stdout and "homework_engagement_determinants_within" in out.stdout
    stored = json.loads((tmp_path / "results" / "results.json").read_text())
    assert stored["analysis_id"] and stored["spec"]["changes"][0]["pre"] == "hads_anx_pre"
    rerun = run("analyze", "--rerun", str(stored["analysis_id"]), "--out", str(tmp_path / "again"))
    assert rerun.exit_code == 0, rerun.stderr
    assert "identical to the stored ones" in rerun.stdout
    assert (tmp_path / "again" / "results.csv").read_text() == (tmp_path / "results" / "results.csv").read_text()
    spec = tmp_path / "spec.yaml"
    spec.write_text("changes: [{name: anxiety, pre: hads_anx_pre, post: hads_anx_post}]\n"
                    "predictors: [homework_engagement_total]\naggregation: {unit: mean, dyad: slope}\n")
    out = run("analyze", "--study", "Trial C", "--spec", str(spec), "--no-store", "--json")
    assert out.exit_code == 0, out.stderr
    result = json.loads(out.stdout)
    assert "analysis_id" not in result and result["spec"]["aggregation"]["dyad"] == "slope"
    missing = run("analyze", "--study", "Trial C", "--change", "anxiety=hads_anx_pre:hads_anx_post",
                  "--predictor", "wai_total")
    assert missing.exit_code != 0 and "no variable 'wai_total'" in missing.stderr
    with database.session() as db:
        assert db.query(Analysis).count() == 1
