"""Process–outcome models, fitted with statsmodels: pure functions of data frames.

Symptom change, for each outcome measured before (``pre``) and after (``post``) treatment, two models on the
same clients (those with every variable of the model; listwise deletion):

- difference score: ``post − pre ~ predictors + covariates``;
- residualised change (ANCOVA): ``post ~ pre + predictors + covariates``.

They answer different questions and disagree when a predictor correlates with baseline (Lord's paradox),
so every result reports each predictor's correlation with ``pre``.

For each model: coefficients with standard errors, t, p and 95 % intervals, standardised coefficients
(β = b · SD(x) / SD(y), on the model's sample; equal to the slopes of the model refitted to z-scores) with
their 95 % intervals (the interval of b, scaled alike), and per coefficient the effect sizes partial R² =
t² / (t² + df_resid) (the share of the variance left by the other terms that this one explains: (SSE_without −
SSE) / SSE_without) and Cohen's f² = partial R² / (1 − partial R²) = t² / df_resid; per model R², adjusted R²,
Cohen's f² = R² / (1 − R²), F, n and the formula (Cohen 1988, ch. 9; Selya et al. 2012).

When an analysis fits several models (outcomes, difference and residualised change), ``adjust`` adds Holm's and
Benjamini–Hochberg's adjusted p-values over the family of the predictors' coefficients in all of them.

Session-level outcomes (e.g. homework engagement per session): a two-level model, sessions in dyads, with a
random intercept per dyad (REML). Each session-level predictor x enters twice (person-mean centring on the
model's sample): ``x_within`` = x − the dyad's mean of x, and ``x_between`` = the dyad's mean; dyad-level
covariates enter as they are. Reported: fixed effects (b, SE, z, p, 95 % interval), the dyad and residual
variances, the intraclass correlation of the outcome from the intercept-only model, and the numbers of
sessions and dyads.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
import statsmodels.formula.api as smf

STRONG_BASELINE_R = 0.3


class AnalysisError(ValueError):
    """The analysis cannot run as specified; the message names the variable or setting at fault."""


@dataclass
class Change:
    name: str
    pre: str
    post: str


@dataclass
class SessionModel:
    outcome: str
    predictors: list[str]
    covariates: list[str] = field(default_factory=list)
    therapist_level: bool | None = None  # None: when the data have one (≥ 2 therapists, one with ≥ 2 dyads)
    random_slopes: bool | None = None  # None: tried for each within-dyad effect, kept where the data support it


# --- ordinary least squares -------------------------------------------------------------------------------

def _term(name: str, frame: pd.DataFrame) -> str:
    return name if pd.api.types.is_numeric_dtype(frame[name]) else f"C({name})"


def ols(data: pd.DataFrame, outcome: str, terms: list[str], label: str = "") -> dict[str, Any]:
    """Fit ``outcome ~ terms`` by least squares on the rows with every variable (listwise deletion).

    Categorical (text) terms enter as treatment-coded factors. Returns the model's figures and a row per
    coefficient, including the standardised coefficient β = b · SD(x) / SD(y) of each design column.
    """
    missing = [v for v in [outcome, *terms] if v not in data.columns]
    if missing:
        raise AnalysisError(f"no variable {', '.join(missing)} in the table")
    frame = data[[outcome, *dict.fromkeys(terms)]].dropna()
    formula = f"{outcome} ~ " + (" + ".join(_term(t, frame) for t in terms) if terms else "1")
    n_params = 1 + sum(frame[t].nunique() - 1 if not pd.api.types.is_numeric_dtype(frame[t]) else 1 for t in terms)
    if len(frame) <= n_params:
        raise AnalysisError(f"{label or formula}: {len(frame)} complete cases for {n_params} coefficients")
    fit = smf.ols(formula, frame).fit()
    exog = pd.DataFrame(fit.model.exog, columns=fit.model.exog_names)
    sd_y = float(np.std(fit.model.endog, ddof=1))
    ci = fit.conf_int(0.05)
    coefficients = []
    for name in fit.params.index:
        sd_x = float(exog[name].std(ddof=1))
        scale = None if name == "Intercept" or sd_y == 0 else sd_x / sd_y
        t = float(fit.tvalues[name])
        partial = finite(t ** 2 / (t ** 2 + fit.df_resid)) if name != "Intercept" else None
        coefficients.append({"term": name, "estimate": float(fit.params[name]), "se": float(fit.bse[name]),
                             "statistic": t, "p": float(fit.pvalues[name]),
                             "ci_low": float(ci.loc[name, 0]), "ci_high": float(ci.loc[name, 1]),
                             "beta": None if scale is None else float(fit.params[name] * scale),
                             "beta_ci_low": None if scale is None else float(ci.loc[name, 0] * scale),
                             "beta_ci_high": None if scale is None else float(ci.loc[name, 1] * scale),
                             "partial_r2": partial,
                             "f2": None if partial is None else finite(t ** 2 / fit.df_resid)})
    r2 = float(fit.rsquared)
    return {"model": label or formula, "type": "ols", "formula": formula, "outcome": outcome, "terms": list(terms),
            "n": int(fit.nobs), "dropped": int(len(data) - len(frame)), "r2": r2,
            "adj_r2": float(fit.rsquared_adj), "f2": finite(r2 / (1 - r2)) if r2 < 1 else None,
            "f": finite(fit.fvalue), "f_p": finite(fit.f_pvalue),
            "df_model": float(fit.df_model), "df_resid": float(fit.df_resid), "rmse": float(math.sqrt(fit.scale)),
            "coefficients": coefficients, "_fit": fit}


def finite(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def partial_regression(model: dict[str, Any], term: str) -> tuple[np.ndarray, np.ndarray]:
    """Added-variable plot data for one design column: the residuals of y and of the term on every other
    column. Their least-squares slope is the term's coefficient (Frisch–Waugh–Lovell)."""
    fit = model["_fit"]
    exog = pd.DataFrame(fit.model.exog, columns=fit.model.exog_names)
    others = exog.drop(columns=[term]).to_numpy()
    y = fit.model.endog
    x = exog[term].to_numpy()
    coef_y, *_ = np.linalg.lstsq(others, y, rcond=None)
    coef_x, *_ = np.linalg.lstsq(others, x, rcond=None)
    return x - others @ coef_x, y - others @ coef_y


