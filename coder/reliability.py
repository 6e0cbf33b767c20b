"""Inter-rater reliability: intraclass correlations, Krippendorff's alpha, Fleiss' and Cohen's kappas.

Each statistic is one function, usable alone on a targets × raters table
(``matrix``: rows are the rated units, columns the raters, NaN where a rater
did not rate a unit) or on long-format data through ``to_matrix``.

References
- Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: uses in
  assessing rater reliability. Psychological Bulletin, 86, 420–428.
- McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some
  intraclass correlation coefficients. Psychological Methods, 1, 30–46.
- Koo, T. K., & Li, M. Y. (2016). A guideline of selecting and reporting
  intraclass correlation coefficients for reliability research. Journal of
  Chiropractic Medicine, 15, 155–163.
- Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability.
  Annenberg School for Communication, University of Pennsylvania.
- Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
  Psychological Bulletin, 76, 378–382.
- Cohen, J. (1968). Weighted kappa. Psychological Bulletin, 70, 213–220.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

LEVELS = ("nominal", "ordinal", "interval", "ratio")
ICC_FORMS = ("ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)")

# Koo & Li (2016): model, type and definition of each form, as a report should name them.
ICC_DESCRIPTION = {
    "ICC(1,1)": ("one-way random effects", "single rater", "absolute agreement"),
    "ICC(A,1)": ("two-way random effects", "single rater", "absolute agreement"),
    "ICC(C,1)": ("two-way mixed effects", "single rater", "consistency"),
    "ICC(1,k)": ("one-way random effects", "mean of k raters", "absolute agreement"),
    "ICC(A,k)": ("two-way random effects", "mean of k raters", "absolute agreement"),
    "ICC(C,k)": ("two-way mixed effects", "mean of k raters", "consistency"),
}


class ReliabilityError(ValueError):
    """Data from which a statistic cannot be computed; the message says why."""


def to_matrix(data: pd.DataFrame, target: str, rater: str, score: str) -> pd.DataFrame:
    """Long format (one row per target × rater score) to a targets × raters table with NaN for missing pairs."""
    for column in (target, rater, score):
        if column not in data.columns:
            raise ReliabilityError(f"no column {column!r} (columns: {', '.join(map(str, data.columns))})")
    values = pd.to_numeric(data[score], errors="coerce")
    bad = data.loc[values.isna() & data[score].notna(), score]
    if len(bad):
        row = bad.index[0]
        raise ReliabilityError(f"row {row}: score {data.loc[row, score]!r} in column {score!r} is not a number")
    frame = pd.DataFrame({"target": data[target], "rater": data[rater], "score": values}).dropna(subset=["score"])
    duplicated = frame.duplicated(["target", "rater"], keep=False)
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise ReliabilityError(f"rater {first['rater']!r} rated target {first['target']!r} more than once")
    return frame.pivot(index="target", columns="rater", values="score")


# --- intraclass correlations ----------------------------------------------------------------------------

@dataclass
class ICC:
    form: str
    value: float
    F: float
    df1: float
    df2: float
    p: float
    ci95: tuple[float, float]

    @property
    def description(self) -> tuple[str, str, str]:
        return ICC_DESCRIPTION[self.form]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci95"] = list(self.ci95)
        model, kind, definition = self.description
        out.update(model=model, type=kind, definition=definition)
        return out


def _anova(y: np.ndarray) -> dict[str, float]:
    n, k = y.shape
    grand = y.mean()
    ss_total = ((y - grand) ** 2).sum()
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_error = ss_total - ss_rows - ss_cols
    ss_within = ss_total - ss_rows
    return {"n": n, "k": k, "msr": ss_rows / (n - 1), "msc": ss_cols / (k - 1),
            "mse": ss_error / ((n - 1) * (k - 1)), "msw": ss_within / (n * (k - 1))}


def icc(matrix: pd.DataFrame | np.ndarray, alpha: float = 0.05) -> dict[str, ICC]:
    """All six ICC forms of a complete targets × raters table, with F tests and confidence intervals.

    With n targets, k raters and the mean squares of the two-way ANOVA (rows
    MSR, columns MSC, error MSE) and of the one-way ANOVA (within MSW):

        ICC(1,1) = (MSR − MSW) / (MSR + (k−1) MSW)          F = MSR/MSW, df n−1, n(k−1)
        ICC(C,1) = (MSR − MSE) / (MSR + (k−1) MSE)          F = MSR/MSE, df n−1, (n−1)(k−1)
        ICC(A,1) = (MSR − MSE) / (MSR + (k−1) MSE + k (MSC − MSE)/n)
        ICC(1,k) = (MSR − MSW) / MSR
        ICC(C,k) = (MSR − MSE) / MSR
        ICC(A,k) = (MSR − MSE) / (MSR + (MSC − MSE)/n)

    Confidence intervals as McGraw & Wong (1996) give them (ICC(A,·) with
    Satterthwaite's degrees of freedom), the same as R's ``psych::ICC``.
    Targets with a missing rating are dropped: use ``icc_incomplete`` for
    designs where not every rater rates every target.

    Example (Shrout & Fleiss 1979, 6 targets × 4 judges): ICC(1,1) = 0.17,
    ICC(A,1) = 0.29, ICC(C,1) = 0.71, ICC(1,k) = 0.44, ICC(A,k) = 0.62,
    ICC(C,k) = 0.91, as published and as psych::ICC gives them.
    """
    y = np.asarray(matrix, dtype=float)
    if y.ndim != 2:
        raise ReliabilityError("expected a targets × raters table")
    y = y[~np.isnan(y).any(axis=1)]
    n, k = y.shape
    if k < 2:
        raise ReliabilityError("ICCs need at least two raters")
    if n < 2:
        raise ReliabilityError(f"ICCs need at least two targets rated by every rater; found {n}")
    a = _anova(y)
    msr, msc, mse, msw = a["msr"], a["msc"], a["mse"], a["msw"]
    if msr == 0 and mse == 0 and msw == 0:
        raise ReliabilityError("every score is the same: there is no variance to apportion")
    q = 1 - alpha / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return _icc_forms(n, k, msr, msc, mse, msw, q)


def _icc_forms(n: int, k: int, msr: float, msc: float, mse: float, msw: float, q: float) -> dict[str, ICC]:
    df1, df_w, df_e = n - 1, n * (k - 1), (n - 1) * (k - 1)
    out: dict[str, ICC] = {}

    def ratio(num, den):
        return num / den if den != 0 else (math.inf if num > 0 else math.nan)

    def f_test_forms(single: str, average: str, error_ms: float, df2: int) -> tuple[float, float]:
        """A pair of forms whose F test is MSR over an error mean square (one-way: MSW; consistency: MSE)."""
        f = ratio(msr, error_ms)
        p = float(stats.f.sf(f, df1, df2)) if math.isfinite(f) else 0.0
        fl, fu = f / stats.f.ppf(q, df1, df2), f * stats.f.ppf(q, df2, df1)
        out[single] = ICC(single, (msr - error_ms) / (msr + (k - 1) * error_ms), f, df1, df2, p,
                          ((fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)))
        out[average] = ICC(average, (msr - error_ms) / msr, f, df1, df2, p, (1 - 1 / fl, 1 - 1 / fu))
        return f, p

    f_test_forms("ICC(1,1)", "ICC(1,k)", msw, df_w)
    f3, p3 = f_test_forms("ICC(C,1)", "ICC(C,k)", mse, df_e)
    # two-way, absolute agreement
    a1 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    fj = ratio(msc, mse)
    vn = (k - 1) * (n - 1) * (k * a1 * fj + n * (1 + (k - 1) * a1) - k * a1) ** 2
    vd = (n - 1) * k ** 2 * a1 ** 2 * fj ** 2 + (n * (1 + (k - 1) * a1) - k * a1) ** 2
    v = vn / vd
    f_up, f_low = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
    lower = n * (msr - f_up * mse) / (f_up * (k * msc + (k * n - k - n) * mse) + n * msr)
    upper = n * (f_low * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_low * msr)
    out["ICC(A,1)"] = ICC("ICC(A,1)", a1, f3, df1, df_e, p3, (lower, upper))
    out["ICC(A,k)"] = ICC("ICC(A,k)", (msr - mse) / (msr + (msc - mse) / n), f3, df1, df_e, p3,
                          (lower * k / (1 + lower * (k - 1)), upper * k / (1 + upper * (k - 1))))
    for form in out.values():  # no error variance at all: agreement is perfect, and so are its limits
        if math.isinf(form.F):
            form.ci95 = (1.0, 1.0)
    return {form: out[form] for form in ICC_FORMS}


# --- Krippendorff's alpha -------------------------------------------------------------------------------

def _coincidences(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The coincidence matrix o[c, k] over the distinct values, from units (rows) with ≥ 2 values."""
    values = np.unique(matrix[~np.isnan(matrix)])
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for row in matrix:
        present = row[~np.isnan(row)]
        m = len(present)
        if m < 2:
            continue
        counts = np.zeros(len(values))
        for v in present:
            counts[index[v]] += 1
        o += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    return values, o


def _delta(values: np.ndarray, n_c: np.ndarray, level: str) -> np.ndarray:
    a, b = np.meshgrid(values, values, indexing="ij")
    if level == "nominal":
        return (a != b).astype(float)
    if level == "interval":
        return (a - b) ** 2
    if level == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            d = ((a - b) / (a + b)) ** 2
        return np.nan_to_num(d)
    if level == "ordinal":
        cum = np.cumsum(n_c)
        i, j = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        between = cum[hi] - np.where(lo > 0, cum[lo - 1], 0) - (n_c[lo] + n_c[hi]) / 2
        return between ** 2
    raise ReliabilityError(f"level must be one of {', '.join(LEVELS)}")


def krippendorff_alpha(matrix: pd.DataFrame | np.ndarray, level: str = "interval") -> float:
    """Krippendorff's alpha of a units × raters table (NaN = not rated), for any number of raters and
    missing values: α = 1 − (n − 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck, from the coincidence matrix o of the
    values paired within units, n_c its margins, n the number of pairable values (Krippendorff 2011).

    Example (Krippendorff 2011, 4 observers × 12 units with missing values): nominal 0.743,
    interval 0.849.
    """
    if level not in LEVELS:
        raise ReliabilityError(f"level must be one of {', '.join(LEVELS)}")
    y = np.asarray(matrix, dtype=float)
    values, o = _coincidences(y)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n == 0:
        raise ReliabilityError("no unit has two or more ratings: alpha needs pairable values")
    if len(values) == 1:
        raise ReliabilityError("every rating has the same value: alpha is undefined without variation")
    d = _delta(values, n_c, level)
    expected = (np.outer(n_c, n_c) * d).sum()
    return float(1 - (n - 1) * (o * d).sum() / expected)


def bootstrap_alpha(matrix: pd.DataFrame | np.ndarray, level: str = "interval", n_boot: int = 1000,
                    seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """A percentile bootstrap interval for Krippendorff's alpha, resampling units with replacement."""
    y = np.asarray(matrix, dtype=float)
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(n_boot):
        sample = y[rng.integers(0, len(y), len(y))]
        try:
            estimates.append(krippendorff_alpha(sample, level))
        except ReliabilityError:
            continue
    if not estimates:
        raise ReliabilityError("no bootstrap sample allowed alpha to be computed")
    lo, hi = np.percentile(estimates, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


# --- kappas ---------------------------------------------------------------------------------------------

def fleiss_kappa(matrix: pd.DataFrame | np.ndarray) -> float:
    """Fleiss' kappa for nominal ratings of units (rows) by raters (columns), the same number of ratings per
    unit: κ = (P̄ − P̄e) / (1 − P̄e) (Fleiss 1971). Units with a missing rating are dropped.

    Example (Fleiss 1971 as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories): κ = 0.210.
    """
    y = np.asarray(matrix, dtype=float)
    y = y[~np.isnan(y).any(axis=1)]
    if len(y) == 0 or y.shape[1] < 2:
        raise ReliabilityError("Fleiss' kappa needs units rated by at least two raters each")
    categories = np.unique(y)
    counts = np.stack([(y == c).sum(axis=1) for c in categories], axis=1)
    return fleiss_kappa_counts(counts)


def fleiss_kappa_counts(counts: np.ndarray) -> float:
    """Fleiss' kappa from a units × categories table of how many raters chose each category."""
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    if len(set(m)) != 1:
        raise ReliabilityError("Fleiss' kappa needs the same number of ratings for every unit")
    m = m[0]
    p_j = counts.sum(axis=0) / counts.sum()
    p_i = ((counts ** 2).sum(axis=1) - m) / (m * (m - 1))
    p_bar, p_e = p_i.mean(), (p_j ** 2).sum()
    if p_e == 1:
        raise ReliabilityError("every rating is in one category: kappa is undefined")
    return float((p_bar - p_e) / (1 - p_e))


def cohen_kappa(a, b, weights: str | None = None, categories=None) -> float:
    """Cohen's kappa of two raters' ratings of the same units, unweighted or with linear or quadratic
    weights: κ_w = 1 − Σ w_ij o_ij / Σ w_ij e_ij, w_ij = |i − j| or (i − j)² over the ordered categories
    (Cohen 1968). Pairs with a missing rating are dropped.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) == 0:
        raise ReliabilityError("Cohen's kappa needs units rated by both raters")
    cats = np.unique(np.concatenate([a, b])) if categories is None else np.asarray(categories, dtype=float)
    index = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    for x, y in zip(a, b):
        table[index[x], index[y]] += 1
    observed = table / table.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    i, j = np.meshgrid(np.arange(len(cats)), np.arange(len(cats)), indexing="ij")
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j).astype(float)
    elif weights == "quadratic":
        w = ((i - j) ** 2).astype(float)
    else:
        raise ReliabilityError("weights must be linear or quadratic (or none)")
    denominator = (w * expected).sum()
    if denominator == 0:
        raise ReliabilityError("both raters used one and the same category throughout: kappa is undefined")
    return float(1 - (w * observed).sum() / denominator)


# --- rater pairs ----------------------------------------------------------------------------------------

@dataclass
class BlandAltman:
    n: int
    mean_difference: float  # a − b
    sd_difference: float
    limits: tuple[float, float]  # mean ± 1.96 SD
    means: np.ndarray  # per unit, for the plot
    differences: np.ndarray


def bland_altman(a, b) -> BlandAltman:
    """Bland & Altman's limits of agreement between two raters' scores of the same units: the mean
    difference a − b ± 1.96 standard deviations of the differences. Pairs with a missing score are dropped.

    Example (Bland & Altman 1986, Lancet: Wright and mini Wright peak flow meters, 17 subjects):
    mean difference −2.1 l/min, SD 38.8.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) < 2:
        raise ReliabilityError("limits of agreement need at least two units rated by both raters")
    d = a - b
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    return BlandAltman(len(d), mean, sd, (mean - 1.96 * sd, mean + 1.96 * sd), (a + b) / 2, d)


def pairwise(matrix: pd.DataFrame, level: str = "interval", weights: str | None = "quadratic") -> pd.DataFrame:
    """Agreement of every pair of raters on the units both rated: n, ICC(A,1) with its interval,
    Krippendorff's alpha, Cohen's kappa (weighted) and the limits of agreement. A statistic the pair's data
    do not allow is left empty, with the reason in ``note``."""
    rows = []
    raters = list(matrix.columns)
    for i, first in enumerate(raters):
        for second in raters[i + 1:]:
            pair = matrix[[first, second]].dropna()
            row: dict[str, Any] = {"rater_a": first, "rater_b": second, "n": len(pair)}
            notes = []
            for name, compute in (
                    ("icc_a1", lambda: icc(pair.to_numpy())["ICC(A,1)"]),
                    ("alpha", lambda: krippendorff_alpha(pair.to_numpy(), level)),
                    ("kappa", lambda: cohen_kappa(pair[first], pair[second], weights)),
                    ("bland_altman", lambda: bland_altman(pair[first], pair[second]))):
                try:
                    value = compute()
                except ReliabilityError as exc:
                    notes.append(f"{name}: {exc}")
                    value = None
                if name == "icc_a1":
                    row.update(icc_a1=value.value if value else None,
                               icc_a1_ci95=list(value.ci95) if value else None)
                elif name == "bland_altman":
                    row.update(mean_difference=value.mean_difference if value else None,
                               limits_of_agreement=list(value.limits) if value else None)
                else:
                    row[name] = value
            row["note"] = "; ".join(notes)
            rows.append(row)
    return pd.DataFrame(rows)


# --- the summary of the command line contract -----------------------------------------------------------

def summary(data: pd.DataFrame, target: str, rater: str, score: str, level: str = "interval",
            weights: str | None = None, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every statistic the data allow, as the ``coder reliability --json`` object."""
    matrix = to_matrix(data, target, rater, score)
    out: dict[str, Any] = {"n_targets": int(matrix.shape[0]), "n_raters": int(matrix.shape[1])}
    complete = int((~matrix.isna().any(axis=1)).sum())
    try:
        forms = icc(matrix)
        out["icc"] = {name: {"value": f.value, "F": f.F, "df1": f.df1, "df2": f.df2, "p": f.p,
                             "ci95": list(f.ci95), "model": f.description[0], "type": f.description[1],
                             "definition": f.description[2]} for name, f in forms.items()}
        out["icc_estimator"] = (f"two-way ANOVA mean squares on the {complete} targets rated by all "
                                f"{matrix.shape[1]} raters" + (f" ({matrix.shape[0] - complete} targets with "
                                                                "missing ratings left out)"
                                                                if complete < matrix.shape[0] else ""))
    except ReliabilityError as exc:
        out["icc"] = None
        out["icc_error"] = str(exc)
    try:
        value = krippendorff_alpha(matrix, level)
        out["krippendorff_alpha"] = {"value": value, "level": level,
                                     "ci95": list(bootstrap_alpha(matrix, level, n_boot, seed)) if n_boot else None}
    except ReliabilityError as exc:
        out["krippendorff_alpha"] = {"value": None, "level": level, "error": str(exc)}
    if level == "nominal":
        try:
            out["fleiss_kappa"] = {"value": fleiss_kappa(matrix)}
        except ReliabilityError as exc:
            out["fleiss_kappa"] = {"value": None, "error": str(exc)}
    if matrix.shape[1] == 2:
        try:
            out["weighted_kappa"] = {"value": cohen_kappa(matrix.iloc[:, 0], matrix.iloc[:, 1], weights),
                                     "weights": weights}
        except ReliabilityError as exc:
            out["weighted_kappa"] = {"value": None, "weights": weights, "error": str(exc)}
    return out
