"""Reliability statistics against published worked examples and established packages.

Sources named in each test: Shrout & Fleiss (1979) Table 2 with R psych::ICC's output for it;
Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability"; pingouin.intraclass_corr and
krippendorff.alpha on random data. The agreement coefficients (kappas, AC, percent agreement) are
tested in test_agreement.py.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from coder.stats import agreement, reliability as rel

from .support.cli import coder
from .support.prerequisites import need


def reference(module: str):
    """A reference implementation from the test extra (pip install -e .[test]); required in CI."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        need(False, f"{module} not installed (pip install -e .[test])")

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
                         dtype=float)

# Krippendorff (2011), p. 3: 4 observers × 12 units, "." = missing.
NA = np.nan
KRIPPENDORFF = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
                         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
                         [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
                         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA]]).T  # units × observers

# Fleiss (1971) example as on Wikipedia: 10 subjects, 14 raters each, counts per category 1-5.
FLEISS = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                   [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])


def long_format(matrix: np.ndarray) -> pd.DataFrame:
    rows = [(f"u{i}", f"r{j}", matrix[i, j]) for i in range(matrix.shape[0]) for j in range(matrix.shape[1])
            if not np.isnan(matrix[i, j])]
    return pd.DataFrame(rows, columns=["unit", "rater", "score"])


def test_icc_reproduces_shrout_and_fleiss_1979():
    """Published: ICC(1,1) .17, (2,1) .29, (3,1) .71, (1,4) .44, (2,4) .62, (3,4) .91 (Shrout & Fleiss 1979,
    Table 4); F, p and 95 % limits as R's psych::ICC prints them for the same table."""
    result = rel.icc(SHROUT_FLEISS)
    published = {"ICC(1,1)": 0.17, "ICC(A,1)": 0.29, "ICC(C,1)": 0.71, "ICC(1,k)": 0.44, "ICC(A,k)": 0.62,
                 "ICC(C,k)": 0.91}
    for form, value in published.items():
        assert round(result[form].value, 2) == value
    psych_limits = {"ICC(1,1)": (-0.133, 0.72), "ICC(A,1)": (0.019, 0.76), "ICC(C,1)": (0.342, 0.95),
                    "ICC(1,k)": (-0.884, 0.91), "ICC(A,k)": (0.071, 0.93), "ICC(C,k)": (0.676, 0.99)}
    for form, (lower, upper) in psych_limits.items():
        assert round(result[form].ci95[0], 3) == lower and round(result[form].ci95[1], 2) == upper
    assert round(result["ICC(1,1)"].F, 1) == 1.8 and (result["ICC(1,1)"].df1, result["ICC(1,1)"].df2) == (5, 18)
    assert round(result["ICC(1,1)"].p, 5) == 0.16477
    assert round(result["ICC(C,1)"].F, 1) == 11.0 and (result["ICC(C,1)"].df1, result["ICC(C,1)"].df2) == (5, 15)
    assert round(result["ICC(A,1)"].p, 5) == 0.00013


@pytest.mark.parametrize("seed", range(5))
def test_icc_agrees_with_pingouin_on_random_data(seed):
    pingouin = reference("pingouin")
    rng = np.random.default_rng(seed)
    n, k = rng.integers(5, 40), rng.integers(2, 7)
    truth = rng.normal(0, 1, (n, 1))
    matrix = truth + rng.normal(0, rng.uniform(0.3, 2), (n, k)) + rng.normal(0, 0.5, (1, k))
    ours = rel.icc(matrix)
    theirs = pingouin.intraclass_corr(long_format(matrix), "unit", "rater", "score").set_index("Type")
    ci_column = "CI95" if "CI95" in theirs.columns else "CI95%"
    for form in rel.ICC_FORMS:
        row = theirs.loc[form]
        assert ours[form].value == pytest.approx(row["ICC"], abs=1e-10)
        assert ours[form].F == pytest.approx(row["F"], rel=1e-10)
        assert ours[form].p == pytest.approx(row["pval"], rel=1e-8, abs=1e-300)
        assert (ours[form].df1, ours[form].df2) == (row["df1"], row["df2"])
        assert np.allclose(ours[form].ci95, row[ci_column], atol=0.005 + 1e-9)  # pingouin rounds to 2 places


