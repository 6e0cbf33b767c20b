"""Agreement on event codes (coder.stats.events): matching within a tolerance, timing agreement per code, kind
and overall, and presence agreement per marker.

Matching is checked against every one-to-one matching of small random cases (brute force); timing figures
on cases worked by hand; presence kappas and AC1 against the validated coefficients of coder.stats.agreement
(tests/test_agreement.py checks them against irrCAC, statsmodels and published values) and, where the
irrCAC environment exists, against irrCAC itself.
"""
from __future__ import annotations

import itertools
import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from coder.stats import agreement
from coder.stats import events as ev
from coder.stats.errors import ReliabilityError

from .support.paths import ROOT
from .support.prerequisites import need


def moment(code: str, start: float, end: float | None = None) -> dict:
    return {"code": code, "start": start, "end": end}


# --- matching --------------------------------------------------------------------------------------------

def test_matching_includes_the_tolerance_boundary_and_excludes_beyond_it():
    assert ev.match([10.0], [15.0], 5) == [(0, 0)]
    assert ev.match([12.34], [17.34], 5) == [(0, 0)]  # 5.000000000000002 in floating point: still 5 s
    assert ev.match([10.0], [15.001], 5) == []
    assert ev.match([10.0], [10.0], 0) == [(0, 0)]
    assert ev.match([], [1.0], 5) == [] and ev.match([1.0], [], 5) == []
    with pytest.raises(ReliabilityError, match="tolerance"):
        ev.match([1.0], [1.0], -1)


def test_matching_is_one_to_one_and_prefers_the_closest_partner():
    # a greedy pass would pair 5 with 1 (the first within 5 s); both matchings have one pair, 6 is closer
    assert ev.match([5.0], [1.0, 6.0], 5) == [(0, 1)]
    # two events of one rater near one of the other: one match only
    assert ev.match([10.0, 11.0], [10.5], 5) == [(0, 0)] or ev.match([10.0, 11.0], [10.5], 5) == [(1, 0)]
    assert len(ev.match([10.0, 11.0], [10.5], 5)) == 1
    # the most matches, even where the closest first pair would block a second one
    assert ev.match([0.0, 4.0], [3.0, 8.0], 4) == [(0, 0), (1, 1)]


def _brute_force(a: list[float], b: list[float], t: float) -> tuple[int, float]:
    """The largest number of pairs within t over every one-to-one matching, and the least total difference
    among matchings of that size."""
    best = (0, 0.0)
    for k in range(min(len(a), len(b)), 0, -1):
        costs = [sum(abs(a[i] - b[j]) for i, j in zip(rows, cols))
                 for rows in itertools.combinations(range(len(a)), k)
                 for cols in itertools.permutations(range(len(b)), k)
                 if all(abs(a[i] - b[j]) <= t for i, j in zip(rows, cols))]
        if costs:
            return k, min(costs)
    return best


def test_matching_finds_the_most_pairs_and_the_closest_among_them_against_brute_force():
    rng = np.random.default_rng(11)
    for _ in range(150):
        a = sorted(np.round(rng.uniform(0, 30, rng.integers(0, 6)), 1).tolist())
        b = sorted(np.round(rng.uniform(0, 30, rng.integers(0, 6)), 1).tolist())
        t = float(rng.choice([1, 3, 5]))
        pairs = ev.match(a, b, t)
        assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
        assert all(abs(a[i] - b[j]) <= t for i, j in pairs)
        k, cost = _brute_force(a, b, t)
        assert len(pairs) == k, (a, b, t)
        assert sum(abs(a[i] - b[j]) for i, j in pairs) == pytest.approx(cost), (a, b, t)


# --- timing agreement ------------------------------------------------------------------------------------

