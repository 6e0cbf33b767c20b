"""Agreement coefficients against published values and established packages.

Sources named in each test: Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., whose example data
the irrCAC package ships (raw4raters, raw5obser, raw.g1g2) with its printed results; Fleiss (1971) as
tabulated on Wikipedia's "Fleiss' kappa" page; R irr's kappam.fleiss(diagnoses, detail = TRUE); SAS PROC FREQ
as quoted in statsmodels' tests (Fleiss, Cohen & Everitt's asymptotic standard error); the irrCAC Python
package (run in its own environment, .venv-irrcac, because it pins an old SciPy), statsmodels and
scikit-learn.
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from coder.stats import agreement
from coder.stats.errors import ReliabilityError

from .support.paths import ROOT
from .support.prerequisites import need

NA = np.nan

# Gwet (2014) / irrCAC's raw4raters: 12 units, 4 raters, categories 1–5 (Krippendorff's reliability data).
RAW4RATERS = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
                       [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, NA],
                       [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
                       [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA]]).T
# irrCAC's raw5obser: 15 units, 5 observers, scores 0–3; only observer 3 scored every unit.
RAW5OBSER = np.array([[1, 1, 2, NA, 0, 0, 1, 1, 2, 2, NA, 0, 1, 3, 1],
                      [1, 1, 3, 0, 0, 0, 0, NA, 2, 1, 1, 0, 2, 3, 1],
                      [2, 0, 3, 0, 0, 0, 2, 2, 2, 1, 0, 0, 2, 2, 1],
                      [NA, 1, 3, NA, NA, NA, NA, 0, NA, 1, 0, 0, 2, 2, NA],
                      [2, NA, NA, 0, 0, 0, 1, NA, 2, NA, NA, NA, NA, 3, 1]]).T
# irrCAC's raw.g1g2: 14 units, 4 raters, categories a–e coded 1–5.
_G = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, ".": NA}
RAW_G1G2 = np.array([[_G[c] for c in row] for row in (
    "abccbadab...bb", "abccbbdabe..ba", ".cccbcdbbeaccc", "abccbddabea.bb")]).T

# Fleiss (1971) as on Wikipedia: 10 subjects, 14 raters each, counts per category 1–5.
FLEISS_1971 = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])

# SAS PROC FREQ's example as statsmodels' tests quote it: a 3 × 3 table of 19 units.
SAS_TABLE = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])


def table_to_pairs(table: np.ndarray, values) -> tuple[np.ndarray, np.ndarray]:
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [values[i]] * int(count)
            b += [values[j]] * int(count)
    return np.array(a, dtype=float), np.array(b, dtype=float)


# --- published values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("data, published", [(RAW4RATERS, 0.761), (RAW5OBSER, 0.458), (RAW_G1G2, 0.657)],
                         ids=["raw4raters", "raw5obser", "raw.g1g2"])
def test_fleiss_kappa_with_missing_ratings_reproduces_gwet(data, published):
    """Gwet (2014) and irrCAC: Fleiss' kappa over every unit rated at least twice is 0.761, 0.458 and 0.657;
    dropping the units any rater missed (as coder once did) gives 0.641, −0.250 and 0.507."""
    result = agreement.fleiss_kappa(data)
    assert round(result.value, 3) == published
    complete = data[~np.isnan(data).any(axis=1)]
    assert round(result.value, 3) != round(agreement.fleiss_kappa(complete).value, 3)
    rated = (~np.isnan(data)).sum(axis=1)
    assert result.n_units == int((rated >= 2).sum()) and result.n_ratings == int(rated[rated >= 2].sum())


def test_gwet_ac1_reproduces_the_handbook():
    """Gwet (2014), raw4raters, as irrCAC's documentation prints it: AC1 0.77544, se 0.14295, 95 % interval
    (0.46081, 1), p_a 0.81818, p_e 0.19032; Fleiss' kappa 0.76117, se 0.15302, interval (0.42438, 1)."""
    ac1 = agreement.gwet_ac(RAW4RATERS)
    assert ac1.statistic == "AC1"
    assert (round(ac1.value, 5), round(ac1.se, 5), round(ac1.pa, 5), round(ac1.pe, 5)) == (
        0.77544, 0.14295, 0.81818, 0.19032)
    assert np.round(ac1.ci95, 5).tolist() == [0.46081, 1.0]
    kappa = agreement.fleiss_kappa(RAW4RATERS)
    assert (round(kappa.value, 5), round(kappa.se, 5)) == (0.76117, 0.15302)
    assert np.round(kappa.ci95, 5).tolist() == [0.42438, 1.0]
    assert round(agreement.percent_agreement(RAW4RATERS).value, 5) == 0.81818