def test_icc_edge_cases_give_clear_errors():
    with pytest.raises(rel.ReliabilityError, match="two raters"):
        rel.icc(np.ones((5, 1)))
    with pytest.raises(rel.ReliabilityError, match="at least two targets"):
        rel.icc(np.array([[1.0, 2.0], [3.0, np.nan]]))
    with pytest.raises(rel.ReliabilityError, match="no variance"):
        rel.icc(np.full((4, 3), 5.0))
    # perfect agreement: every form is 1, and the F test is infinite with p = 0
    perfect = rel.icc(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
    assert all(f.value == 1.0 and f.ci95 == (1.0, 1.0) for f in perfect.values()) and perfect["ICC(C,1)"].p == 0.0


def test_krippendorff_alpha_reproduces_krippendorff_2011():
    """Published: nominal α = 0.743, interval α = 0.849 (Krippendorff 2011, pp. 3-5)."""
    assert round(rel.krippendorff_alpha(KRIPPENDORFF, "nominal"), 3) == 0.743
    assert round(rel.krippendorff_alpha(KRIPPENDORFF, "interval"), 3) == 0.849


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("level", rel.LEVELS)
def test_krippendorff_alpha_agrees_with_the_krippendorff_package(seed, level):
    krippendorff = reference("krippendorff")
    rng = np.random.default_rng(seed)
    units, raters = 30, 4
    truth = rng.integers(1, 6, (units, 1))
    matrix = np.clip(truth + rng.integers(-1, 2, (units, raters)), 1, 5).astype(float)
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    expected = krippendorff.alpha(reliability_data=matrix.T, level_of_measurement=level)
    assert rel.krippendorff_alpha(matrix, level) == pytest.approx(expected, abs=1e-10)


def test_krippendorff_alpha_edge_cases():
    with pytest.raises(rel.ReliabilityError, match="pairable"):
        rel.krippendorff_alpha(np.array([[1.0, np.nan], [np.nan, 2.0]]))
    with pytest.raises(rel.ReliabilityError, match="same value"):
        rel.krippendorff_alpha(np.full((3, 2), 4.0))
    with pytest.raises(rel.ReliabilityError, match="level"):
        rel.krippendorff_alpha(KRIPPENDORFF, "cardinal")
    lo, hi = rel.bootstrap_alpha(KRIPPENDORFF, "interval", n_boot=300, seed=1)
    assert lo < rel.krippendorff_alpha(KRIPPENDORFF, "interval") < hi <= 1
    assert rel.bootstrap_alpha(KRIPPENDORFF, "interval", n_boot=300, seed=1) == (lo, hi)  # seeded


def test_long_format_is_checked():
    data = long_format(SHROUT_FLEISS)
    assert rel.to_matrix(data, "unit", "rater", "score").shape == (6, 4)
    with pytest.raises(rel.ReliabilityError, match="no column 'judge'"):
        rel.to_matrix(data, "unit", "judge", "score")
    twice = pd.concat([data, data.iloc[[0]]])
    with pytest.raises(rel.ReliabilityError, match="more than once"):
        rel.to_matrix(twice, "unit", "rater", "score")
    bad = data.astype({"score": object})
    bad.loc[3, "score"] = "n/a?"
    with pytest.raises(rel.ReliabilityError, match="row 3: score 'n/a\\?' in column 'score' is not a number"):
        rel.to_matrix(bad, "unit", "rater", "score")


def test_the_command_follows_the_contract(tmp_path):
    path = tmp_path / "ratings.csv"
    long_format(SHROUT_FLEISS).rename(columns={"unit": "target", "rater": "judge"}).to_csv(path, index=False)
    cli = ["reliability", str(path), "--target", "target", "--rater", "judge", "--score", "score"]
    out = coder(*cli, "--json", "--bootstrap", "200", timeout=120)
    assert out.exit_code == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["n_targets"], result["n_raters"]) == (6, 4)
    assert set(result["icc"]) == set(rel.ICC_FORMS)
    assert round(result["icc"]["ICC(C,1)"]["value"], 2) == 0.71
    assert set(result["icc"]["ICC(A,1)"]) >= {"value", "F", "df1", "df2", "p", "ci95"}
    assert result["krippendorff_alpha"]["level"] == "interval" and len(result["krippendorff_alpha"]["ci95"]) == 2
    assert "fleiss_kappa" not in result and "weighted_kappa" not in result  # interval, four raters
    assert result["gwet_ac"]["value"] == pytest.approx(agreement.gwet_ac(SHROUT_FLEISS).value)
    assert result["percent_agreement"]["value"] == pytest.approx(agreement.percent_agreement(SHROUT_FLEISS).value)
    nominal = json.loads(coder(*cli, "--json", "--level", "nominal", "--bootstrap", "0", timeout=120).stdout)
    assert nominal["fleiss_kappa"]["value"] == pytest.approx(agreement.fleiss_kappa(SHROUT_FLEISS).value)
    two = tmp_path / "two.csv"
    long_format(SHROUT_FLEISS[:, :2]).to_csv(two, index=False)
    pair = json.loads(coder("reliability", two, "--target", "unit", "--rater", "rater", "--score", "score",
                            "--weights", "quadratic", "--json", "--bootstrap", "0", timeout=120).stdout)
    assert pair["weighted_kappa"]["value"] == pytest.approx(
        agreement.cohen_kappa(SHROUT_FLEISS[:, 0], SHROUT_FLEISS[:, 1], "quadratic").value)
    text = coder(*cli, timeout=120)
    assert "ICC(A,1)" in text.stdout and "two-way random effects, single rater, absolute agreement" in text.stdout
    missing = coder(*cli[:-6], "--target", "nope", "--rater", "judge", "--score", "score", timeout=120)
    assert missing.exit_code != 0 and "no column 'nope'" in missing.stderr