def test_two_raters_timing_agreement_per_code_kind_and_overall_by_hand():
    units = {
        1: {"ana": [moment("denial", 10), moment("denial", 40), moment("control", 100, 110)],
            "ben": [moment("denial", 14), moment("control", 103, 112), moment("control", 200)]},
        2: {"ana": [], "ben": [moment("denial", 5)]},
        3: {"ana": [moment("denial", 1)]},  # ben did not rate unit 3: it does not count
    }
    out = ev.timing_agreement(units, 5, codes=["denial", "control", "clarify"],
                              groups={"withdrawal": ["denial"], "confrontation": ["control"]})
    pair = out["pairs"][0]
    assert (pair["rater_a"], pair["rater_b"], pair["n_units"]) == ("ana", "ben", 2)
    # denial: ana 10, 40; ben 14, 5 (unit 2); 10–14 match: 2·1/(2+2)
    assert pair["codes"]["denial"] == {"value": 0.5, "n_a": 2, "n_b": 2, "matched": 1, "mean_onset_difference": 4.0,
                                       "mean_offset_difference": None}
    # control: ana 100–110; ben 103–112, 200: one match, onsets 3 apart, offsets 2 apart: 2·1/(1+2)
    assert pair["codes"]["control"]["value"] == pytest.approx(2 / 3)
    assert pair["codes"]["control"]["mean_onset_difference"] == 3.0
    assert pair["codes"]["control"]["mean_offset_difference"] == 2.0
    assert pair["codes"]["clarify"]["value"] is None  # nobody placed it
    assert pair["overall"]["value"] == pytest.approx(2 * 2 / 7)
    assert pair["groups"]["confrontation"]["value"] == pytest.approx(2 / 3)
    assert out["overall"]["value"] == pytest.approx(4 / 7) and out["overall"]["n_pairs"] == 1
    assert out["overall"]["mean_onset_difference"] == pytest.approx(3.5)
    assert out["codes"]["clarify"] == {"value": None, "n_pairs": 0, "n_events": 0, "matched": 0,
                                       "mean_onset_difference": None, "mean_offset_difference": None}
    assert out["tolerance_s"] == 5.0
    # a tighter window loses the denial match (4 s apart)
    assert ev.timing_agreement(units, 3)["codes"]["denial"]["value"] == 0


def test_timing_agreement_with_empty_raters_unequal_counts_and_three_raters():
    empty = ev.timing_agreement({1: {"ana": [], "ben": []}}, 5)
    assert empty["overall"]["value"] is None and empty["n_pairs"] == 1 and empty["codes"] == {}
    one_sided = ev.timing_agreement({1: {"ana": [moment("denial", 3)] * 3, "ben": []}}, 5)
    assert one_sided["overall"]["value"] == 0 and one_sided["overall"]["n_events"] == 3
    # unequal counts: 4 against 1, all within the window: one match, 2·1/5
    unequal = ev.timing_agreement({1: {"ana": [moment("denial", s) for s in (1, 2, 3, 4)],
                                       "ben": [moment("denial", 2.5)]}}, 5)
    assert unequal["overall"]["value"] == pytest.approx(0.4)
    assert unequal["overall"]["mean_onset_difference"] == pytest.approx(0.5)
    # three raters: pairs ana–ben 1, ana–cem 0, ben–cem 0 (cem placed nothing): the mean over pairs
    three = ev.timing_agreement({1: {"ana": [moment("denial", 10)], "ben": [moment("denial", 12)], "cem": []}}, 5)
    assert [(p["rater_a"], p["rater_b"], p["overall"]["value"]) for p in three["pairs"]] == \
        [("ana", "ben", 1.0), ("ana", "cem", 0.0), ("ben", "cem", 0.0)]
    assert three["overall"]["value"] == pytest.approx(1 / 3) and three["overall"]["n_pairs"] == 3
    # a pair with no shared unit is no pair
    apart = ev.timing_agreement({1: {"ana": [moment("denial", 1)]}, 2: {"ben": [moment("denial", 1)]}}, 5)
    assert apart["pairs"] == [] and apart["overall"]["value"] is None


# --- presence agreement ----------------------------------------------------------------------------------

def _answers(table: dict[str, np.ndarray], raters=("ana", "ben")) -> pd.DataFrame:
    rows = []
    for marker, matrix in table.items():
        for unit, row in enumerate(matrix):
            for rater, value in zip(raters, row):
                if not np.isnan(value):
                    rows.append({"unit": unit, "rater": rater, "marker": marker, "present": value})
    return pd.DataFrame(rows)


DENIAL = np.array([[1, 1], [1, 0], [0, 0], [0, 0], [1, 1], [0, 1], [0, 0], [0, 0]], dtype=float)
CONTROL = np.array([[0, 0], [0, 0], [1, 1], [0, 0], [0, 0], [0, 0], [0, 0], [1, 0]], dtype=float)


