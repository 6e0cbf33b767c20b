"""Agreement on a scale's categories: percent agreement, Cohen's and Fleiss' kappas, Gwet's AC1 and AC2.

Ratings are a units × raters table (NaN where a rater did not rate a unit) of category values. The
categories are the scale's points: pass them (an instrument's declared points, ``--categories``) so that
a point nobody used still counts; else the values observed are the categories. Weights are agreement
weights w_kl (1 for the same category, 0 for the two furthest apart), computed from the categories'
values, not their ranks, as Gwet (2014, ch. 3) and SAS PROC FREQ define them:

    linear     1 − |x_k − x_l| / (x_max − x_min)          (Cicchetti–Allison)
    quadratic  1 − (x_k − x_l)² / (x_max − x_min)²        (Fleiss–Cohen; ``interval`` names the same weights,
                                                          Krippendorff's interval metric rescaled)
    ordinal    1 − C(M_kl, 2) / C(M_max, 2), M_kl = |k − l| + 1 the ranks spanned
    radical    1 − √|x_k − x_l| / √(x_max − x_min)
    ratio      1 − ((x_k − x_l)/(x_k + x_l))² / ((x_max − x_min)/(x_max + x_min))²

Units rated by a varying number of raters are used as Gwet's handbook and the irrCAC package use them:
every unit with at least two ratings enters the observed agreement, every rated unit the chance
agreement. Each statistic reports how many units and ratings entered it.

References
- Gwet, K. L. (2014). Handbook of Inter-Rater Reliability (4th ed.). Advanced Analytics. (Chapters 2–5:
  percent agreement p_a, Fleiss' generalised kappa and AC1/AC2 with missing ratings and their variances.)
- Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the presence of high
  agreement. British Journal of Mathematical and Statistical Psychology, 61, 29–48.
- Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychological Bulletin, 76,
  378–382. (Per-category kappa.)
- Cohen, J. (1968). Weighted kappa. Psychological Bulletin, 70, 213–220.
- Fleiss, J. L., Cohen, J., & Everitt, B. S. (1969). Large sample standard errors of kappa and weighted
  kappa. Psychological Bulletin, 72, 323–327. (The asymptotic standard error SAS PROC FREQ prints.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from coder.stats.errors import ReliabilityError

if TYPE_CHECKING:
    import pandas as pd

WEIGHTS = ("linear", "quadratic", "interval", "ordinal", "radical", "ratio")
Z95 = 1.959963984540054


@dataclass
class Agreement:
    """One agreement coefficient: its value, standard error and 95 % interval (None where they do not
    exist), the observed and chance agreement it compares, and what entered it."""
    statistic: str
    value: float
    se: float | None
    ci95: tuple[float, float] | None
    pa: float
    pe: float | None
    n_units: int
    n_ratings: int
    weights: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "statistic": self.statistic, "se": self.se,
                "ci95": list(self.ci95) if self.ci95 else None, "weights": self.weights, "pa": self.pa,
                "pe": self.pe, "n_units": self.n_units, "n_ratings": self.n_ratings}


def _tidy(values: np.ndarray) -> np.ndarray:
    """Values rounded to 9 decimals, so that a scale's computed points (0.1 steps) meet the stored scores."""
    return np.round(np.asarray(values, dtype=float), 9)


def categories_of(values: np.ndarray, categories=None) -> np.ndarray:
    """The sorted categories: ``categories`` when given (every rating must be one of them), else the values
    that occur."""
    present = _tidy(values[~np.isnan(values)])
    if categories is None:
        return np.unique(present)
    cats = np.unique(_tidy(np.asarray(list(categories), dtype=float)))
    if np.isnan(cats).any():
        raise ReliabilityError("a category is not a number")
    stray = np.setdiff1d(np.unique(present), cats)
    if len(stray):
        raise ReliabilityError(f"rating {stray[0]:g} is not one of the categories "
                               f"({', '.join(f'{c:g}' for c in cats)})")
    return cats


def weight_matrix(categories: np.ndarray, weights: str | None = None) -> np.ndarray:
    """The q × q agreement weights of the categories (identity without ``weights``); see the module's text."""
    x = np.asarray(categories, dtype=float)
    q = len(x)
    if weights is None:
        return np.eye(q)
    if weights not in WEIGHTS:
        raise ReliabilityError(f"weights must be one of {', '.join(WEIGHTS)} (or none)")
    if q < 2:
        return np.ones((1, 1))
    a, b = np.meshgrid(x, x, indexing="ij")
    span = x.max() - x.min()
    if weights == "linear":
        return 1 - np.abs(a - b) / span
    if weights in ("quadratic", "interval"):
        return 1 - ((a - b) / span) ** 2
    if weights == "radical":
        return 1 - np.sqrt(np.abs(a - b)) / np.sqrt(span)
    if weights == "ordinal":
        i, j = np.meshgrid(np.arange(q), np.arange(q), indexing="ij")
        m = np.abs(i - j) + 1
        spanned = m * (m - 1) / 2
        return 1 - spanned / spanned.max()
    if (x <= 0).any():
        raise ReliabilityError("ratio weights need categories above zero")
    return 1 - ((a - b) / (a + b)) ** 2 / (span / (x.max() + x.min())) ** 2