def test_limits_of_agreement_reproduce_bland_and_altman_1986():
    """Published: mean difference −2.1 l/min, SD 38.8 (Bland & Altman 1986, Lancet i:307-310, first readings
    of the Wright and mini Wright peak flow meters in 17 subjects)."""
    wright = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
    mini = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]
    ba = rel.bland_altman(wright, mini)
    assert ba.n == 17 and round(ba.mean_difference, 1) == -2.1 and round(ba.sd_difference, 1) == 38.8
    assert ba.limits == pytest.approx((-2.1176 - 1.96 * 38.7651, -2.1176 + 1.96 * 38.7651), abs=1e-3)
    with pytest.raises(rel.ReliabilityError, match="at least two units"):
        rel.bland_altman([1, np.nan], [2, 3])


def test_pairwise_agreement_covers_every_pair_on_the_units_both_rated():
    matrix = pd.DataFrame(SHROUT_FLEISS, columns=["A", "B", "C", "D"])
    matrix.loc[0, "D"] = np.nan
    table = rel.pairwise(matrix)
    assert len(table) == 6 and list(table.columns[:3]) == ["rater_a", "rater_b", "n"]
    ad = table[(table.rater_a == "A") & (table.rater_b == "D")].iloc[0]
    assert ad["n"] == 5
    pair = SHROUT_FLEISS[1:, [0, 3]]
    assert ad["icc_a1"] == pytest.approx(rel.icc(pair)["ICC(A,1)"].value)
    assert ad["kappa"] == pytest.approx(agreement.cohen_kappa(pair[:, 0], pair[:, 1], "quadratic").value)
    assert ad["percent_agreement"] == pytest.approx((pair[:, 0] == pair[:, 1]).mean())
    assert ad["mean_difference"] == pytest.approx((pair[:, 0] - pair[:, 1]).mean())
    one = pd.DataFrame({"A": [1.0, 2.0, np.nan], "B": [1.0, np.nan, 3.0]})
    row = rel.pairwise(one).iloc[0]
    assert row["n"] == 1 and row["icc_a1"] is None and "icc_a1:" in row["note"]


# --- incomplete designs: variance components ------------------------------------------------------------

def incomplete_design(seed: int, targets: int = 60, raters: int = 6, per_target: int = 3,
                      v_target: float = 1.5, v_rater: float = 0.5, v_residual: float = 1.0) -> np.ndarray:
    """Each target scored by `per_target` raters drawn at random from the pool (a planned missing design)."""
    rng = np.random.default_rng(seed)
    y = np.full((targets, raters), np.nan)
    rater_effect = rng.normal(0, v_rater ** 0.5, raters)
    for s in range(targets):
        chosen = rng.choice(raters, per_target, replace=False)
        y[s, chosen] = 3 + rng.normal(0, v_target ** 0.5) + rater_effect[chosen] + rng.normal(0, v_residual ** 0.5,
                                                                                               per_target)
    return y


