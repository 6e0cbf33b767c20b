"""Effect sizes, adjusted p-values and multilevel structure of the process–outcome models.

References named in each test: statsmodels' ``anova_lm`` (type II sums of squares: partial R² is
SS_term / (SS_term + SS_residual)); Holm's and Benjamini–Hochberg's procedures worked by hand and by
statsmodels' ``multipletests``; statsmodels' ``MixedLM`` fitted directly, with the nesting written out, on
simulated trials whose variances are known.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from coder.reports.analysis import Spec
from coder.stats import regression
from coder.stats.regression import SessionModel


def simulate(seed: int, therapists: int = 12, dyads: int = 4, sessions: int = 6, v_therapist: float = 0.5,
             v_dyad: float = 1.0, v_residual: float = 1.0, v_slope: float = 0.0) -> pd.DataFrame:
    """Sessions in dyads in therapists: y = 2 + u_t + u_d + (0.5 + s_d)(x − x̄_d) + 0.3 x̄_d + e."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(therapists):
        u_t = rng.normal(0, v_therapist ** 0.5)
        for d in range(dyads):
            u_d, s_d, mean = rng.normal(0, v_dyad ** 0.5), rng.normal(0, v_slope ** 0.5), rng.normal(0, 1)
            for s in range(sessions):
                x = mean + rng.normal(0, 1)
                y = 2 + u_t + u_d + (0.5 + s_d) * (x - mean) + 0.3 * mean + rng.normal(0, v_residual ** 0.5)
                rows.append({"therapist": f"t{t}", "dyad": f"t{t}-d{d}", "session": s + 1, "x": x, "y": y})
    return pd.DataFrame(rows)


# --- effect sizes ---------------------------------------------------------------------------------------

def test_effect_sizes_agree_with_anova_sums_of_squares():
    data = sm.datasets.longley.load_pandas().data
    terms = ["GNPDEFL", "UNEMP", "ARMED", "POP"]
    model = regression.ols(data, "TOTEMP", terms)
    table = sm.stats.anova_lm(smf.ols("TOTEMP ~ " + " + ".join(terms), data).fit(), typ=2)
    residual = table.loc["Residual", "sum_sq"]
    for coef in model["coefficients"][1:]:
        ss = table.loc[coef["term"], "sum_sq"]
        assert coef["partial_r2"] == pytest.approx(ss / (ss + residual), rel=1e-9), coef["term"]
        assert coef["f2"] == pytest.approx(ss / residual, rel=1e-9), coef["term"]
        scale = coef["beta"] / coef["estimate"]
        assert (coef["beta_ci_low"], coef["beta_ci_high"]) == pytest.approx(
            (coef["ci_low"] * scale, coef["ci_high"] * scale), rel=1e-12)
        assert coef["beta_ci_low"] < coef["beta"] < coef["beta_ci_high"]
    intercept = model["coefficients"][0]
    assert intercept["partial_r2"] is None and intercept["beta"] is None
    assert model["f2"] == pytest.approx(model["r2"] / (1 - model["r2"]), rel=1e-12)


# --- adjusted p-values ----------------------------------------------------------------------------------

def test_holm_and_benjamini_hochberg_over_the_predictors_only():
    """By hand, p = .01, .02, .03, .04, .05: Holm (×5, ×4, ×3, ×2, ×1, then running maximum) gives .05, .08,
    .09, .09, .09; BH (× 5/rank, then running minimum from the top) gives .05 throughout."""
    models = [{"model": f"m{i}", "coefficients": [
        {"term": "Intercept", "role": "intercept", "p": 1e-9},
        {"term": "x", "role": "predictor", "p": p},
        {"term": "age", "role": "covariate", "p": 0.5}]} for i, p in enumerate([0.03, 0.01, 0.05, 0.02, 0.04])]
    family = regression.adjust(models)
    assert family["n_tests"] == 5 and family["members"] == [f"m{i}: x" for i in range(5)]
    holm = [m["coefficients"][1]["p_holm"] for m in models]
    bh = [m["coefficients"][1]["p_bh"] for m in models]
    assert holm == pytest.approx([0.09, 0.05, 0.09, 0.08, 0.09])
    assert bh == pytest.approx([0.05] * 5)
    assert all("p_holm" not in c for m in models for c in m["coefficients"] if c["role"] != "predictor")


def test_roles_mark_what_the_family_holds():
    frame = pd.DataFrame({"dyad": range(30), "pre": np.arange(30.0) % 7, "post": np.arange(30.0) % 5,
                          "engagement": np.sin(np.arange(30.0)), "age": np.arange(30.0) % 11 + 20,
                          "sex": ["f", "m", "m"] * 10})
    result = regression.change_models(frame, regression.Change("anxiety", "pre", "post"), ["engagement"],
                                      ["age", "sex"])
    roles = {c["term"]: c["role"] for c in result["models"][1]["coefficients"]}
    assert roles == {"Intercept": "intercept", "C(sex)[T.m]": "covariate", "pre": "baseline",
                     "engagement": "predictor", "age": "covariate"}