def category_counts(matrix: pd.DataFrame | np.ndarray, categories=None) -> tuple[np.ndarray, np.ndarray]:
    """The categories and a units × categories table r_ik of how many raters put unit i in category k,
    over the units with at least one rating."""
    y = _tidy(np.asarray(matrix, dtype=float))
    if y.ndim != 2:
        raise ReliabilityError("ratings must be a units × raters table")
    cats = categories_of(y, categories)
    y = y[(~np.isnan(y)).any(axis=1)]
    counts = np.stack([(y == c).sum(axis=1) for c in cats], axis=1).astype(float) if len(cats) else \
        np.zeros((len(y), 0))
    return cats, counts


def _interval(value: float, se: float, n: int) -> tuple[float, float]:
    """Gwet's 95 % interval: value ± t(0.975, n − 1) · se, the upper end capped at 1 (as irrCAC)."""
    from scipy import stats

    half = stats.t.ppf(0.975, n - 1) * se
    return value - half, min(1.0, value + half)


def _observed(counts: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-unit observed agreement p_a|i = Σ_k r_ik (r*_ik − 1) / (r_i (r_i − 1)), r*_ik = Σ_l w_kl r_il (0
    for units with fewer than two ratings), which units count, and p_a, their mean over those units."""
    r = counts.sum(axis=1)
    paired = r >= 2
    if not paired.any():
        raise ReliabilityError("no unit was rated by two or more raters: agreement needs pairs of ratings")
    weighted = counts @ w.T
    per_unit = np.zeros(len(r))
    per_unit[paired] = (counts[paired] * (weighted[paired] - 1)).sum(axis=1) / (r[paired] * (r[paired] - 1))
    return per_unit, paired, float(per_unit[paired].mean())


def percent_agreement(matrix: pd.DataFrame | np.ndarray, weights: str | None = None,
                      categories=None) -> Agreement:
    """Gwet's percent agreement p_a: the share of agreeing pairs of ratings within each unit, averaged over
    the units rated at least twice; with weights, pairs of nearby categories agree in part (Gwet 2014, 2.3).

    Example (irrCAC's raw4raters, 12 units, 4 raters with missing ratings): p_a = 0.818.
    """
    cats, counts = category_counts(matrix, categories)
    w = weight_matrix(cats, weights)
    _, paired, pa = _observed(counts, w)
    return Agreement("percent agreement", pa, None, None, pa, None, int(paired.sum()),
                     int(counts[paired].sum()), weights)


def _chance_corrected(name: str, counts: np.ndarray, w: np.ndarray, weights: str | None, gwet: bool,
                      population: float = np.inf) -> Agreement:
    n = len(counts)
    per_unit, paired, pa = _observed(counts, w)
    n2 = int(paired.sum())
    r = counts.sum(axis=1)
    pi = (counts / r[:, None]).mean(axis=0)  # π_k: the share of each category, averaged over rated units
    q = len(pi)
    if gwet:
        if q < 2:
            raise ReliabilityError("only one category was used and no other was declared: AC needs the scale's "
                                   "categories")
        share = w.sum() / (q * (q - 1))
        pe = float(share * (pi * (1 - pi)).sum())
        pe_unit = share * (counts @ (1 - pi)) / r
    else:
        pe = float(pi @ w @ pi)
        pe_unit = counts @ ((w @ pi + w.T @ pi) / 2) / r
    if np.isclose(pe, 1):
        raise ReliabilityError(f"every rating is in one category: {name} is undefined")
    value = (pa - pe) / (1 - pe)
    # Gwet's linearisation: each unit's contribution, corrected for its effect on chance agreement.
    contribution = (n / n2) * (per_unit - pe * paired) / (1 - pe)
    contribution = contribution - 2 * (1 - value) * (pe_unit - pe) / (1 - pe)
    se = ci = None
    if n >= 2:
        f = 0.0 if np.isinf(population) else n / population
        se = float(np.sqrt((1 - f) / (n * (n - 1)) * ((contribution - value) ** 2).sum()))
        ci = _interval(value, se, n)
    return Agreement(name, float(value), se, ci, pa, pe, n2, int(counts[paired].sum()), weights)


def fleiss_kappa(matrix: pd.DataFrame | np.ndarray, categories=None, weights: str | None = None) -> Agreement:
    """Fleiss' kappa of units rated by any number of raters each, as Gwet generalised it:
    κ = (p_a − p_e) / (1 − p_e), p_e = Σ_kl w_kl π_k π_l, π_k the share of unit i's ratings in category k
    averaged over the rated units, p_a the percent agreement over the units rated at least twice. With the
    same raters for every unit it is Fleiss' (1971) kappa. Standard error and interval: Gwet (2014, 5.2).

    Examples: Fleiss (1971), 10 subjects × 14 raters, κ = 0.210; irrCAC's raw4raters, raw5obser and
    raw.g1g2 (Gwet 2014): κ = 0.761, 0.458 and 0.657.
    """
    cats, counts = category_counts(matrix, categories)
    return _chance_corrected("Fleiss' kappa", counts, weight_matrix(cats, weights), weights, gwet=False)


def fleiss_kappa_counts(counts: np.ndarray, weights: str | None = None) -> Agreement:
    """Fleiss' kappa from a units × categories table of how many raters chose each category (equally
    spaced categories 1…q for weights)."""
    counts = np.asarray(counts, dtype=float)
    counts = counts[counts.sum(axis=1) > 0]
    w = weight_matrix(np.arange(1, counts.shape[1] + 1), weights)
    return _chance_corrected("Fleiss' kappa", counts, w, weights, gwet=False)


def fleiss_kappa_by_category(matrix: pd.DataFrame | np.ndarray, categories=None) -> dict[float, float | None]:
    """Fleiss' (1971) kappa of each category against all others: κ_k = 1 − Σ_i r_ik (r_i − r_ik) /
    (n m (m − 1) p_k (1 − p_k)) with m raters per unit, which is Fleiss' kappa of the ratings collapsed to
    "k or not k"; computed that way here, so that units rated by varying numbers of raters count as above.
    None for a category nobody used (or everybody used throughout)."""
    cats, counts = category_counts(matrix, categories)
    out: dict[float, float | None] = {}
    for k, value in enumerate(cats):
        two = np.stack([counts[:, k], counts.sum(axis=1) - counts[:, k]], axis=1)
        try:
            out[float(value)] = _chance_corrected("Fleiss' kappa", two, np.eye(2), None, gwet=False).value
        except ReliabilityError:
            out[float(value)] = None
    return out


def gwet_ac(matrix: pd.DataFrame | np.ndarray, weights: str | None = None, categories=None) -> Agreement:
    """Gwet's AC1 (no weights) or AC2 (weighted) of units rated by any number of raters:
    AC = (p_a − p_e) / (1 − p_e), p_e = T_w / (q (q − 1)) · Σ_k π_k (1 − π_k), T_w the sum of the weights
    and q the number of categories (Gwet 2008; 2014, ch. 4–5), with Gwet's standard error and a 95 %
    interval on n − 1 degrees of freedom. Chance agreement stays small when one category dominates, so AC1
    does not collapse on skewed codes as kappa does.

    Example (irrCAC's raw4raters, Gwet 2014): AC1 = 0.775, se 0.143, 95 % interval [0.461, 1].
    """
    cats, counts = category_counts(matrix, categories)
    return _chance_corrected("AC2" if weights else "AC1", counts, weight_matrix(cats, weights), weights,
                             gwet=True)


def cohen_kappa(a, b, weights: str | None = None, categories=None) -> Agreement:
    """Cohen's kappa of two raters' ratings of the same units, unweighted or weighted:
    κ_w = (p_o − p_e) / (1 − p_e), p_o = Σ w_ij p_ij, p_e = Σ w_ij p_i. p_.j (Cohen 1968), with the
    asymptotic standard error of Fleiss, Cohen & Everitt (1969),
    var = [Σ p_ij (w_ij − (w̄_i. + w̄_.j)(1 − κ))² − (κ − p_e (1 − κ))²] / (n (1 − p_e)²),
    w̄_i. = Σ_j w_ij p_.j, w̄_.j = Σ_i w_ij p_i., and the interval κ ± 1.96 se, as SAS PROC FREQ prints
    them. Pairs with a missing rating are dropped.

    Example (SAS PROC FREQ, as quoted in statsmodels' tests; 3 × 3 table of 19 units): κ = 0.4842,
    ASE 0.1380; linear weighted κ = 0.4701, ASE 0.1457.
    """
    a, b = _tidy(a), _tidy(b)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) == 0:
        raise ReliabilityError("Cohen's kappa needs units rated by both raters")
    cats = categories_of(np.concatenate([a, b]), categories)
    q = len(cats)
    table = np.bincount(np.searchsorted(cats, a) * q + np.searchsorted(cats, b),
                        minlength=q * q).reshape(q, q).astype(float)
    return cohen_kappa_table(table, weight_matrix(cats, weights), weights)


def cohen_kappa_table(table: np.ndarray, w: np.ndarray | None = None, weights: str | None = None) -> Agreement:
    """Cohen's kappa of a q × q table of counts (rows: first rater, columns: second) with agreement weights
    ``w`` (identity by default); see ``cohen_kappa``."""
    table = np.asarray(table, dtype=float)
    n = table.sum()
    w = np.eye(len(table)) if w is None else w
    p = table / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po, pe = float((w * p).sum()), float(rows @ w @ cols)
    if np.isclose(pe, 1):
        raise ReliabilityError("both raters used one and the same category throughout: kappa is undefined")
    kappa = (po - pe) / (1 - pe)
    w_row, w_col = w @ cols, w.T @ rows
    spread = (p * (w - (w_row[:, None] + w_col[None, :]) * (1 - kappa)) ** 2).sum()
    var = (spread - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    name = "weighted kappa" if weights else "Cohen's kappa"
    return Agreement(name, float(kappa), se, (kappa - Z95 * se, kappa + Z95 * se), po, pe, int(n), int(2 * n),
                     weights)


def pair_agreement(a, b, weights: str | None = None, categories=None) -> float:
    """The share of units two raters both rated on which they agree (weighted: the mean agreement weight of
    their two categories)."""
    a, b = _tidy(a), _tidy(b)
    keep = ~(np.isnan(a) | np.isnan(b))
    if not keep.any():
        raise ReliabilityError("the two raters rated no unit in common")
    cats = categories_of(np.concatenate([a[keep], b[keep]]), categories)
    w = weight_matrix(cats, weights)
    return float(w[np.searchsorted(cats, a[keep]), np.searchsorted(cats, b[keep])].mean())


def _entry(compute, weights: str | None) -> dict[str, Any]:
    try:
        return compute().as_dict()
    except ReliabilityError as exc:
        return {"value": None, "weights": weights, "reason": str(exc)}


def summary(matrix: pd.DataFrame | np.ndarray, level: str = "interval", weights: str | None = None,
            categories=None) -> dict[str, Any]:
    """The agreement coefficients as the ``coder reliability --json`` keys: ``categories`` (those used),
    ``fleiss_kappa`` with per-category kappas (nominal level), ``weighted_kappa`` (exactly two raters;
    unweighted without ``weights``), ``gwet_ac`` (AC1, or AC2 with ``weights``) and ``percent_agreement``
    (weighted with ``weights``, and per rater pair). A coefficient that cannot be computed is None beside a
    ``reason``."""
    y = np.asarray(matrix, dtype=float)
    columns = list(matrix.columns) if hasattr(matrix, "columns") else list(range(y.shape[1]))

    def failed(reason: str, keys: tuple[str, ...]) -> dict[str, Any]:
        return {key: {"value": None, "weights": None if key == "fleiss_kappa" else weights, "reason": reason}
                for key in keys if (key != "fleiss_kappa" or level == "nominal")
                and (key != "weighted_kappa" or y.shape[1] == 2)}

    weighted = ("weighted_kappa", "gwet_ac", "percent_agreement")
    try:
        cats = categories_of(y, categories)
    except ReliabilityError as exc:
        return {"categories": None, **failed(str(exc), ("fleiss_kappa", *weighted))}
    out: dict[str, Any] = {"categories": [float(c) for c in cats]}
    if level == "nominal":
        out["fleiss_kappa"] = _entry(lambda: fleiss_kappa(y, cats), None)
        if out["fleiss_kappa"]["value"] is not None:
            out["fleiss_kappa"]["per_category"] = {f"{k:g}": v for k, v in fleiss_kappa_by_category(y, cats).items()}
    try:
        weight_matrix(cats, weights)  # checked once: every figure below is weighted with them
    except ReliabilityError as exc:
        return {**out, **failed(str(exc), weighted)}
    if y.shape[1] == 2:
        out["weighted_kappa"] = _entry(lambda: cohen_kappa(y[:, 0], y[:, 1], weights, cats), weights)
    out["gwet_ac"] = _entry(lambda: gwet_ac(y, weights, cats), weights)
    overall = _entry(lambda: percent_agreement(y, weights, cats), weights)
    out["percent_agreement"] = {key: overall.get(key) for key in ("value", "weights", "n_units", "n_ratings",
                                                                  "reason") if key in overall}
    pairs = []
    for i in range(y.shape[1]):
        for j in range(i + 1, y.shape[1]):
            both = ~(np.isnan(y[:, i]) | np.isnan(y[:, j]))
            if both.any():
                pairs.append({"rater_a": columns[i], "rater_b": columns[j], "n": int(both.sum()),
                              "value": pair_agreement(y[:, i], y[:, j], weights, cats)})
    out["percent_agreement"]["pairs"] = pairs
    return out