def test_variance_components_equal_anova_on_complete_data():
    """On a complete table the REML components are the ANOVA ones: σ²_s = (MSR − MSE)/k, σ²_r = (MSC − MSE)/n,
    σ²_e = MSE, so every ICC matches Shrout & Fleiss (1979) as computed by ``icc``."""
    vc = rel.variance_components(SHROUT_FLEISS)
    a = rel.mean_squares(SHROUT_FLEISS)
    assert vc.target == pytest.approx((a["msr"] - a["mse"]) / 4, rel=1e-5)
    assert vc.rater == pytest.approx((a["msc"] - a["mse"]) / 6, rel=1e-5)
    assert vc.residual == pytest.approx(a["mse"], rel=1e-5)
    anova, mixed = rel.icc(SHROUT_FLEISS), rel.icc_incomplete(SHROUT_FLEISS)
    for form in rel.ICC_FORMS:
        assert mixed[form].value == pytest.approx(anova[form].value, abs=1e-5), form
        assert mixed[form].name is None and mixed[form].k == anova[form].k


@pytest.mark.parametrize("seed", range(3))
def test_variance_components_agree_with_statsmodels_reml(seed):
    """statsmodels MixedLM (REML) with crossed target and rater variance components on one group."""
    sm = reference("statsmodels.formula.api")
    y = incomplete_design(seed)
    rows, cols = np.nonzero(~np.isnan(y))
    data = pd.DataFrame({"s": rows, "r": cols, "y": y[rows, cols], "g": 1})
    fit = sm.mixedlm("y ~ 1", data, groups="g", vc_formula={"s": "0 + C(s)", "r": "0 + C(r)"},
                     re_formula="0").fit(reml=True)
    expected = dict(zip(fit.model.exog_vc.names, fit.vcomp))
    vc = rel.variance_components(y)
    assert vc.target == pytest.approx(expected["s"], rel=1e-3)
    assert vc.rater == pytest.approx(expected["r"], rel=1e-3, abs=1e-6)
    assert vc.residual == pytest.approx(fit.scale, rel=1e-3)
    assert vc.mean == pytest.approx(fit.fe_params.iloc[0], rel=1e-3)


def test_k_hat_and_q_follow_their_definitions():
    """k̂ is the harmonic mean of raters per target; q = 1/k̂ − Σ_{s≠s'} k_ss'/(k_s k_s') / (S(S−1))
    (ten Hove et al. 2022, Table 1 note), here against a loop over every pair of targets."""
    rated = ~np.isnan(incomplete_design(4, targets=25, raters=5, per_target=2))
    rated[0, :] = True  # one target rated by everyone: unequal k_s
    k = rated.sum(axis=1)
    k_hat = len(k) / (1 / k).sum()
    pairs = sum((rated[s] & rated[t]).sum() / (k[s] * k[t]) for s in range(len(k)) for t in range(len(k)) if s != t)
    d = rel.design(rated)
    assert d.k_hat == pytest.approx(k_hat)
    assert d.q == pytest.approx(1 / k_hat - pairs / (len(k) * (len(k) - 1)))
    assert (d.complete, d.crossed) == (False, True)
    full = rel.design(np.ones((6, 4), dtype=bool))
    assert (full.k_hat, full.q, full.complete) == (4, 0, True)


def test_incomplete_design_intervals_cover_the_truth():
    """Monte-Carlo intervals (ten Hove et al. 2025) on 200 simulated planned-missing data sets (60 targets,
    3 of 6 raters each): the 95 % intervals of ICC(A,1) and ICC(C,1) cover the population values about 95 %
    of the time, and the estimates are unbiased."""
    truth = {"ICC(A,1)": 1.5 / 3.0, "ICC(C,1)": 1.5 / 2.5}
    covered = {form: 0 for form in truth}
    estimates = {form: [] for form in truth}
    reps = 200
    for seed in range(reps):
        result = rel.icc_incomplete(incomplete_design(100 + seed), draws=2000, seed=seed)
        for form, value in truth.items():
            lo, hi = result[form].ci95
            covered[form] += lo <= value <= hi
            estimates[form].append(result[form].value)
    for form, value in truth.items():
        assert 0.90 <= covered[form] / reps <= 0.99, (form, covered[form])
        assert np.mean(estimates[form]) == pytest.approx(value, abs=0.03)


