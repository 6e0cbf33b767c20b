"""Process–outcome models, fitted with statsmodels: pure functions of data frames.

Symptom change, for each outcome measured before (``pre``) and after (``post``) treatment, two models on the
same clients (those with every variable of the model; listwise deletion):

- difference score: ``post − pre ~ predictors + covariates``;
- residualised change (ANCOVA): ``post ~ pre + predictors + covariates``.

They answer different questions and disagree when a predictor correlates with baseline (Lord's paradox),
so every result reports each predictor's correlation with ``pre``.

For each model: coefficients with standard errors, t, p and 95 % intervals, standardised coefficients
(β = b · SD(x) / SD(y), on the model's sample; equal to the slopes of the model refitted to z-scores), R²,
adjusted R², F, n and the formula.

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
        beta = None if name == "Intercept" or sd_y == 0 else float(fit.params[name] * sd_x / sd_y)
        coefficients.append({"term": name, "estimate": float(fit.params[name]), "se": float(fit.bse[name]),
                             "statistic": float(fit.tvalues[name]), "p": float(fit.pvalues[name]),
                             "ci_low": float(ci.loc[name, 0]), "ci_high": float(ci.loc[name, 1]), "beta": beta})
    return {"model": label or formula, "type": "ols", "formula": formula, "outcome": outcome, "terms": list(terms),
            "n": int(fit.nobs), "dropped": int(len(data) - len(frame)), "r2": float(fit.rsquared),
            "adj_r2": float(fit.rsquared_adj), "f": finite(fit.fvalue), "f_p": finite(fit.f_pvalue),
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


# --- multilevel -------------------------------------------------------------------------------------------

def centre(frame: pd.DataFrame, variables: list[str], group: str = "dyad") -> pd.DataFrame:
    """Person-mean centring: ``x_between`` (the group's mean of x) and ``x_within`` (x − that mean)."""
    out = frame.copy()
    for x in variables:
        out[f"{x}_between"] = out.groupby(group)[x].transform("mean")
        out[f"{x}_within"] = out[x] - out[f"{x}_between"]
    return out


def _mixed(formula: str, frame: pd.DataFrame, group: str):
    """Fit by REML with statsmodels' default optimiser (BFGS), trying others in turn when one fails or does
    not converge (near a dyad variance of zero the gradient can turn singular)."""
    failures = []
    fallback = None
    for method in ("bfgs", "lbfgs", "cg", "powell", "nm"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence is reported from the fit itself
            try:
                result = smf.mixedlm(formula, frame, groups=frame[group]).fit(reml=True, method=[method])
            except (np.linalg.LinAlgError, ValueError) as exc:
                failures.append(f"{method}: {exc}")
                continue
        if result.converged:
            return result
        fallback = fallback or result
    if fallback is not None:
        return fallback
    raise AnalysisError(f"{formula}: the two-level model could not be fitted ({'; '.join(failures)})")


def multilevel(sessions: pd.DataFrame, model: SessionModel, group: str = "dyad") -> dict[str, Any]:
    """Random-intercept model of a session-level outcome, sessions nested in dyads, with within- and
    between-dyad effects of each session-level predictor (fitted by REML)."""
    needed = [model.outcome, *model.predictors, *model.covariates]
    absent = [v for v in needed if v not in sessions.columns]
    if absent:
        raise AnalysisError(f"{model.outcome}: no variable {', '.join(absent)} in the session table")
    frame = sessions[[group, *dict.fromkeys(needed)]].dropna()
    frame = centre(frame, model.predictors, group)
    n_groups = frame[group].nunique()
    if n_groups < 2 or len(frame) <= n_groups:
        raise AnalysisError(f"{model.outcome}: {len(frame)} sessions in {n_groups} dyads are too few for a "
                            "two-level model")
    terms = [t for x in model.predictors for t in (f"{x}_within", f"{x}_between")]
    terms += [_term(c, frame) for c in model.covariates]
    formula = f"{model.outcome} ~ " + (" + ".join(terms) if terms else "1")
    fit = _mixed(formula, frame, group)
    null = _mixed(f"{model.outcome} ~ 1", frame, group)
    names = list(fit.fe_params.index)
    ci = fit.conf_int(0.05)
    coefficients = [{"term": n, "estimate": float(fit.fe_params[n]), "se": float(fit.bse_fe[n]),
                     "statistic": float(fit.tvalues[n]), "p": float(fit.pvalues[n]),
                     "ci_low": float(ci.loc[n, 0]), "ci_high": float(ci.loc[n, 1]), "beta": None} for n in names]
    between_null, residual_null = float(null.cov_re.iloc[0, 0]), float(null.scale)
    return {"model": f"{model.outcome}: sessions in dyads", "type": "mixedlm", "kind": "multilevel",
            "formula": formula + f"  (random intercept per {group}, REML)", "outcome": model.outcome,
            "n": int(len(frame)), "groups": int(n_groups), "dropped": int(len(sessions) - len(frame)),
            "coefficients": coefficients, "group_variance": float(fit.cov_re.iloc[0, 0]),
            "residual_variance": float(fit.scale),
            "icc_null": between_null / (between_null + residual_null) if between_null + residual_null > 0 else None,
            "converged": bool(fit.converged), "loglik_reml": float(fit.llf), "_fit": fit}