def test_fleiss_kappa_reproduces_fleiss_1971_and_statsmodels():
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_kappa

    assert round(agreement.fleiss_kappa_counts(FLEISS_1971).value, 3) == 0.210
    assert agreement.fleiss_kappa_counts(FLEISS_1971).value == pytest.approx(statsmodels_kappa(FLEISS_1971),
                                                                             abs=1e-12)
    rng = np.random.default_rng(3)
    ratings = rng.integers(0, 4, (25, 5)).astype(float)
    counts = np.stack([(ratings == c).sum(axis=1) for c in range(4)], axis=1)
    assert agreement.fleiss_kappa(ratings).value == pytest.approx(statsmodels_kappa(counts), abs=1e-12)


def test_per_category_fleiss_kappa_reproduces_irr():
    """R irr: kappam.fleiss(diagnoses, detail = TRUE) — 30 patients, 6 raters: overall 0.430; per category
    Depression 0.245, Personality Disorder 0.245, Schizophrenia 0.520, Neurosis 0.471, Other 0.566."""
    from statsmodels.stats.tests.test_inter_rater import diagnoses

    diagnoses = diagnoses.astype(float)
    assert round(agreement.fleiss_kappa(diagnoses).value, 3) == 0.430
    per = agreement.fleiss_kappa_by_category(diagnoses)
    assert {k: round(v, 3) for k, v in per.items()} == {1.0: 0.245, 2.0: 0.245, 3.0: 0.520, 4.0: 0.471, 5.0: 0.566}


def test_cohen_kappa_standard_errors_reproduce_sas_proc_freq():
    """SAS PROC FREQ (quoted in statsmodels' tests): simple kappa 0.4842, ASE 0.1380, 95 % limits 0.2137 and
    0.7547; weighted kappa (Cicchetti–Allison, i.e. linear) 0.4701, ASE 0.1457, limits 0.1845 and 0.7558."""
    simple = agreement.cohen_kappa_table(SAS_TABLE)
    assert np.round([simple.value, simple.se, *simple.ci95], 4).tolist() == [0.4842, 0.1380, 0.2137, 0.7547]
    a, b = table_to_pairs(SAS_TABLE, [1, 2, 3])
    weighted = agreement.cohen_kappa(a, b, "linear")
    assert np.round([weighted.value, weighted.se, *weighted.ci95], 4).tolist() == [0.4701, 0.1457, 0.1845, 0.7558]
    assert weighted.n_units == 19 and weighted.weights == "linear"


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_agrees_with_scikit_learn_and_statsmodels(weights):
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import cohens_kappa

    rng = np.random.default_rng(7)
    a = rng.integers(1, 6, 60)
    b = np.clip(a + rng.integers(-2, 3, 60), 1, 5)
    result = agreement.cohen_kappa(a, b, weights)
    assert result.value == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)
    table = np.array([[((a == i) & (b == j)).sum() for j in range(1, 6)] for i in range(1, 6)])
    reference = cohens_kappa(table, wt=weights) if weights else cohens_kappa(table)
    assert result.se == pytest.approx(reference.std_kappa, abs=1e-10)
    with pytest.raises(ReliabilityError, match="same category"):
        agreement.cohen_kappa([2, 2, 2], [2, 2, 2], weights)


# --- the scale's own points -----------------------------------------------------------------------------

def test_weighted_kappa_uses_the_declared_scale_and_its_values():
    """A 1–7 scale: weights come from the points' values over the declared scale (statsmodels' cohens_kappa
    on the full 7 × 7 table), so an unused middle point changes nothing, while weights by the rank among the
    points observed (coder's old behaviour) do; an unused end point changes the span, and only the declared
    scale gets it right."""
    from statsmodels.stats.inter_rater import cohens_kappa

    scale = list(range(1, 8))

    def full_table(a, b):
        return np.array([[((a == i) & (b == j)).sum() for j in scale] for i in scale])

    a = np.array([1, 2, 2, 3, 3, 5, 5, 6, 6, 7, 7, 3, 5, 2, 6], dtype=float)  # nobody used 4
    b = np.array([2, 2, 3, 3, 5, 5, 6, 6, 7, 7, 6, 2, 3, 1, 5], dtype=float)
    on_scale = agreement.cohen_kappa(a, b, "linear", categories=scale)
    reference = cohens_kappa(full_table(a, b), wt="linear")
    assert (on_scale.value, on_scale.se) == pytest.approx((reference.kappa, reference.std_kappa), abs=1e-12)
    assert agreement.cohen_kappa(a, b, "linear").value == pytest.approx(on_scale.value, abs=1e-12)
    observed = [1, 2, 3, 5, 6, 7]
    by_rank = agreement.cohen_kappa_table(
        np.array([[((a == i) & (b == j)).sum() for j in observed] for i in observed]),
        agreement.weight_matrix(np.arange(6), "linear")).value
    assert abs(by_rank - on_scale.value) > 0.01

    # nobody used 7 either: kappa's weights are relative, but AC2's chance agreement counts the points
    a, b = np.minimum(a, 6), np.minimum(b, 6)
    on_scale = agreement.cohen_kappa(a, b, "linear", categories=scale)
    assert on_scale.value == pytest.approx(cohens_kappa(full_table(a, b), wt="linear").kappa, abs=1e-12)
    both = np.column_stack([a, b])
    assert abs(agreement.gwet_ac(both, "linear").value - agreement.gwet_ac(both, "linear", scale).value) > 0.01
    with pytest.raises(ReliabilityError, match="rating 8 is not one of the categories"):
        agreement.cohen_kappa([8, 1], [1, 1], "linear", categories=scale)