def test_the_estimator_follows_the_design():
    complete = rel.icc_summary(pd.DataFrame(SHROUT_FLEISS))
    assert complete["icc_estimator"].startswith("two-way ANOVA") and complete["design"]["complete"]
    assert complete["icc"]["ICC(A,1)"]["F"] is not None
    y = incomplete_design(7)
    result = rel.icc_summary(pd.DataFrame(y))
    assert result["icc_estimator"].startswith("REML") and "k̂ = 3.00" in result["icc_estimator"]
    assert result["icc"]["ICC(C,k)"]["name"] == "ICC(Q,k̂)" and result["icc"]["ICC(A,k)"]["k"] == pytest.approx(3)
    assert result["icc"]["ICC(A,1)"]["F"] is None
    assert result["icc"]["ICC(A,1)"]["type"] == "single rater"
    assert "mean of k̂ raters" == result["icc"]["ICC(A,k)"]["type"]
    # the average forms gain what Spearman-Brown would predict from the single ones when q is zero
    assert result["icc"]["ICC(A,k)"]["value"] > result["icc"]["ICC(A,1)"]["value"]


def test_incomplete_design_edge_cases():
    nested = np.full((6, 12), np.nan)  # every rater rated one target only
    for s in range(6):
        nested[s, 2 * s:2 * s + 2] = [s, s + 1.5]
    result = rel.icc_summary(pd.DataFrame(nested))
    assert result["icc"]["ICC(A,1)"] is None and result["icc"]["ICC(1,1)"]["value"] > 0.5
    assert "only the one-way forms" in result["icc_estimator"]
    once = np.full((5, 5), np.nan)
    np.fill_diagonal(once, [1, 2, 3, 4, 5])
    assert "no target was rated by two raters" in rel.icc_summary(pd.DataFrame(once))["icc_reason"]
    same = incomplete_design(1)
    same[~np.isnan(same)] = 4
    assert "every score is the same" in rel.icc_summary(pd.DataFrame(same))["icc_reason"]
    lone = incomplete_design(2)
    lone = np.column_stack([lone, np.full(len(lone), np.nan)])
    lone[0, -1] = 5  # a rater with a single rating, and an all-missing column removed
    lone = np.column_stack([lone, np.full(len(lone), np.nan)])
    result = rel.icc_summary(pd.DataFrame(lone))
    assert result["design"]["n_raters"] == 7 and result["icc"]["ICC(A,1)"]["value"] is not None


@pytest.mark.parametrize("level", ["interval", "ordinal"])
def test_bootstrap_alpha_is_alpha_of_resampled_units(level):
    """The vectorised bootstrap sums per-unit coincidences; each replicate must equal Krippendorff's alpha of
    the explicitly resampled table (same draws), and the interval their percentiles."""
    y = KRIPPENDORFF
    n_boot = 60
    rng = np.random.default_rng(5)
    draws = rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=n_boot)
    replicates = []
    for draw in draws:
        try:
            replicates.append(rel.krippendorff_alpha(np.repeat(y, draw, axis=0), level))
        except rel.ReliabilityError:
            pass
    expected = np.percentile(replicates, [2.5, 97.5])
    assert rel.bootstrap_alpha(y, level, n_boot=n_boot, seed=5) == pytest.approx(tuple(expected), abs=1e-12)


# --- honest output at the edges -------------------------------------------------------------------------

