"""Process–outcome models: symptom change on process variables and covariates, and multilevel models of
session-level outcomes, fitted with statsmodels.

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

Every analysis records what it was fitted to: the aggregation rule, the data snapshot (the dyad and session
tables) with its SHA-256, the formulas and the software versions (``run``; ``rerun`` refits a stored one).
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
import statsmodels.formula.api as smf

from coder.reports import aggregation as aggregate
from coder.reports.reliability import json_safe

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


@dataclass
class Spec:
    changes: list[Change] = field(default_factory=list)
    predictors: list[str] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)
    session_models: list[SessionModel] = field(default_factory=list)
    rule: aggregate.Rule = field(default_factory=aggregate.Rule)
    instruments: list[str] | None = None
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "aggregation": self.rule.as_dict(), "instruments": self.instruments,
                "changes": [vars(c) for c in self.changes], "predictors": self.predictors,
                "covariates": self.covariates,
                "session_models": [{"outcome": m.outcome, "predictors": m.predictors, "covariates": m.covariates}
                                   for m in self.session_models]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        try:
            rule = aggregate.Rule(**(data.get("aggregation") or {}))
            return cls(changes=[Change(**c) for c in data.get("changes") or []],
                       predictors=list(data.get("predictors") or []), covariates=list(data.get("covariates") or []),
                       session_models=[SessionModel(m["outcome"], list(m.get("predictors") or []),
                                                    list(m.get("covariates") or []))
                                       for m in data.get("session_models") or []],
                       rule=rule, instruments=data.get("instruments"), title=data.get("title") or "")
        except (TypeError, KeyError) as exc:
            raise AnalysisError(f"analysis specification: {exc}") from None


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
            "adj_r2": float(fit.rsquared_adj), "f": _num(fit.fvalue), "f_p": _num(fit.f_pvalue),
            "df_model": float(fit.df_model), "df_resid": float(fit.df_resid), "rmse": float(math.sqrt(fit.scale)),
            "coefficients": coefficients, "_fit": fit}


def _num(x: Any) -> float | None:
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


# --- a whole analysis ------------------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def snapshot(tables: aggregate.Tables) -> dict[str, list[dict[str, Any]]]:
    """The data an analysis is fitted to, as JSON-ready records (floats exact): the dyad and session tables,
    and which of their variables are rating scales and which client variables."""
    data: dict[str, Any] = {level: [{k: _jsonable(v) for k, v in record.items()}
                                    for record in tables.table(level).to_dict("records")]
                            for level in ("dyads", "sessions")}
    data["variables"] = {"scales": tables.scales, "client": tables.client_variables}
    return data


def digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def frames(data: dict[str, list[dict[str, Any]]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The dyad and session tables of a snapshot; columns whose values are all numbers or missing are numeric."""
    out = []
    for level in ("dyads", "sessions"):
        frame = pd.DataFrame.from_records(data[level])
        for column in frame.columns:
            values = frame[column].dropna()
            if frame[column].dtype == object and values.map(lambda v: isinstance(v, (int, float))
                                                             and not isinstance(v, bool)).all():
                frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        out.append(frame)
    return out[0], out[1]


def fit(spec: Spec, dyads: pd.DataFrame, sessions: pd.DataFrame) -> dict[str, Any]:
    """Every model of ``spec`` on these tables. Result entries starting with ``_`` hold statsmodels
    objects for plots and are not stored."""
    if not spec.changes and not spec.session_models:
        raise AnalysisError("nothing to fit: give at least one change outcome (pre and post) or session outcome")
    for name in spec.predictors + spec.covariates:
        if name not in dyads.columns:
            raise AnalysisError(f"no variable {name!r} in the dyad table; available: "
                                + ", ".join(c for c in dyads.columns if c not in ("aggregation",)))
    changes = [change_models(dyads, c, spec.predictors, spec.covariates) for c in spec.changes]
    session_models = [multilevel(sessions, m) for m in spec.session_models]
    return {"changes": changes, "session_models": session_models}


def public(results: dict[str, Any]) -> dict[str, Any]:
    """The results without the statsmodels objects, JSON-ready."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if not k.startswith("_")}
        return [strip(v) for v in x] if isinstance(x, list) else x
    return json_safe(strip(results))


def formulas(results: dict[str, Any]) -> list[str]:
    return [m["formula"] for c in results["changes"] for m in c["models"]] + \
        [m["formula"] for m in results["session_models"]]


def versions() -> dict[str, str]:
    import statsmodels

    from coder import __version__
    return {"coder": __version__, "statsmodels": statsmodels.__version__, "pandas": pd.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__}


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per coefficient of every model, with the model's figures repeated: the results table."""
    rows = []
    models = [(c["outcome"], m) for c in results["changes"] for m in c["models"]]
    models += [(m["outcome"], m) for m in results["session_models"]]
    for outcome, m in models:
        for coef in m["coefficients"]:
            rows.append({"outcome": outcome, "model": m["model"], "kind": m.get("kind"), "term": coef["term"],
                         "estimate": coef["estimate"], "se": coef["se"], "statistic": coef["statistic"],
                         "p": coef["p"], "ci_low": coef["ci_low"], "ci_high": coef["ci_high"], "beta": coef["beta"],
                         "n": m["n"], "groups": m.get("groups"), "r2": m.get("r2"), "adj_r2": m.get("adj_r2"),
                         "formula": m["formula"]})
    return rows


def run(db, study, spec: Spec, actor=None, store: bool = True):
    """Aggregate the study's ratings under the spec's rule, fit its models and (by default) store the
    analysis with its data snapshot. Returns (Analysis row or None, results with fits, tables)."""
    from coder.study.models import Analysis

    tables = aggregate.aggregate(db, study, spec.rule, spec.instruments)
    data = snapshot(tables)
    results = fit(spec, *frames(data))  # fitted to the snapshot itself, so that a rerun gives the same
    row = None
    if store:
        row = Analysis(study_id=study.id, actor_id=actor.id if actor else None, title=spec.title,
                       spec=spec.as_dict(), formulas=formulas(results), data_sha256=digest(data), data=data,
                       results=public(results), versions=versions())
        db.add(row)
        db.flush()
        from coder.study.tree import audit
        audit(db, "run_analysis", row, actor, data_sha256=row.data_sha256, formulas=row.formulas)
    return row, results, tables


def rerun(row) -> dict[str, Any]:
    """Fit a stored analysis again from its own data snapshot (not the current ratings)."""
    if digest(row.data) != row.data_sha256:
        raise AnalysisError(f"analysis {row.id}: the stored data no longer match their SHA-256")
    dyads, sessions = frames(row.data)
    return fit(Spec.from_dict(row.spec), dyads, sessions)