def baseline_correlations(frame: pd.DataFrame, pre: str, variables: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in variables:
        if name == pre or not pd.api.types.is_numeric_dtype(frame[name]):
            continue
        both = frame[[pre, name]].dropna()
        if len(both) < 3 or both[name].std() == 0 or both[pre].std() == 0:
            out.append({"variable": name, "baseline": pre, "r": None, "p": None, "n": len(both)})
            continue
        r, p = scipy.stats.pearsonr(both[name], both[pre])
        out.append({"variable": name, "baseline": pre, "r": float(r), "p": float(p), "n": len(both)})
    return out


def change_models(dyads: pd.DataFrame, change: Change, predictors: list[str], covariates: list[str]) -> dict:
    """The difference-score and residualised-change models of one outcome, on the same clients."""
    terms = list(dict.fromkeys([*predictors, *covariates]))
    needed = [change.pre, change.post, *terms]
    absent = [v for v in needed if v not in dyads.columns]
    if absent:
        raise AnalysisError(f"{change.name}: no variable {', '.join(absent)} in the dyad table")
    for v in (change.pre, change.post):
        if not pd.api.types.is_numeric_dtype(dyads[v]):
            raise AnalysisError(f"{change.name}: {v} is not numeric")
    sample = dyads[["dyad", *dict.fromkeys(needed)]].dropna().copy()
    difference = f"{change.name}_change"
    sample[difference] = sample[change.post] - sample[change.pre]
    models = [ols(sample, difference, terms, f"{change.name}: difference score ({change.post} − {change.pre})"),
              ols(sample, change.post, [change.pre, *terms], f"{change.name}: residualised change "
                                                             f"({change.post} adjusted for {change.pre})")]
    models[0]["kind"], models[1]["kind"] = "difference", "residualised"
    for m in models:
        mark_roles(m, predictors, change.pre)
    correlations = baseline_correlations(sample, change.pre, terms)
    strong = [c["variable"] for c in correlations if c["r"] is not None and abs(c["r"]) >= STRONG_BASELINE_R]
    note = ("Difference scores and residualised change answer different questions: the first asks whether "
            "predictors relate to how much scores changed, the second whether they relate to the post-treatment "
            "score among clients with the same baseline. ")
    note += (f"{', '.join(strong)} correlate{'s' if len(strong) == 1 else ''} with baseline {change.pre} "
             f"(|r| ≥ {STRONG_BASELINE_R}), so the two models may disagree (Lord's paradox)."
             if strong else f"No predictor correlates with baseline {change.pre} at |r| ≥ {STRONG_BASELINE_R}.")
    return {"outcome": change.name, "pre": change.pre, "post": change.post, "n": len(sample),
            "excluded": int(len(dyads) - len(sample)), "models": models,
            "baseline_correlations": correlations, "note": note}


def mark_roles(model: dict[str, Any], predictors: list[str], baseline: str | None = None) -> None:
    """Name each coefficient's role: ``predictor`` (a term of one of ``predictors``, including its within- and
    between-dyad parts and the levels of a categorical one), ``baseline``, ``intercept`` or ``covariate``."""
    def role(term: str) -> str:
        if term == "Intercept":
            return "intercept"
        if term == baseline:
            return "baseline"
        for x in predictors:
            if term in (x, f"{x}_within", f"{x}_between") or term.startswith(f"C({x})["):
                return "predictor"
        return "covariate"
    for coef in model["coefficients"]:
        coef["role"] = role(coef["term"])


ADJUSTMENTS = {"p_holm": ("holm", "Holm (1979): step-down Bonferroni; controls the family-wise error rate"),
               "p_bh": ("fdr_bh", "Benjamini & Hochberg (1995): controls the false discovery rate")}


def adjust(models: list[dict[str, Any]]) -> dict[str, Any]:
    """Holm's and Benjamini–Hochberg's adjusted p-values (statsmodels' ``multipletests``) over the family of
    every predictor coefficient in ``models`` (intercepts, baselines and covariates are not tested
    hypotheses, and stay out). Adds ``p_holm`` and ``p_bh`` to those coefficients; returns the family."""
    from statsmodels.stats.multitest import multipletests

    members = [(m, c) for m in models for c in m.get("coefficients", []) if c.get("role") == "predictor"
               and c.get("p") is not None and math.isfinite(c["p"])]
    family = {"n_tests": len(members), "members": [f"{m['model']}: {c['term']}" for m, c in members],
              "description": "the predictors' coefficients in every model of this analysis (intercepts, baselines "
                             "and covariates excluded)",
              "methods": {key: text for key, (_, text) in ADJUSTMENTS.items()}}
    if not members:
        return family
    p = np.array([c["p"] for _, c in members])
    for key, (method, _) in ADJUSTMENTS.items():
        adjusted = multipletests(p, method=method)[1]
        for (_, coef), value in zip(members, adjusted):
            coef[key] = float(value)
    return family


# --- multilevel -------------------------------------------------------------------------------------------

def centre(frame: pd.DataFrame, variables: list[str], group: str = "dyad") -> pd.DataFrame:
    """Person-mean centring: ``x_between`` (the group's mean of x) and ``x_within`` (x − that mean)."""
    out = frame.copy()
    for x in variables:
        out[f"{x}_between"] = out.groupby(group)[x].transform("mean")
        out[f"{x}_within"] = out[x] - out[f"{x}_between"]
    return out


MIN_SESSIONS_FOR_SLOPES = 3  # mean sessions per dyad below which a within-dyad slope cannot vary visibly
SLOPE_ALPHA = 0.05


def _mixed(formula: str, frame: pd.DataFrame, group: str, cluster: str | None = None,
           slopes: tuple[str, ...] = (), iterations: int | None = None):
    """Fit by REML with statsmodels' default optimiser (BFGS), trying others in turn when one fails or does
    not converge (near a variance of zero the gradient can turn singular). Two levels: a random intercept per
    ``group`` (and the ``slopes`` of within-group terms, correlated with it). Three levels (``cluster``, the
    therapist): a random intercept per cluster and variance components for the groups within it (their
    intercepts, and their ``slopes``, uncorrelated). Returns the converged fit, else the last one."""
    def build():
        if cluster:
            vc = {"dyad": f"0 + C({group})", **{f"slope {t}": f"0 + C({group}):{t}" for t in slopes}}
            return smf.mixedlm(formula, frame, groups=frame[cluster], re_formula="1", vc_formula=vc)
        re = "1 + " + " + ".join(slopes) if slopes else None
        return smf.mixedlm(formula, frame, groups=frame[group], re_formula=re)

    failures = []
    fallback = None
    for method in ("bfgs", "lbfgs", "cg", "powell", "nm"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence is reported from the fit itself
            try:
                limit = {"maxiter": iterations} if iterations else {}
                result = build().fit(reml=True, method=[method], **limit)
            except (np.linalg.LinAlgError, ValueError) as exc:
                failures.append(f"{method}: {exc}")
                continue
        if result.converged:
            return result
        fallback = fallback or result
    if fallback is not None:
        return fallback
    raise AnalysisError(f"{formula}: the multilevel model could not be fitted ({'; '.join(failures)})")


def _variances(fit, cluster: str | None, slopes: tuple[str, ...]) -> dict[str, float]:
    """The fitted variances by name: ``dyad`` (intercepts), ``therapist``, ``slope TERM`` and ``residual``."""
    out = {"residual": float(fit.scale)}
    if cluster:
        out["therapist"] = float(fit.cov_re.iloc[0, 0])
        out.update({name: float(v) for name, v in zip(fit.model.exog_vc.names, fit.vcomp)})
    else:
        out["dyad"] = float(fit.cov_re.iloc[0, 0])
        out.update({f"slope {t}": float(fit.cov_re.loc[t, t]) for t in slopes})
    return out


def _slope_test(base, wider, cluster: str | None) -> tuple[float, float]:
    """REML likelihood-ratio test of a random slope (same fixed effects): the statistic and its p from the
    50:50 mixture of χ² distributions that a variance tested at its boundary of 0 follows (Self & Liang 1987):
    χ²(1):χ²(2) when the slope's variance and its covariance with the intercept are added, χ²(0):χ²(1) when
    only a variance is."""
    stat = max(0.0, 2 * (float(wider.llf) - float(base.llf)))
    if cluster:
        return stat, float(0.5 * scipy.stats.chi2.sf(stat, 1)) if stat > 0 else 1.0
    return stat, float(0.5 * scipy.stats.chi2.sf(stat, 1) + 0.5 * scipy.stats.chi2.sf(stat, 2))


def multilevel(sessions: pd.DataFrame, model: SessionModel, group: str = "dyad",
               cluster: str = "therapist", iterations: int | None = None) -> dict[str, Any]:
    """Multilevel model of a session-level outcome, with within- and between-dyad effects of each
    session-level predictor (fitted by REML): sessions in dyads (a random intercept per dyad) or, with a
    therapist level, sessions in dyads in therapists (random intercepts per therapist and per dyad within
    therapist); random slopes of the within-dyad effects where the data support them. A model that does not
    converge is reported as such, without estimates. ``iterations`` caps each optimiser's iterations
    (default: statsmodels')."""
    needed = [model.outcome, *model.predictors, *model.covariates]
    absent = [v for v in needed if v not in sessions.columns]
    if absent:
        raise AnalysisError(f"{model.outcome}: no variable {', '.join(absent)} in the session table")
    keys = [group, *([cluster] if cluster in sessions.columns else [])]
    frame = sessions[[*keys, *dict.fromkeys(needed)]].dropna()
    frame = centre(frame, model.predictors, group)
    n_groups = frame[group].nunique()
    if n_groups < 2 or len(frame) <= n_groups:
        raise AnalysisError(f"{model.outcome}: {len(frame)} sessions in {n_groups} dyads are too few for a "
                            "two-level model")
    n_clusters = frame[cluster].nunique() if cluster in frame.columns else 0
    nested = n_clusters >= 2 and frame.groupby(cluster)[group].nunique().max() >= 2
    if model.therapist_level and not nested:
        raise AnalysisError(f"{model.outcome}: a therapist level needs at least two therapists and one of them "
                            f"with two or more dyads; the data have {n_clusters} therapists")
    use_cluster = cluster if (nested if model.therapist_level is None else model.therapist_level) else None
    terms = [t for x in model.predictors for t in (f"{x}_within", f"{x}_between")]
    terms += [_term(c, frame) for c in model.covariates]
    formula = f"{model.outcome} ~ " + (" + ".join(terms) if terms else "1")
    fit = _mixed(formula, frame, group, use_cluster, iterations=iterations)
    slopes, slope_tests = _choose_slopes(model, frame, formula, group, use_cluster, fit, iterations) \
        if fit.converged else ([], [])
    if slopes:
        wider = _mixed(formula, frame, group, use_cluster, tuple(slopes), iterations)
        if wider.converged:
            fit = wider
        else:
            slopes = []
            for test in slope_tests:
                if test["kept"]:
                    test.update(kept=False, reason="the model with all supported slopes together did not converge")
    levels = f"sessions in {group}s in {cluster}s" if use_cluster else f"sessions in {group}s"
    structure = (f"random intercepts per {cluster} and per {group} within {cluster}" if use_cluster
                 else f"random intercept per {group}") + \
        (f", random slopes of {', '.join(slopes)} per {group}" if slopes else "") + ", REML"
    out: dict[str, Any] = {"model": f"{model.outcome}: {levels}", "type": "mixedlm", "kind": "multilevel",
                           "formula": f"{formula}  ({structure})", "outcome": model.outcome, "levels": levels,
                           "n": int(len(frame)), "groups": int(n_groups), "dropped": int(len(sessions) - len(frame)),
                           "therapists": int(n_clusters) if use_cluster else None, "random_slopes": slope_tests,
                           "converged": bool(fit.converged)}
    if not fit.converged:
        out.update(coefficients=[], reason="the model did not converge with any optimiser tried (BFGS, L-BFGS, "
                                           "CG, Powell, Nelder–Mead); no estimates are reported. Simplify it: "
                                           "fewer predictors, no therapist level or no random slopes.")
        return out
    names = list(fit.fe_params.index)
    ci = fit.conf_int(0.05)
    out["coefficients"] = [{"term": n, "estimate": float(fit.fe_params[n]), "se": float(fit.bse_fe[n]),
                            "statistic": float(fit.tvalues[n]), "p": float(fit.pvalues[n]),
                            "ci_low": float(ci.loc[n, 0]), "ci_high": float(ci.loc[n, 1]), "beta": None}
                           for n in names]
    mark_roles(out, model.predictors)
    variances = _variances(fit, use_cluster, tuple(slopes))
    null = _variances(_mixed(f"{model.outcome} ~ 1", frame, group, use_cluster, iterations=iterations),
                      use_cluster, ())
    total = sum(null.values())
    out.update(group_variance=variances["dyad"], residual_variance=variances["residual"],
               therapist_variance=variances.get("therapist"),
               slope_variances={t: variances[f"slope {t}"] for t in slopes},
               icc_null=(null["dyad"] + null.get("therapist", 0.0)) / total if total > 0 else None,
               icc_therapist_null=null["therapist"] / total if use_cluster and total > 0 else None,
               loglik_reml=float(fit.llf), _fit=fit)
    return out


def _choose_slopes(model: SessionModel, frame: pd.DataFrame, formula: str, group: str, cluster: str | None,
                   base, iterations: int | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Which within-dyad effects get a random slope: none when ``random_slopes`` is False; else each is tried
    alone and kept when its model converges and a likelihood-ratio test favours it (p < .05); with
    ``random_slopes`` None only when the dyads have at least three sessions on average."""
    candidates = [f"{x}_within" for x in model.predictors]
    if model.random_slopes is False or not candidates:
        return [], []
    per_group = len(frame) / frame[group].nunique()
    if model.random_slopes is None and per_group < MIN_SESSIONS_FOR_SLOPES:
        return [], [{"term": t, "kept": False, "lr": None, "p": None,
                     "reason": f"{per_group:.1f} sessions per {group} on average: too few to estimate a slope "
                               f"variance (needs {MIN_SESSIONS_FOR_SLOPES})"} for t in candidates]
    kept, tests = [], []
    for term in candidates:
        if frame[term].std() == 0:
            tests.append({"term": term, "kept": False, "lr": None, "p": None,
                          "reason": "the predictor does not vary within dyads"})
            continue
        try:
            wider = _mixed(formula, frame, group, cluster, (term,), iterations)
        except AnalysisError as exc:
            tests.append({"term": term, "kept": False, "lr": None, "p": None, "reason": str(exc)})
            continue
        if not wider.converged:
            tests.append({"term": term, "kept": False, "lr": None, "p": None,
                          "reason": "the model with this random slope did not converge"})
            continue
        stat, p = _slope_test(base, wider, cluster)
        keep = p < SLOPE_ALPHA
        tests.append({"term": term, "kept": keep, "lr": stat, "p": p,
                      "reason": f"likelihood-ratio test p {'<' if keep else '≥'} {SLOPE_ALPHA}"})
        if keep:
            kept.append(term)
    return kept, tests