def strict_json(text: str):
    """JSON as R's jsonlite reads it: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_the_json_stays_valid_and_says_why_a_statistic_is_missing(tmp_path):
    def run(rows, *extra):
        path = tmp_path / "ratings.csv"
        pd.DataFrame(rows, columns=["unit", "rater", "score"]).to_csv(path, index=False)
        out = coder("reliability", path, "--target", "unit", "--rater", "rater", "--score", "score", "--json",
                    *extra, timeout=120)
        assert out.exit_code == 0, out.stderr
        return strict_json(out.stdout)

    # perfect agreement: no error variance, so F is infinite; null with a reason instead of Infinity
    perfect = run([(f"u{i}", r, i % 5) for i in range(8) for r in ("a", "b")], "--bootstrap", "50")
    consistency = perfect["icc"]["ICC(C,1)"]
    assert consistency["value"] == 1 and consistency["F"] is None and "infinite" in consistency["F_reason"]
    # one unit: alpha would be 0 whatever the scores; refused with a reason, as the ICC is
    one = run([("u1", "a", 2), ("u1", "b", 4)], "--bootstrap", "50")
    assert one["krippendorff_alpha"]["value"] is None and "only one unit" in one["krippendorff_alpha"]["reason"]
    assert one["icc"] is None and one["icc_reason"]
    # two units: an interval, with a warning about how few units it resamples
    two = run([("u1", "a", 2), ("u1", "b", 4), ("u2", "a", 5), ("u2", "b", 5)], "--bootstrap", "50")
    assert two["krippendorff_alpha"]["ci95"] and "only 2 units" in two["krippendorff_alpha"]["warning"]
    assert two["krippendorff_alpha"]["n_units"] == 2 and two["krippendorff_alpha"]["n_ratings"] == 4


def test_each_icc_names_its_estimator_and_both_names():
    """ANOVA ICCs can fall below zero; REML variance components cannot, so ICCs from an incomplete table stop
    at zero. Each form says which produced it, and carries Shrout & Fleiss' name beside McGraw & Wong's."""
    y = np.array([[1, 4], [4, 1], [2, 4], [4, 2], [3, 3]], dtype=float)
    complete = rel.icc_summary(pd.DataFrame(y))["icc"]
    assert complete["ICC(A,1)"]["estimator"] == "anova" and complete["ICC(A,1)"]["value"] < 0
    assert [complete[f]["shrout_fleiss"] for f in rel.ICC_FORMS] == [
        "ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)"]
    y[0, 0] = np.nan
    incomplete = rel.icc_summary(pd.DataFrame(y))["icc"]
    assert incomplete["ICC(A,1)"]["estimator"] == "reml" and incomplete["ICC(A,1)"]["value"] >= 0
    assert incomplete["ICC(C,k)"]["name"] == "ICC(Q,k̂)" and incomplete["ICC(C,k)"]["shrout_fleiss"] is None


def test_the_command_takes_the_scale_and_any_weights(tmp_path):
    path = tmp_path / "ratings.csv"
    long_format(KRIPPENDORFF).to_csv(path, index=False)
    cli = ["reliability", path, "--target", "unit", "--rater", "rater", "--score", "score", "--bootstrap", "0"]
    plain = strict_json(coder(*cli, "--json", timeout=120).stdout)
    assert plain["gwet_ac"]["statistic"] == "AC1" and plain["categories"] == [1, 2, 3, 4, 5]
    assert plain["gwet_ac"]["value"] == pytest.approx(agreement.gwet_ac(KRIPPENDORFF).value)
    assert plain["gwet_ac"]["ci95"] == pytest.approx(list(agreement.gwet_ac(KRIPPENDORFF).ci95))
    wider = strict_json(coder(*cli, "--json", "--weights", "ordinal", "--categories", "1,2,3,4,5,6,7",
                              timeout=120).stdout)
    assert wider["gwet_ac"]["statistic"] == "AC2" and wider["gwet_ac"]["weights"] == "ordinal"
    assert wider["gwet_ac"]["value"] == pytest.approx(agreement.gwet_ac(KRIPPENDORFF, "ordinal", range(1, 8)).value)
    assert wider["percent_agreement"]["weights"] == "ordinal" and len(wider["percent_agreement"]["pairs"]) == 6
    text = coder(*cli, "--level", "nominal", timeout=120).stdout
    assert "Fleiss' kappa 0.761" in text and "AC1 0.775" in text and "percent agreement 0.818" in text
    bad = coder(*cli, "--categories", "1,2,three", timeout=120)
    assert bad.exit_code != 0 and "--categories must be numbers" in bad.stderr
    narrow = coder(*cli, "--json", "--categories", "1,2,3", timeout=120)
    assert "rating 4 is not one of the categories" in strict_json(narrow.stdout)["gwet_ac"]["reason"]