def test_value_weights_for_a_scale_in_half_points():
    """Non-integer points: weights from the values (statsmodels' cohens_kappa with the points as scores)."""
    from statsmodels.stats.inter_rater import cohens_kappa

    points = [0, 0.5, 1, 2, 4]
    rng = np.random.default_rng(11)
    a = rng.choice(points, 40)
    b = np.where(rng.random(40) < 0.6, a, rng.choice(points, 40))
    table = np.array([[((a == i) & (b == j)).sum() for j in points] for i in points])
    for weights in ("linear", "quadratic"):
        got = agreement.cohen_kappa(a, b, weights, categories=points)
        want = cohens_kappa(table, wt=weights, weights=np.array(points))
        assert got.value == pytest.approx(want.kappa, abs=1e-12)
        assert got.se == pytest.approx(want.std_kappa, abs=1e-12)


def test_ac1_resists_the_kappa_paradox_on_skewed_codes():
    """Two raters code 50 segments for a rupture marker; they agree on 46, almost all "absent". Kappa falls
    near zero (Feinstein & Cicchetti's paradox), AC1 stays near the 92 % agreement."""
    a = np.array([0] * 45 + [1] + [0, 0] + [1, 1])
    b = np.array([0] * 45 + [1] + [1, 1] + [0, 0])
    kappa = agreement.cohen_kappa(a, b)
    ac1 = agreement.gwet_ac(np.column_stack([a, b]))
    assert kappa.value < 0.35 and ac1.value > 0.9
    # declared but unused categories change chance agreement only through q
    assert agreement.gwet_ac(np.column_stack([a, a]), categories=[0, 1]).value == 1.0
    with pytest.raises(ReliabilityError, match="only one category"):
        agreement.gwet_ac(np.zeros((5, 2)))
    assert agreement.gwet_ac(np.zeros((5, 2)), categories=[0, 1]).value == 1.0


def test_weights_follow_gwet():
    cats = np.array([1.0, 2, 3, 4, 5])
    assert agreement.weight_matrix(cats, "linear")[0].tolist() == [1, 0.75, 0.5, 0.25, 0]
    assert agreement.weight_matrix(cats, "quadratic")[0].tolist() == [1, 0.9375, 0.75, 0.4375, 0]
    assert np.array_equal(agreement.weight_matrix(cats, "interval"), agreement.weight_matrix(cats, "quadratic"))
    assert agreement.weight_matrix(cats, "ordinal")[0].tolist() == pytest.approx([1, 0.9, 0.7, 0.4, 0])
    assert agreement.weight_matrix(cats, "ratio")[0, -1] == pytest.approx(0)
    assert np.allclose(agreement.weight_matrix(cats, None), np.eye(5))
    with pytest.raises(ReliabilityError, match="ratio weights"):
        agreement.weight_matrix(np.array([0.0, 1, 2]), "ratio")
    with pytest.raises(ReliabilityError, match="weights must be"):
        agreement.weight_matrix(cats, "cubic")


def test_percent_agreement_overall_weighted_and_per_pair():
    matrix = np.array([[1, 1, 2], [2, 2, 2], [3, 1, NA], [NA, NA, 4]], dtype=float)
    # pairs within units: unit 1 one of three agree, unit 2 all three, unit 3 none; unit 4 has one rating
    assert agreement.percent_agreement(matrix).value == pytest.approx((1 / 3 + 1 + 0) / 3)
    weighted = agreement.percent_agreement(matrix, "linear")
    assert weighted.value > agreement.percent_agreement(matrix).value and weighted.n_units == 3
    assert agreement.pair_agreement(matrix[:, 0], matrix[:, 1]) == pytest.approx(2 / 3)
    scale = [1, 2, 3, 4, 5]
    assert agreement.pair_agreement(matrix[:, 0], matrix[:, 1], "linear", scale) == pytest.approx((1 + 1 + 0.5) / 3)
    with pytest.raises(ReliabilityError, match="no unit was rated by two"):
        agreement.percent_agreement(np.array([[1, NA], [NA, 2]]))


