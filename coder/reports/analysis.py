"""Process–outcome analyses of a study: its ratings aggregated under a rule, the models of
``coder.stats.regression`` fitted to them, and the whole stored with its data so that it can be refitted.

An analysis is specified (``Spec``) by its change outcomes (pre and post columns), predictors, covariates,
session-level models and aggregation rule. Every analysis records what it was fitted to: the aggregation rule,
the data snapshot (the dyad and session tables) with its SHA-256, the formulas and the software versions
(``run``; ``rerun`` refits a stored one from its own snapshot, not the current ratings).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy
from sqlalchemy import select
from sqlalchemy.orm import Session

from coder import __version__
from coder.reports import aggregation
from coder.stats.jsonsafe import json_safe
from coder.stats.regression import AnalysisError, Change, SessionModel, adjust, change_models, multilevel
from coder.study.audit import audit
from coder.study.models import Analysis, Study, User

__all__ = ["AnalysisError", "Change", "SessionModel", "Spec", "run", "rerun"]


@dataclass
class Spec:
    changes: list[Change] = field(default_factory=list)
    predictors: list[str] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)
    session_models: list[SessionModel] = field(default_factory=list)
    rule: aggregation.Rule = field(default_factory=aggregation.Rule)
    instruments: list[str] | None = None
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "aggregation": self.rule.as_dict(), "instruments": self.instruments,
                "changes": [vars(c) for c in self.changes], "predictors": self.predictors,
                "covariates": self.covariates,
                "session_models": [{"outcome": m.outcome, "predictors": m.predictors, "covariates": m.covariates,
                                    "therapist_level": m.therapist_level, "random_slopes": m.random_slopes}
                                   for m in self.session_models]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        try:
            rule = aggregation.Rule(**(data.get("aggregation") or {}))
            return cls(changes=[Change(**c) for c in data.get("changes") or []],
                       predictors=list(data.get("predictors") or []), covariates=list(data.get("covariates") or []),
                       session_models=[SessionModel(m["outcome"], list(m.get("predictors") or []),
                                                    list(m.get("covariates") or []),
                                                    # specs stored before these options fitted two levels, no slopes
                                                    m.get("therapist_level", False), m.get("random_slopes", False))
                                       for m in data.get("session_models") or []],
                       rule=rule, instruments=data.get("instruments"), title=data.get("title") or "")
        except (TypeError, KeyError) as exc:
            raise AnalysisError(f"analysis specification: {exc}") from None


# --- a whole analysis ------------------------------------------------------------------------------------

def snapshot(tables: aggregation.Tables) -> dict[str, list[dict[str, Any]]]:
    """The data an analysis is fitted to, as JSON-ready records (floats exact): the dyad and session tables,
    and which of their variables are rating scales, client variables and session process measures."""
    data: dict[str, Any] = {level: json_safe(tables.table(level).to_dict("records"), iso_dates=True)
                            for level in ("dyads", "sessions")}
    data["variables"] = {"scales": tables.scales, "client": tables.client_variables,
                         **({"measures": tables.measures} if tables.measures else {})}
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
    models = [m for c in changes for m in c["models"]] + session_models
    return {"changes": changes, "session_models": session_models, "adjustment": adjust(models)}


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
                         "role": coef.get("role"), "estimate": coef["estimate"], "se": coef["se"],
                         "statistic": coef["statistic"], "p": coef["p"], "p_holm": coef.get("p_holm"),
                         "p_bh": coef.get("p_bh"), "ci_low": coef["ci_low"], "ci_high": coef["ci_high"],
                         "beta": coef["beta"], "beta_ci_low": coef.get("beta_ci_low"),
                         "beta_ci_high": coef.get("beta_ci_high"), "partial_r2": coef.get("partial_r2"),
                         "f2": coef.get("f2"), "n": m["n"], "groups": m.get("groups"), "r2": m.get("r2"),
                         "adj_r2": m.get("adj_r2"), "model_f2": m.get("f2"), "formula": m["formula"]})
        if not m["coefficients"] and m.get("reason"):
            rows.append({"outcome": outcome, "model": m["model"], "kind": m.get("kind"), "n": m["n"],
                         "groups": m.get("groups"), "formula": m["formula"], "note": m["reason"]})
    return rows


def run(db: Session, study: Study, spec: Spec, actor: User | None = None, store: bool = True):
    """Aggregate the study's ratings under the spec's rule, fit its models and (by default) store the
    analysis with its data snapshot. Returns (Analysis row or None, results with fits, tables)."""
    tables = aggregation.aggregate(db, study, spec.rule, spec.instruments)
    data = snapshot(tables)
    results = fit(spec, *frames(data))  # fitted to the snapshot itself, so that a rerun gives the same
    row = None
    if store:
        row = Analysis(study_id=study.id, actor_id=actor.id if actor else None, title=spec.title,
                       spec=spec.as_dict(), formulas=formulas(results), data_sha256=digest(data), data=data,
                       results=public(results), versions=versions())
        db.add(row)
        db.flush()
        audit(db, "run_analysis", row, actor, data_sha256=row.data_sha256, formulas=row.formulas)
    return row, results, tables


def stored(db: Session, study: Study) -> list[Analysis]:
    """The study's stored analyses, newest first."""
    return list(db.scalars(select(Analysis).where(Analysis.study_id == study.id).order_by(Analysis.created_at.desc())))


def agrees(new: Any, stored: Any) -> bool:
    """Whether refitted results reproduce stored ones: every figure the stored results hold is the same in
    the new ones (figures a later version adds, such as effect sizes, are not compared)."""
    if isinstance(stored, dict):
        return isinstance(new, dict) and all(k in new and agrees(new[k], v) for k, v in stored.items())
    if isinstance(stored, list):
        return isinstance(new, list) and len(new) == len(stored) and all(map(agrees, new, stored))
    return new == stored


def rerun(row: Analysis) -> dict[str, Any]:
    """Fit a stored analysis again from its own data snapshot (not the current ratings)."""
    if digest(row.data) != row.data_sha256:
        raise AnalysisError(f"analysis {row.id}: the stored data no longer match their SHA-256")
    dyads, sessions = frames(row.data)
    return fit(Spec.from_dict(row.spec), dyads, sessions)