# --- multilevel: a therapist level and random slopes ------------------------------------------------------

def test_three_levels_match_statsmodels_fitted_directly():
    data = simulate(1)
    got = regression.multilevel(data, SessionModel("y", ["x"], random_slopes=False))
    assert got["levels"] == "sessions in dyads in therapists" and got["therapists"] == 12 and got["converged"]
    frame = regression.centre(data, ["x"])
    ref = smf.mixedlm("y ~ x_within + x_between", frame, groups=frame["therapist"], re_formula="1",
                      vc_formula={"dyad": "0 + C(dyad)"}).fit(reml=True)
    assert ref.converged
    np.testing.assert_allclose([c["estimate"] for c in got["coefficients"]], ref.fe_params, rtol=1e-5)
    np.testing.assert_allclose([c["se"] for c in got["coefficients"]], ref.bse_fe, rtol=1e-4)
    assert got["therapist_variance"] == pytest.approx(float(ref.cov_re.iloc[0, 0]), rel=1e-4)
    assert got["group_variance"] == pytest.approx(float(ref.vcomp[0]), rel=1e-4)
    assert got["residual_variance"] == pytest.approx(ref.scale, rel=1e-4)
    assert 0 < got["icc_therapist_null"] < got["icc_null"] < 1


def test_a_large_simulated_trial_recovers_its_variances():
    data = simulate(7, therapists=40, dyads=5, sessions=8, v_therapist=0.6, v_dyad=1.0, v_residual=1.0)
    got = regression.multilevel(data, SessionModel("y", ["x"], random_slopes=False))
    assert got["therapist_variance"] == pytest.approx(0.6, abs=0.35)
    assert got["group_variance"] == pytest.approx(1.0, abs=0.35)
    assert got["residual_variance"] == pytest.approx(1.0, abs=0.15)
    within = next(c for c in got["coefficients"] if c["term"] == "x_within")
    assert within["ci_low"] < 0.5 < within["ci_high"]


def test_two_levels_when_no_therapist_sees_two_clients():
    data = simulate(2, therapists=30, dyads=1)
    got = regression.multilevel(data, SessionModel("y", ["x"], random_slopes=False))
    assert got["levels"] == "sessions in dyads" and got["therapist_variance"] is None
    with pytest.raises(regression.AnalysisError, match="therapist level needs"):
        regression.multilevel(data, SessionModel("y", ["x"], therapist_level=True))


def test_random_slopes_are_kept_where_the_data_support_them():
    varied = simulate(3, therapists=30, dyads=2, sessions=8, v_therapist=0.0, v_slope=0.8)
    got = regression.multilevel(varied, SessionModel("y", ["x"], therapist_level=False))
    (test,) = got["random_slopes"]
    assert test["kept"] and test["p"] < 0.05 and "x_within" in got["slope_variances"]
    frame = regression.centre(varied, ["x"])
    ref = smf.mixedlm("y ~ x_within + x_between", frame, groups=frame["dyad"], re_formula="1 + x_within") \
        .fit(reml=True)
    assert got["slope_variances"]["x_within"] == pytest.approx(float(ref.cov_re.loc["x_within", "x_within"]),
                                                               rel=1e-3)
    flat = simulate(3, therapists=30, dyads=2, sessions=8, v_therapist=0.0, v_slope=0.0)
    (test,) = regression.multilevel(flat, SessionModel("y", ["x"], therapist_level=False))["random_slopes"]
    assert not test["kept"] and test["p"] >= 0.05
    few = simulate(4, therapists=30, dyads=1, sessions=2)
    (test,) = regression.multilevel(few, SessionModel("y", ["x"]))["random_slopes"]
    assert not test["kept"] and "too few" in test["reason"]


def test_a_model_that_does_not_converge_says_so_instead_of_printing_numbers():
    got = regression.multilevel(simulate(5), SessionModel("y", ["x"]), iterations=1)
    assert got["converged"] is False and got["coefficients"] == [] and "did not converge" in got["reason"]
    assert "group_variance" not in got and "icc_null" not in got


def test_specs_stored_before_these_options_refit_as_they_were():
    old = Spec.from_dict({"session_models": [{"outcome": "y", "predictors": ["x"], "covariates": []}]})
    assert (old.session_models[0].therapist_level, old.session_models[0].random_slopes) == (False, False)
    new = Spec.from_dict(Spec(session_models=[SessionModel("y", ["x"])]).as_dict())
    assert (new.session_models[0].therapist_level, new.session_models[0].random_slopes) == (None, None)