# --- the irrCAC package ---------------------------------------------------------------------------------

IRRCAC_SCRIPT = """
import json, sys
import numpy as np, pandas as pd
from irrCAC.raw import CAC
out = []
for case in json.load(sys.stdin):
    frame = pd.DataFrame(np.array(case["data"], dtype=float))
    row = {}
    for method in ("gwet", "fleiss"):
        est = getattr(CAC(frame, weights=case["weights"] or "identity", categories=case["categories"], digits=12),
                      method)()["est"]
        row[method] = [float(est["coefficient_value"]), float(est["se"]), float(est["pa"]),
                       [float(x) for x in est["confidence_interval"]]]
    out.append(row)
print(json.dumps(out))
"""


def test_gwet_ac_and_fleiss_kappa_agree_with_the_irrcac_package():
    """AC1/AC2 and Fleiss' kappa with identity, linear, quadratic, ordinal and radical weights on the three
    published data sets and on random data with missing ratings, against irrCAC 0.4.4 (its own venv)."""
    python = ROOT / ".venv-irrcac" / "bin" / "python"
    need(python.exists(), "the irrCAC reference environment (make install-irrcac)")
    rng = np.random.default_rng(5)
    noisy = rng.integers(1, 5, (30, 4)).astype(float)
    noisy[rng.random(noisy.shape) < 0.3] = np.nan
    sets = {"raw4raters": RAW4RATERS, "raw5obser": RAW5OBSER, "raw.g1g2": RAW_G1G2, "random": noisy}
    cases = [(name, data, w, None) for name, data in sets.items()
             for w in (None, "linear", "quadratic", "ordinal", "radical")]
    # a declared point nobody used (4 on raw5obser's 0–3 scores) enters q and the weights
    cases += [("raw5obser on 0–4", RAW5OBSER, w, [0, 1, 2, 3, 4]) for w in (None, "linear", "quadratic")]
    payload = json.dumps([{"data": np.where(np.isnan(d), None, d).tolist(), "weights": w, "categories": c}
                          for _, d, w, c in cases])
    done = subprocess.run([str(python), "-c", IRRCAC_SCRIPT], input=payload, capture_output=True, text=True,
                          timeout=300, check=True)
    for (name, data, w, cats), ref in zip(cases, json.loads(done.stdout)):
        for method, ours in (("gwet", agreement.gwet_ac(data, w, cats)),
                             ("fleiss", agreement.fleiss_kappa(data, cats, w))):
            value, se, pa, ci = ref[method]
            label = f"{method} {name} {w}"
            assert ours.value == pytest.approx(value, abs=1e-9), label
            assert ours.se == pytest.approx(se, abs=1e-9), label
            assert ours.pa == pytest.approx(pa, abs=1e-9), label
            assert list(ours.ci95) == pytest.approx(ci, abs=1e-9), label


# --- the summary -----------------------------------------------------------------------------------------

def test_summary_names_what_entered_each_statistic_and_why_one_is_missing():
    out = agreement.summary(RAW5OBSER, "nominal")
    assert out["fleiss_kappa"]["n_units"] == 15
    assert out["fleiss_kappa"]["n_ratings"] == int((~np.isnan(RAW5OBSER)).sum())
    assert set(out["fleiss_kappa"]["per_category"]) == {"0", "1", "2", "3"}
    assert out["gwet_ac"]["statistic"] == "AC1" and out["gwet_ac"]["weights"] is None
    assert "weighted_kappa" not in out  # five observers
    assert len(out["percent_agreement"]["pairs"]) == 10
    weighted = agreement.summary(RAW5OBSER, "ordinal", "quadratic", categories=[0, 1, 2, 3])
    assert weighted["gwet_ac"]["statistic"] == "AC2" and "fleiss_kappa" not in weighted
    stray = agreement.summary(RAW5OBSER, "nominal", categories=[0, 1, 2])
    assert stray["gwet_ac"]["value"] is None and "rating 3 is not one of the categories" in stray["gwet_ac"]["reason"]
    # weights that the categories do not allow (ratio weights and a 0 point): reasons, and the unweighted kappa
    zero = agreement.summary(RAW5OBSER, "nominal", "ratio")
    assert zero["gwet_ac"]["value"] is None and "ratio weights need categories above zero" in zero["gwet_ac"]["reason"]
    assert zero["percent_agreement"]["value"] is None and round(zero["fleiss_kappa"]["value"], 3) == 0.458
    single = agreement.summary(np.array([[1.0, 1.0], [1.0, 1.0]]), "nominal")
    assert single["weighted_kappa"]["value"] is None and "same category" in single["weighted_kappa"]["reason"]