def test_presence_agreement_per_marker_kind_and_pooled_matches_the_validated_coefficients():
    out = ev.presence_agreement(_answers({"denial": DENIAL, "control": CONTROL}), ["denial", "control", "clarify"],
                                {"withdrawal": ["denial"], "confrontation": ["control", "clarify"]})
    d = out["markers"]["denial"]
    assert d["n_units"] == 8 and d["n_present"] == 6 and d["n_ratings"] == 16
    # by hand: 6 of 8 units agree; ana 3/8 present, ben 3/8: p_e = (3/8)² + (5/8)² = 34/64
    assert d["percent_agreement"]["value"] == pytest.approx(6 / 8)
    assert d["cohen_kappa"]["value"] == pytest.approx((6 / 8 - 34 / 64) / (1 - 34 / 64))
    assert d["cohen_kappa"]["value"] == pytest.approx(agreement.cohen_kappa(DENIAL[:, 0], DENIAL[:, 1]).value)
    assert d["fleiss_kappa"]["value"] == pytest.approx(agreement.fleiss_kappa(DENIAL, [0, 1]).value)
    assert d["gwet_ac1"]["value"] == pytest.approx(agreement.gwet_ac(DENIAL, None, [0, 1]).value)
    assert out["markers"]["clarify"] is None  # nobody answered it
    pooled = np.vstack([CONTROL, DENIAL])
    assert out["pooled"]["gwet_ac1"]["value"] == pytest.approx(agreement.gwet_ac(pooled, None, [0, 1]).value)
    assert out["pooled"]["fleiss_kappa"]["value"] == pytest.approx(agreement.fleiss_kappa(pooled, [0, 1]).value)
    assert out["pooled"]["n_units"] == 16
    assert out["groups"]["confrontation"]["cohen_kappa"]["value"] == \
        pytest.approx(agreement.cohen_kappa(CONTROL[:, 0], CONTROL[:, 1]).value)
    assert out["markers"]["denial"]["pairs"][0]["percent_agreement"] == pytest.approx(0.75)


def test_presence_of_a_marker_nobody_saw_has_ac1_but_no_kappa():
    out = ev.presence_summary(pd.DataFrame(np.zeros((5, 2)), columns=["ana", "ben"]))
    assert out["gwet_ac1"]["value"] == pytest.approx(1.0)
    assert out["fleiss_kappa"]["value"] is None and "one category" in out["fleiss_kappa"]["reason"]
    assert out["cohen_kappa"]["value"] is None
    with pytest.raises(ReliabilityError, match="0 or 1"):
        ev.presence_summary(pd.DataFrame([[1.0, 3.0]]))


IRRCAC_SCRIPT = """
import json, sys
import numpy as np, pandas as pd
from irrCAC.raw import CAC
out = []
for data in json.load(sys.stdin):
    cac = CAC(pd.DataFrame(np.array(data, dtype=float)), categories=[0, 1], digits=12)
    out.append([float(cac.gwet()["est"]["coefficient_value"]), float(cac.fleiss()["est"]["coefficient_value"]),
                float(cac.gwet()["est"]["pa"])])
print(json.dumps(out))
"""


def test_presence_ac1_and_fleiss_kappa_agree_with_irrcac_with_three_raters_and_missing_ratings():
    python = ROOT / ".venv-irrcac" / "bin" / "python"
    need(python.exists(), "the irrCAC reference environment (make install-irrcac)")
    rng = np.random.default_rng(3)
    table = (rng.random((20, 3)) < 0.3).astype(float)
    table[rng.random(table.shape) < 0.2] = np.nan
    table[np.isnan(table).sum(axis=1) >= 2, :2] = 1.0  # every unit rated twice at least
    out = ev.presence_agreement(_answers({"denial": table}, ("ana", "ben", "cem")))["markers"]["denial"]
    payload = json.dumps([np.where(np.isnan(table), None, table).tolist()])
    done = subprocess.run([str(python), "-c", IRRCAC_SCRIPT], input=payload, capture_output=True, text=True,
                          timeout=300, check=True)
    ac1, fleiss, pa = json.loads(done.stdout)[0]
    assert out["gwet_ac1"]["value"] == pytest.approx(ac1, abs=1e-9)
    assert out["fleiss_kappa"]["value"] == pytest.approx(fleiss, abs=1e-9)
    assert out["percent_agreement"]["value"] == pytest.approx(pa, abs=1e-9)
    assert "cohen_kappa" not in out and len(out["pairs"]) == 3
