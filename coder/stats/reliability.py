"""Inter-rater reliability: intraclass correlations and Krippendorff's alpha; the summary of every statistic.

Each statistic is one function, usable alone on a targets × raters table
(``matrix``: rows are the rated units, columns the raters, NaN where a rater
did not rate a unit) or on long-format data through ``to_matrix``. The
agreement coefficients of categorical ratings (percent agreement, kappas,
Gwet's AC) are in ``coder.stats.agreement``; ``summary`` reports them all.

Each ICC says which estimator produced it: ``anova`` (the mean squares of a
complete table, which can fall below zero when raters disagree more than
targets differ) or ``reml`` (variance components of an incomplete table,
which are never negative, so ICCs from them stop at zero).

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
- ten Hove, D., Jorgensen, T. D., & van der Ark, L. A. (2022). Updated guidelines on selecting an
  intraclass correlation coefficient for interrater reliability, with applications to incomplete
  observational designs. Psychological Methods. (k̂, q and the ICC(A,k̂), ICC(Q,k̂) forms.)
- ten Hove, D., Jorgensen, T. D., & van der Ark, L. A. (2025). How to estimate intraclass correlation
  coefficients for interrater reliability from planned incomplete data. Multivariate Behavioral Research,
  60, 1042–1061. (Maximum likelihood random-effects estimates with Monte-Carlo intervals.)
- Putka, D. J., Le, H., McCloy, R. A., & Diaz, T. (2008). Ill-structured measurement designs in
  organizational research. Journal of Applied Psychology, 93, 959–981. (q.)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from coder.stats import agreement
from coder.stats.errors import ReliabilityError

# pandas and SciPy are imported where they are used: the command line reads LEVELS from here for its help, which
# would otherwise take 0.7 s longer.
if TYPE_CHECKING:
    import pandas as pd

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

# Shrout & Fleiss (1979) name the same forms ICC(1,1), ICC(2,1), ICC(3,1) and ICC(1,k), ICC(2,k), ICC(3,k).
SHROUT_FLEISS = {"ICC(1,1)": "ICC(1,1)", "ICC(A,1)": "ICC(2,1)", "ICC(C,1)": "ICC(3,1)",
                 "ICC(1,k)": "ICC(1,k)", "ICC(A,k)": "ICC(2,k)", "ICC(C,k)": "ICC(3,k)"}

# The forms of incomplete designs (ten Hove et al. 2022), reported under the contract's keys.
INCOMPLETE_DESCRIPTION = {
    "ICC(1,k̂)": ("one-way random effects", "mean of k̂ raters", "absolute agreement"),
    "ICC(A,k̂)": ("two-way random effects", "mean of k̂ raters", "absolute agreement"),
    "ICC(Q,k̂)": ("two-way random effects", "mean of k̂ raters",
                 "consistency, with the share q of rater variance that differing raters leave in"),
}


def to_matrix(data: pd.DataFrame, target: str, rater: str, score: str) -> pd.DataFrame:
    """Long format (one row per target × rater score) to a targets × raters table with NaN for missing pairs.
    Errors name a row by its index label, as "line N" where the index is named ``line`` (a file's lines)."""
    import pandas as pd

    for column in (target, rater, score):
        if column not in data.columns:
            raise ReliabilityError(f"no column {column!r} (columns: {', '.join(map(str, data.columns))})")
    where = data.index.name if data.index.name == "line" else "row"
    for column, what in ((target, "target"), (rater, "rater")):
        blank = data[column].isna() | (data[column].astype(str).str.strip() == "")
        if blank.any():
            raise ReliabilityError(f"{where} {blank.idxmax()}: the {what} (column {column!r}) is empty")
    values = pd.to_numeric(data[score], errors="coerce")
    bad = data.loc[values.isna() & data[score].notna(), score]
    if len(bad):
        row = bad.index[0]
        raise ReliabilityError(f"{where} {row}: score {data.loc[row, score]!r} in column {score!r} is not a number")
    infinite = np.isinf(values.astype(float))
    if infinite.any():
        row = infinite.idxmax()
        raise ReliabilityError(f"{where} {row}: score {float(values[row]):g} in column {score!r} is not a finite "
                               "number")
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
    F: float | None
    df1: float | None
    df2: float | None
    p: float | None
    ci95: tuple[float, float]
    name: str | None = None  # the form as ten Hove et al. (2022) name it, where it differs (ICC(Q,k̂))
    k: float | None = None  # the number of raters an average form refers to (k̂ in incomplete designs)
    estimator: str = "anova"  # or "reml" (icc_incomplete)

    @property
    def description(self) -> tuple[str, str, str]:
        return INCOMPLETE_DESCRIPTION.get(self.name, ICC_DESCRIPTION[self.form])

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci95"] = list(self.ci95)
        model, kind, definition = self.description
        out.update(model=model, type=kind, definition=definition,
                   shrout_fleiss=SHROUT_FLEISS.get(self.name or self.form))
        if self.F is not None and not math.isfinite(self.F):
            out.update(F=None, F_reason="no error variance: every rater gave each target the same score, so F is "
                                        "infinite")
        return out


def mean_squares(y: np.ndarray) -> dict[str, float]:
    """The mean squares of a complete targets × raters table ``y`` (n × k): of the two-way ANOVA's rows
    (``msr``), columns (``msc``) and error (``mse``), and of the one-way ANOVA's within-target term (``msw``),
    with ``n`` and ``k``; the terms of every ICC form (Shrout & Fleiss 1979, McGraw & Wong 1996)."""
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
    a = mean_squares(y)
    msr, msc, mse, msw = a["msr"], a["msc"], a["mse"], a["msw"]
    if msr == 0 and mse == 0 and msw == 0:
        raise ReliabilityError("every score is the same: there is no variance to apportion")
    q = 1 - alpha / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return _icc_forms(n, k, msr, msc, mse, msw, q)


def _icc_forms(n: int, k: int, msr: float, msc: float, mse: float, msw: float, q: float) -> dict[str, ICC]:
    from scipy import stats

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
        form.k = 1 if form.form.endswith(",1)") else k
    return {form: out[form] for form in ICC_FORMS}


# --- variance components: incomplete designs ------------------------------------------------------------

@dataclass
class Design:
    """Who rated what: a targets × raters table of booleans and what ten Hove et al. derive from it."""

    n_targets: int
    n_raters: int
    n_ratings: int
    k_hat: float  # harmonic mean of the number of raters per target
    q: float  # proportion of non-overlapping raters between targets (0 when every target has the same raters)
    complete: bool
    crossed: bool  # some rater rated several targets and some target had several raters


def design(rated: np.ndarray) -> Design:
    """k̂ = S / Σ 1/k_s and q = 1/k̂ − Σ_{s≠s'} k_ss' / (k_s k_s') / (S (S − 1)) (ten Hove et al. 2022,
    Table 1 note; Putka et al. 2008), with k_s the raters of target s and k_ss' those shared by s and s'.

    The double sum is Σ_r (Σ_s m_sr / k_s)² − Σ_s 1/k_s over the incidence matrix m, which costs
    O(targets × raters) instead of a loop over pairs of targets.
    """
    m = np.asarray(rated, dtype=bool)
    m = m[m.any(axis=1)]
    k_s = m.sum(axis=1).astype(float)
    n = len(k_s)
    k_hat = n / (1 / k_s).sum()
    if n > 1:
        shared = ((m / k_s[:, None]).sum(axis=0) ** 2).sum() - (1 / k_s).sum()
        q = max(0.0, 1 / k_hat - shared / (n * (n - 1)))
    else:
        q = 0.0
    per_rater = m.sum(axis=0)
    return Design(n, int((per_rater > 0).sum()), int(m.sum()), float(k_hat), float(q), bool(m.all()),
                  bool((per_rater > 1).any() and (k_s > 1).any()))


@dataclass
class VarianceComponents:
    """Restricted maximum likelihood (REML) estimates of y = μ + target + rater + residual."""

    target: float
    rater: float  # 0 in the one-way model, where rater variance is part of the residual
    residual: float
    sd_covariance: np.ndarray  # asymptotic covariance of the three standard deviations; zero rows for fixed ones
    mean: float
    twoway: bool


class _Crossed:
    """The REML deviance of the crossed random-effects model, computed from counts and sums only.

    With Λ = diag(√γ_target, √γ_rater) (variances relative to the residual), H = I + Z Λ Λ Z' is the
    scaled covariance of the scores and A = I + Λ Z'Z Λ gives H⁻¹ = I − Z Λ A⁻¹ Λ Z' (Woodbury) and
    |H| = |A|. A's target block is diagonal, so it is absorbed and only a raters × raters system is
    factorised: each evaluation costs O(targets × raters + raters³), whatever the number of scores.
    """

    def __init__(self, target: np.ndarray, rater: np.ndarray, y: np.ndarray, n: int, r: int):
        self.target, self.rater, self.y = target, rater, y
        self.n_obs = len(y)
        self.k_s = np.bincount(target, minlength=n).astype(float)
        self.n_r = np.bincount(rater, minlength=r).astype(float)
        self.m = np.zeros((n, r))
        np.add.at(self.m, (target, rater), 1.0)
        self.y_s = np.bincount(target, weights=y, minlength=n)
        self.y_r = np.bincount(rater, weights=y, minlength=r)

    def _parts(self, g_s: float, g_r: float) -> tuple[float, float, float, float]:
        """log|A|, X'H⁻¹X, X'H⁻¹y and y'H⁻¹y for variance ratios g_s, g_r.

        The quadratic forms use v'H⁻¹w = (v − ZΛx_v)'(w − ZΛx_w) + x_v'x_w with x_v = A⁻¹ΛZ'v, sums of
        squares that stay accurate when a variance ratio is large."""
        a_s = 1 + g_s * self.k_s
        rs, rr = math.sqrt(g_s), math.sqrt(g_r)
        cross = rs * rr * self.m
        schur = np.diag(1 + g_r * self.n_r) - cross.T @ (cross / a_s[:, None])
        chol = np.linalg.cholesky(schur)
        logdet = float(np.log(a_s).sum() + 2 * np.log(np.diag(chol)).sum())

        def solve(top, bottom):
            x_r = np.linalg.solve(schur, bottom - cross.T @ (top / a_s))
            return (top - cross @ x_r) / a_s, x_r

        s1, r1 = solve(rs * self.k_s, rr * self.n_r)
        sy, ry = solve(rs * self.y_s, rr * self.y_r)
        e1 = 1 - rs * s1[self.target] - rr * r1[self.rater]
        ey = self.y - rs * sy[self.target] - rr * ry[self.rater]
        xx = e1 @ e1 + s1 @ s1 + r1 @ r1
        xy = e1 @ ey + s1 @ sy + r1 @ ry
        yhy = ey @ ey + sy @ sy + ry @ ry
        return logdet, float(xx), float(xy), float(yhy)

    def profiled(self, theta: np.ndarray) -> float:
        """−2 REML log-likelihood with the residual variance profiled out; theta = relative SDs."""
        logdet, xx, xy, yhy = self._parts(theta[0] ** 2, theta[1] ** 2)
        ypy = max(yhy - xy ** 2 / xx, 1e-300)
        df = self.n_obs - 1
        return df * (1 + math.log(2 * math.pi * ypy / df)) + logdet + math.log(xx)

    def deviance(self, variances: np.ndarray) -> float:
        """−2 REML log-likelihood at (target, rater, residual) variances."""
        v_s, v_r, v_e = variances
        logdet, xx, xy, yhy = self._parts(v_s / v_e, v_r / v_e)
        ypy = yhy - xy ** 2 / xx
        df = self.n_obs - 1
        return df * math.log(2 * math.pi) + self.n_obs * math.log(v_e) + logdet + math.log(xx / v_e) + ypy / v_e

    def estimates(self, theta: np.ndarray) -> tuple[float, float, float, float]:
        logdet, xx, xy, yhy = self._parts(theta[0] ** 2, theta[1] ** 2)
        v_e = (yhy - xy ** 2 / xx) / (self.n_obs - 1)
        return theta[0] ** 2 * v_e, theta[1] ** 2 * v_e, v_e, xy / xx


def variance_components(matrix: pd.DataFrame | np.ndarray, twoway: bool = True) -> VarianceComponents:
    """REML estimates of the target, rater and residual variances from every score of a targets × raters
    table with missing cells (the random-effects model ``score ~ 1 + (1|target) + (1|rater)`` of lme4, or
    ``score ~ 1 + (1|target)`` when ``twoway`` is false), with the asymptotic covariance of their standard
    deviations from the observed information. On complete data the estimates equal the ANOVA ones wherever
    those are positive.
    """
    from scipy import optimize

    y = np.asarray(matrix, dtype=float)
    rows, cols = np.nonzero(~np.isnan(y))
    scores = y[rows, cols]
    if len(scores) < 3:
        raise ReliabilityError("variance components need at least three scores")
    if np.ptp(scores) == 0:
        raise ReliabilityError("every score is the same: there is no variance to apportion")
    _, rows = np.unique(rows, return_inverse=True)
    _, cols = np.unique(cols, return_inverse=True)
    if not twoway:
        cols = np.zeros_like(cols)
    model = _Crossed(rows, cols, scores, int(rows.max()) + 1, int(cols.max()) + 1)
    if not twoway:
        def objective(t):
            return model.profiled(np.array([t[0], 0.0]))
        starts = [np.array([0.5]), np.array([2.0])]
    else:
        objective = model.profiled
        starts = [np.array([0.5, 0.5]), np.array([2.0, 0.2]), np.array([0.2, 2.0])]
    best = None
    for start in starts:  # more starts only where the first ends at a zero variance, where the surface is flat
        fit = optimize.minimize(objective, start, method="L-BFGS-B", bounds=[(0, 1e4)] * len(start))
        if best is None or fit.fun < best.fun:
            best = fit
        if (best.x > 1e-3).all():
            break
    theta = np.array([best.x[0], best.x[1] if twoway else 0.0])
    v_s, v_r, v_e, mean = model.estimates(theta)
    est = np.array([v_s, v_r, v_e])
    # Observed information on the standard-deviation scale: the deviance is symmetric about a zero SD, so
    # central differences stay valid for components estimated at zero and squared draws are never negative.
    free = [0, 1, 2] if twoway else [0, 2]
    sds = np.sqrt(np.maximum(est, 0))
    covariance = np.zeros((3, 3))
    hessian = _hessian(lambda v: model.deviance(_fill(sds, free, v) ** 2), sds[free],
                       1e-2 * math.sqrt(max(float(np.var(scores)), 1e-12)))
    values, vectors = np.linalg.eigh(hessian)
    if np.isfinite(values).all() and values.max() > 0:
        values = np.maximum(values, values.max() * 1e-8)
        covariance[np.ix_(free, free)] = 2 * (vectors / values) @ vectors.T
    else:
        covariance[np.ix_(free, free)] = np.nan
    return VarianceComponents(float(v_s), float(v_r), float(v_e), covariance, float(mean), twoway)


def _fill(est: np.ndarray, free: list[int], values: np.ndarray) -> np.ndarray:
    out = est.copy()
    out[free] = values
    return out


def _hessian(f, x: np.ndarray, floor: float) -> np.ndarray:
    """Central second differences of a deviance, each step grown until the deviance rises by about one:
    about one standard error, the range the normal approximation is used over. Exact for a quadratic, and
    still sensible where the deviance is flat to second order (a standard deviation estimated at zero)."""
    size = len(x)
    h = np.full(size, float(floor))
    out = np.zeros((size, size))

    def at(*steps):
        z = x.copy()
        for i, di in steps:
            z[i] += di * h[i]
        return f(z)

    f0 = f(x)
    for i in range(size):
        for _ in range(60):
            if (at((i, 1)) + at((i, -1))) / 2 - f0 >= 0.5:
                break
            h[i] *= 2
    for i in range(size):
        for j in range(i, size):
            if i == j:
                value = (at((i, 1)) - 2 * f0 + at((i, -1))) / h[i] ** 2
            else:
                value = (at((i, 1), (j, 1)) - at((i, 1), (j, -1)) - at((i, -1), (j, 1))
                         + at((i, -1), (j, -1))) / (4 * h[i] * h[j])
            out[i, j] = out[j, i] = value
    return out


def icc_incomplete(matrix: pd.DataFrame | np.ndarray, alpha: float = 0.05, draws: int = 10000,
                   seed: int = 0) -> dict[str, ICC]:
    """ICCs from REML variance components, for designs where raters vary between targets.

    With σ²_s, σ²_r, σ²_sr the target, rater and residual variances of the two-way model, σ²_w the
    residual of the one-way model, k̂ the harmonic mean of raters per target and q the share of
    non-overlapping raters (``design``), following ten Hove et al. (2022, Table 1):

        ICC(1,1) = σ²_s / (σ²_s + σ²_w)               ICC(1,k̂) = σ²_s / (σ²_s + σ²_w / k̂)
        ICC(A,1) = σ²_s / (σ²_s + σ²_r + σ²_sr)       ICC(A,k̂) = σ²_s / (σ²_s + (σ²_r + σ²_sr) / k̂)
        ICC(C,1) = σ²_s / (σ²_s + σ²_sr)              ICC(Q,k̂) = σ²_s / (σ²_s + q σ²_r + σ²_sr / k̂)

    The average forms are reported under the keys ICC(1,k), ICC(A,k) and ICC(C,k), with ``name`` and ``k``
    saying which they are. Intervals are Monte-Carlo intervals (ten Hove et al. 2025): the components drawn
    from their estimated joint normal distribution, the ICCs computed for each draw and their percentiles
    taken. The draws are of standard deviations, squared, rather than of variances: that keeps them
    non-negative and gives components estimated at zero an interval that reaches up to what the data allow.
    There is no F test; F, df1, df2 and p are None.

    When no rater rated more than one target (a nested design) rater and residual variance cannot be told
    apart and only the one-way forms are returned.
    """
    y = np.asarray(matrix, dtype=float)
    y = y[~np.isnan(y).all(axis=1)][:, ~np.isnan(y).all(axis=0)]
    d = design(~np.isnan(y))
    if d.n_raters < 2:
        raise ReliabilityError("ICCs need at least two raters")
    if (~np.isnan(y)).sum(axis=1).max() < 2:
        raise ReliabilityError("no target was rated by two raters: target and rater variance cannot be told apart")
    rng = np.random.default_rng(seed)
    q_lo, q_hi = 100 * alpha / 2, 100 * (1 - alpha / 2)

    def sample(vc: VarianceComponents) -> np.ndarray:
        sds = np.sqrt([vc.target, vc.rater, vc.residual])
        if not np.isfinite(vc.sd_covariance).all():
            return np.tile(sds ** 2, (draws, 1))
        return rng.multivariate_normal(sds, vc.sd_covariance, size=draws, method="eigh") ** 2

    def form(key, name, k, f, est, drawn):
        with np.errstate(divide="ignore", invalid="ignore"):
            value = float(f(*est))
            spread = f(drawn[:, 0], drawn[:, 1], drawn[:, 2])
        spread = spread[np.isfinite(spread)]
        ci = (float(np.percentile(spread, q_lo)), float(np.percentile(spread, q_hi))) if len(spread) else (
            math.nan, math.nan)
        return ICC(key, value, None, None, None, None, ci, name, k, "reml")

    out: dict[str, ICC] = {}
    one = variance_components(y, twoway=False)
    est1 = (one.target, 0.0, one.residual)
    drawn1 = sample(one)
    out["ICC(1,1)"] = form("ICC(1,1)", None, 1, lambda s, r, e: s / (s + e), est1, drawn1)
    out["ICC(1,k)"] = form("ICC(1,k)", None if d.complete else "ICC(1,k̂)", d.k_hat,
                           lambda s, r, e: s / (s + e / d.k_hat), est1, drawn1)
    if d.crossed:
        two = variance_components(y, twoway=True)
        est2 = (two.target, two.rater, two.residual)
        drawn2 = sample(two)
        kh, q = d.k_hat, d.q
        out["ICC(A,1)"] = form("ICC(A,1)", None, 1, lambda s, r, e: s / (s + r + e), est2, drawn2)
        out["ICC(C,1)"] = form("ICC(C,1)", None, 1, lambda s, r, e: s / (s + e), est2, drawn2)
        out["ICC(A,k)"] = form("ICC(A,k)", None if d.complete else "ICC(A,k̂)", kh,
                               lambda s, r, e: s / (s + (r + e) / kh), est2, drawn2)
        out["ICC(C,k)"] = form("ICC(C,k)", None if d.complete else "ICC(Q,k̂)", kh,
                               lambda s, r, e: s / (s + q * r + e / kh), est2, drawn2)
    return {key: out[key] for key in ICC_FORMS if key in out}


# --- Krippendorff's alpha -------------------------------------------------------------------------------

def _value_counts(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values and a units × values table of how often each unit received each value."""
    present = ~np.isnan(matrix)
    values, index = np.unique(matrix[present], return_inverse=True)
    rows = np.nonzero(present)[0]
    counts = np.zeros((matrix.shape[0], len(values)))
    np.add.at(counts, (rows, index), 1.0)
    return values, counts


def _coincidences(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The coincidence matrix o[c, k] over the distinct values, from units (rows) with ≥ 2 values:
    o = Σ_u (n_u n_u' − diag(n_u)) / (m_u − 1), n_u the unit's value counts and m_u their sum."""
    values, counts = _value_counts(matrix)
    m = counts.sum(axis=1)
    keep = m >= 2
    counts, w = counts[keep], 1 / (m[keep] - 1)
    o = (counts * w[:, None]).T @ counts - np.diag((counts * w[:, None]).sum(axis=0))
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
    pairable = int(((~np.isnan(y)).sum(axis=1) >= 2).sum())
    if pairable < 2:
        # on one unit the observed and expected disagreement are the same by construction: α is 0 whatever
        # the ratings
        raise ReliabilityError("only one unit has two or more ratings: alpha compares units and needs at least "
                               "two")
    if len(values) == 1:
        raise ReliabilityError("every rating has the same value: alpha is undefined without variation")
    d = _delta(values, n_c, level)
    expected = (np.outer(n_c, n_c) * d).sum()
    return float(1 - (n - 1) * (o * d).sum() / expected)


def bootstrap_alpha(matrix: pd.DataFrame | np.ndarray, level: str = "interval", n_boot: int = 1000,
                    seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """A percentile bootstrap interval for Krippendorff's alpha, resampling units with replacement."""
    if level not in LEVELS:
        raise ReliabilityError(f"level must be one of {', '.join(LEVELS)}")
    y = np.asarray(matrix, dtype=float)
    values, counts = _value_counts(y)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if len(counts) == 0:
        raise ReliabilityError("no unit has two or more ratings: alpha needs pairable values")
    # Each unit's own coincidences; a bootstrap sample's matrix is their sum weighted by how often it drew them.
    per_unit = (counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(len(values))) / (
        m - 1)[:, None, None]
    rng = np.random.default_rng(seed)
    estimates = []
    flat = per_unit.reshape(len(counts), -1)
    fixed = None if level == "ordinal" else _delta(values, np.ones(len(values)), level)
    for start in range(0, n_boot, 250):
        size = min(250, n_boot - start)
        draws = rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=size)
        # units with fewer than two ratings carry no coincidences; draws of them only add nothing
        weights = draws[:, np.nonzero(np.asarray(~np.isnan(y)).sum(axis=1) >= 2)[0]]
        for o in (weights @ flat).reshape(size, len(values), len(values)):
            n_c = o.sum(axis=1)
            n = n_c.sum()
            if n == 0 or (n_c > 0).sum() < 2:
                continue
            d = fixed if fixed is not None else _delta(values, n_c, level)
            expected = (np.outer(n_c, n_c) * d).sum()
            if expected > 0:
                estimates.append(1 - (n - 1) * (o * d).sum() / expected)
    if not estimates:
        raise ReliabilityError("no bootstrap sample allowed alpha to be computed")
    lo, hi = np.percentile(estimates, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


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


def pairwise(matrix: pd.DataFrame, level: str = "interval", weights: str | None = "quadratic",
             categories=None) -> pd.DataFrame:
    """Agreement of every pair of raters on the units both rated: n, ICC(A,1) with its interval,
    Krippendorff's alpha, Cohen's kappa (weighted by ``weights``) with its standard error, percent agreement
    (exact, and weighted by ``weights``) and the limits of agreement. A statistic the pair's data do not allow
    is left empty, with the reason in ``note``."""
    import pandas as pd

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
                    ("kappa", lambda: agreement.cohen_kappa(pair[first], pair[second], weights, categories)),
                    ("percent_agreement", lambda: agreement.pair_agreement(pair[first], pair[second], None,
                                                                           categories)),
                    ("percent_agreement_weighted", lambda: agreement.pair_agreement(
                        pair[first], pair[second], weights, categories) if weights else None),
                    ("bland_altman", lambda: bland_altman(pair[first], pair[second]))):
                try:
                    value = compute()
                except ReliabilityError as exc:
                    notes.append(f"{name}: {exc}")
                    value = None
                if name == "icc_a1":
                    row.update(icc_a1=value.value if value else None,
                               icc_a1_ci95=list(value.ci95) if value else None)
                elif name == "kappa":
                    row.update(kappa=value.value if value else None, kappa_se=value.se if value else None,
                               kappa_ci95=list(value.ci95) if value else None)
                elif name == "bland_altman":
                    row.update(mean_difference=value.mean_difference if value else None,
                               limits_of_agreement=list(value.limits) if value else None)
                else:
                    row[name] = value
            row["note"] = "; ".join(notes)
            rows.append(row)
    return pd.DataFrame(rows)


# --- the summary of the command line contract -----------------------------------------------------------

def icc_summary(matrix: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """The ICCs of a targets × raters table with the estimator chosen for its design, as JSON-ready
    ``icc`` (the six forms; null where the design does not allow one), ``icc_estimator`` (which estimator
    and why) and ``design`` (k̂, q, complete, crossed) keys; ``icc_reason`` when none can be computed."""
    y = np.asarray(matrix, dtype=float)
    y = y[~np.isnan(y).all(axis=1)][:, ~np.isnan(y).all(axis=0)]
    out: dict[str, Any] = {}
    if y.size == 0:
        return {"icc": None, "icc_reason": "no scores", "design": None}
    d = design(~np.isnan(y))
    out["design"] = {"n_targets": d.n_targets, "n_raters": d.n_raters, "n_ratings": d.n_ratings,
                     "k_hat": d.k_hat, "q": d.q, "complete": d.complete, "crossed": d.crossed}
    try:
        if d.complete:
            forms = icc(y)
            out["icc_estimator"] = (f"two-way ANOVA mean squares (Shrout & Fleiss 1979; McGraw & Wong 1996): "
                                    f"every one of the {d.n_targets} targets was rated by all {d.n_raters} raters")
        else:
            forms = icc_incomplete(y, seed=seed)
            missing = d.n_targets * d.n_raters - d.n_ratings
            out["icc_estimator"] = (
                f"REML variance components of the random-effects model on all {d.n_ratings} scores, because "
                f"{missing} of the {d.n_targets} × {d.n_raters} target–rater pairs have no score and ANOVA "
                f"mean squares need a complete table (ten Hove et al. 2022, 2025); average forms refer to "
                f"k̂ = {d.k_hat:.2f} raters per target (harmonic mean), the consistency form adds q = {d.q:.3f} "
                f"of the rater variance (ICC(Q,k̂)); 95 % Monte-Carlo intervals; no F tests"
                + ("" if d.crossed else "; no rater rated two targets, so only the one-way forms exist"))
    except ReliabilityError as exc:
        out["icc"] = None
        out["icc_reason"] = str(exc)
        return out
    out["icc"] = {name: (forms[name].as_dict() if name in forms else None) for name in ICC_FORMS}
    for value in out["icc"].values():
        if value:
            value.pop("form")
    return out


FEW_UNITS = 10  # a bootstrap over fewer units than this resamples too few values to trust its interval


def alpha_summary(matrix: pd.DataFrame | np.ndarray, level: str = "interval", n_boot: int = 1000,
                  seed: int = 0) -> dict[str, Any]:
    """Krippendorff's alpha as JSON-ready ``value``, ``level``, ``ci95`` (bootstrap; None without samples),
    ``n_units`` and ``n_ratings`` (the units rated at least twice, and their ratings), and a ``warning`` when
    the interval comes from few units; ``value`` None beside a ``reason`` when alpha cannot be computed."""
    y = np.asarray(matrix, dtype=float)
    rated = (~np.isnan(y)).sum(axis=1)
    out: dict[str, Any] = {"value": None, "level": level, "ci95": None, "n_units": int((rated >= 2).sum()),
                           "n_ratings": int(rated[rated >= 2].sum())}
    try:
        out["value"] = krippendorff_alpha(y, level)
        if n_boot:
            out["ci95"] = list(bootstrap_alpha(y, level, n_boot, seed))
            if out["n_units"] < FEW_UNITS:
                out["warning"] = (f"the interval resamples only {out['n_units']} units; with fewer than "
                                  f"{FEW_UNITS} it is too unstable to rely on")
    except ReliabilityError as exc:
        out["reason"] = str(exc)
    return out


def summary(data: pd.DataFrame, target: str, rater: str, score: str, level: str = "interval",
            weights: str | None = None, n_boot: int = 1000, seed: int = 0, categories=None) -> dict[str, Any]:
    """Every statistic the data allow, as the ``coder reliability --json`` object: the ICCs, Krippendorff's
    alpha, and the agreement coefficients (``coder.stats.agreement.summary``) over ``categories`` (the
    scale's points; default: the scores observed)."""
    matrix = to_matrix(data, target, rater, score)
    out: dict[str, Any] = {"n_targets": int(matrix.shape[0]), "n_raters": int(matrix.shape[1]),
                           "n_ratings": int(matrix.notna().sum().sum())}
    out.update(icc_summary(matrix, seed=seed))
    out["krippendorff_alpha"] = alpha_summary(matrix, level, n_boot, seed)
    out.update(agreement.summary(matrix, level, weights, categories))
    return out
