"""Agreement on time-anchored event codes: when raters place the same code at (about) the same moment, and
whether they see each marker in a rating unit at all.

Timing agreement (event-based, with a tolerance window). Two raters' events of one code in one rating unit
*match* when their starts differ by no more than the tolerance t (|s_a − s_b| ≤ t, the boundary included).
Matching is one-to-one and finds as many matches as possible; among the matchings of that size it takes the
one with the smallest total onset difference (``match``: an assignment problem, solved with SciPy's
``linear_sum_assignment``; on a line a greedy two-pointer pass over the sorted starts finds the same number of
matches, but not always the closest pairs). Over the units both raters rated, for each code,

    agreement = 2 · m / (n_a + n_b)

with m the matched pairs and n_a, n_b each rater's events: 1 when every event has a partner, 0 when none
has; undefined when neither rater placed the code. It is the Dice coefficient of the two sets of events
(the F1 score of one rater against the other) and does not depend on which rater comes first. A group of
codes (a marker kind, or all codes: "overall") pools m and n over its codes. The mean absolute onset
difference |s_a − s_b| of the matched pairs says how closely matched events agree in time (and, for
pairs of spans, the mean absolute offset difference |e_a − e_b|). With more than two raters each figure is
the mean over the rater pairs for whom it is defined; onset differences pool every matched pair.

Presence agreement (per rating unit). A rater's answer for a marker is *present* when it is a salience and
*absent* when it is "absent" or unanswered. Per marker, the units × raters table of 1 (present) and 0
(absent) gets percent agreement, Cohen's kappa (exactly two raters; every pair in ``pairs``), Fleiss'
kappa and Gwet's AC1 over the categories {0, 1}, from ``coder.stats.agreement``; a group of markers stacks
their tables (a row per unit × marker). AC1 stays informative for rare markers, where kappa's chance
agreement approaches 1 (Gwet 2008).

References
- Bakeman, R., Quera, V., & Gnisci, A. (2009). Observer agreement for timed-event sequential data: A
  comparison of time-based and event-based algorithms. Behavior Research Methods, 41, 137–147. (Event-based
  agreement: pairing two observers' events of a code within a tolerance window, as GSEQ, The Observer and
  INTERACT do.)
- MacLean, W. E., Tapp, J. T., & Johnson, W. L. (1985). Alternate methods and software for calculating
  interobserver agreement for continuous observation data. Journal of Psychopathology and Behavioral
  Assessment, 7, 65–73. (An agreement when one observer records the event within ± t seconds of the other.)
- Dice, L. R. (1945). Measures of the amount of ecologic association between species. Ecology, 26, 297–302.
- Gwet, K. L. (2008), Cohen (1960), Fleiss (1971): see ``coder.stats.agreement``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from coder.stats import agreement
from coder.stats.errors import ReliabilityError

# Times are stored to the millisecond or finer; a difference this much above the tolerance is rounding.
EPSILON = 1e-9
PRESENCE_CATEGORIES = (0.0, 1.0)


def _check_tolerance(tolerance: float) -> float:
    t = float(tolerance)
    if not np.isfinite(t) or t < 0:
        raise ReliabilityError(f"the tolerance must be a number of seconds ≥ 0, not {tolerance!r}")
    return t


def match(starts_a: Sequence[float], starts_b: Sequence[float], tolerance: float) -> list[tuple[int, int]]:
    """The matched pairs (i, j) of two lists of event starts: one-to-one, |a_i − b_j| ≤ tolerance, as many as
    possible and, among those matchings, the smallest total |a_i − b_j|; sorted by i.

    Costs: |a_i − b_j| for pairs within the tolerance, M = (k + 1)(t + 1) for the others (k = min(n_a, n_b)).
    Every feasible pair costs at most t, so k pairs cost less than one infeasible pair: the minimum-cost
    assignment has the most feasible pairs first and the closest ones second."""
    t = _check_tolerance(tolerance)
    a = np.asarray(starts_a, dtype=float).reshape(-1)
    b = np.asarray(starts_b, dtype=float).reshape(-1)
    if not len(a) or not len(b):
        return []
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ReliabilityError("an event's start is not a number")
    diff = np.abs(a[:, None] - b[None, :])
    ok = diff <= t + EPSILON
    if not ok.any():
        return []
    from scipy.optimize import linear_sum_assignment

    big = (min(len(a), len(b)) + 1) * (t + 1.0)
    rows, cols = linear_sum_assignment(np.where(ok, diff, big))
    return sorted((int(i), int(j)) for i, j in zip(rows, cols) if ok[i, j])


@dataclass
class Tally:
    """One rater pair's events of one code (or group of codes): how many each placed, how many matched, and
    the matched pairs' onset (and, for two spans, offset) differences."""
    n_a: int = 0
    n_b: int = 0
    matched: int = 0
    onsets: list[float] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.n_a += other.n_a
        self.n_b += other.n_b
        self.matched += other.matched
        self.onsets += other.onsets
        self.offsets += other.offsets

    @property
    def value(self) -> float | None:
        n = self.n_a + self.n_b
        return 2 * self.matched / n if n else None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "n_a": self.n_a, "n_b": self.n_b, "matched": self.matched,
                "mean_onset_difference": float(np.mean(self.onsets)) if self.onsets else None,
                "mean_offset_difference": float(np.mean(self.offsets)) if self.offsets else None}


def _start(event: Mapping[str, Any]) -> float:
    return float(event["start"])


def pair_tallies(events_a: Mapping[Any, Sequence[Mapping[str, Any]]], events_b: Mapping[Any, Sequence[Mapping[str, Any]]],
                 tolerance: float) -> tuple[dict[str, Tally], int]:
    """Two raters' events, unit → events (each with ``code``, ``start`` and ``end``, None for a moment),
    matched code by code within each unit both rated: a tally per code, and the number of shared units."""
    t = _check_tolerance(tolerance)
    shared = [u for u in events_a if u in events_b]
    out: dict[str, Tally] = {}
    for unit in shared:
        codes = dict.fromkeys(str(e["code"]) for e in [*events_a[unit], *events_b[unit]])
        for code in codes:
            a = sorted((e for e in events_a[unit] if str(e["code"]) == code), key=_start)
            b = sorted((e for e in events_b[unit] if str(e["code"]) == code), key=_start)
            pairs = match([_start(e) for e in a], [_start(e) for e in b], t)
            tally = out.setdefault(code, Tally())
            tally.add(Tally(len(a), len(b), len(pairs),
                            [abs(_start(a[i]) - _start(b[j])) for i, j in pairs],
                            [abs(float(a[i]["end"]) - float(b[j]["end"])) for i, j in pairs
                             if a[i].get("end") is not None and b[j].get("end") is not None]))
    return out, len(shared)


def _group(tallies: Mapping[str, Tally], codes: Sequence[str]) -> Tally:
    total = Tally()
    for code in codes:
        if code in tallies:
            total.add(tallies[code])
    return total


def _across(pair_entries: list[dict[str, Any]], pooled: Tally) -> dict[str, Any]:
    """A figure over rater pairs: the mean of the pairs' agreements where defined, the events and matches
    summed, the onset and offset differences pooled over every matched pair."""
    values = [p["value"] for p in pair_entries if p["value"] is not None]
    return {"value": float(np.mean(values)) if values else None, "n_pairs": len(values),
            "n_events": pooled.n_a + pooled.n_b, "matched": pooled.matched,
            "mean_onset_difference": float(np.mean(pooled.onsets)) if pooled.onsets else None,
            "mean_offset_difference": float(np.mean(pooled.offsets)) if pooled.offsets else None}


def timing_agreement(units: Mapping[Any, Mapping[str, Sequence[Mapping[str, Any]]]], tolerance: float,
                     codes: Sequence[str] = (), groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Timing agreement of every rater pair and over pairs (see the module's text).

    ``units``: unit → rater → that rater's events in the unit (an empty list for a rater who rated the unit
    and placed none; a rater who did not rate it is left out). ``codes``: the codes to report even when
    nobody used them (an instrument's markers); ``groups``: name → codes (marker kinds).

    Returns ``tolerance_s``, ``codes`` and ``groups`` (name → the figure over pairs), ``overall`` (all
    codes), and ``pairs``: per rater pair, ``n_units`` shared and the pair's ``codes``, ``groups`` and
    ``overall`` tallies."""
    t = _check_tolerance(tolerance)
    raters = sorted({r for per_unit in units.values() for r in per_unit})
    found = dict.fromkeys([*codes, *(str(e["code"]) for per_unit in units.values() for events in per_unit.values()
                                     for e in events)])
    groups = dict(groups or {})
    pairs, pooled_codes, pooled_groups, pooled_all = [], {c: Tally() for c in found}, \
        {g: Tally() for g in groups}, Tally()
    for a, b in combinations(raters, 2):
        events_a = {u: per_unit[a] for u, per_unit in units.items() if a in per_unit}
        events_b = {u: per_unit[b] for u, per_unit in units.items() if b in per_unit}
        tallies, shared = pair_tallies(events_a, events_b, t)
        if not shared:
            continue
        everything = _group(tallies, list(found))
        pairs.append({"rater_a": a, "rater_b": b, "n_units": shared,
                      "codes": {c: tallies.get(c, Tally()).as_dict() for c in found},
                      "groups": {g: _group(tallies, members).as_dict() for g, members in groups.items()},
                      "overall": everything.as_dict()})
        for c in found:
            pooled_codes[c].add(tallies.get(c, Tally()))
        for g, members in groups.items():
            pooled_groups[g].add(_group(tallies, members))
        pooled_all.add(everything)
    return {"tolerance_s": t, "raters": raters, "n_pairs": len(pairs),
            "codes": {c: _across([p["codes"][c] for p in pairs], pooled_codes[c]) for c in found},
            "groups": {g: _across([p["groups"][g] for p in pairs], pooled_groups[g]) for g in groups},
            "overall": _across([p["overall"] for p in pairs], pooled_all), "pairs": pairs}


# --- presence per unit -----------------------------------------------------------------------------------

def _figure(compute) -> dict[str, Any]:
    try:
        return compute().as_dict()
    except ReliabilityError as exc:
        return {"value": None, "reason": str(exc)}


def presence_summary(matrix: pd.DataFrame) -> dict[str, Any]:
    """Agreement on presence (1) and absence (0) in a units × raters table (NaN: the rater did not rate the
    unit): the units and ratings, how many ratings say present, percent agreement, Cohen's kappa (exactly two
    raters), Fleiss' kappa, Gwet's AC1 and each rater pair's percent agreement and Cohen's kappa."""
    y = matrix.to_numpy(dtype=float)
    stray = set(np.unique(y[~np.isnan(y)])) - set(PRESENCE_CATEGORIES)
    if stray:
        raise ReliabilityError(f"presence must be 0 or 1, not {sorted(stray)[0]:g}")
    cats = list(PRESENCE_CATEGORIES)
    rated = ~np.isnan(y)
    out: dict[str, Any] = {"n_units": int(rated.any(axis=1).sum()), "double_coded": int((rated.sum(axis=1) >= 2).sum()),
                           "n_ratings": int(rated.sum()), "n_present": int(np.nansum(y)),
                           "percent_agreement": _figure(lambda: agreement.percent_agreement(y, None, cats)),
                           "fleiss_kappa": _figure(lambda: agreement.fleiss_kappa(y, cats)),
                           "gwet_ac1": _figure(lambda: agreement.gwet_ac(y, None, cats))}
    if y.shape[1] == 2:
        out["cohen_kappa"] = _figure(lambda: agreement.cohen_kappa(y[:, 0], y[:, 1], None, cats))
    pairs = []
    columns = list(matrix.columns)
    for i, j in combinations(range(y.shape[1]), 2):
        both = rated[:, i] & rated[:, j]
        if both.any():
            kappa = _figure(lambda: agreement.cohen_kappa(y[:, i], y[:, j], None, cats))
            pairs.append({"rater_a": columns[i], "rater_b": columns[j], "n": int(both.sum()),
                          "percent_agreement": agreement.pair_agreement(y[:, i], y[:, j], None, cats),
                          "cohen_kappa": kappa["value"], "cohen_kappa_reason": kappa.get("reason")})
    out["pairs"] = pairs
    return out


def presence_agreement(answers: pd.DataFrame, markers: Sequence[str] = (),
                       groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Presence agreement per marker, per group of markers (kinds) and pooled over all markers.

    ``answers``: one row per rating × marker, columns ``unit``, ``rater``, ``marker`` and ``present`` (1 or 0;
    an unanswered marker is 0). ``markers``: the markers to report (an instrument's, in its order), those in
    ``answers`` by default. A group or the pool stacks its markers' tables, a row per unit × marker."""
    missing = {"unit", "rater", "marker", "present"} - set(answers.columns)
    if missing:
        raise ReliabilityError(f"marker answers need the column(s) {', '.join(sorted(missing))}")
    names = list(dict.fromkeys([*markers, *answers["marker"].astype(str)]))
    frame = answers.assign(marker=answers["marker"].astype(str), present=answers["present"].astype(float))

    def table(chosen: Sequence[str]) -> pd.DataFrame:
        part = frame[frame["marker"].isin(list(chosen))]
        return part.pivot_table(index=["marker", "unit"], columns="rater", values="present", aggfunc="max")

    out: dict[str, Any] = {"markers": {}, "groups": {}}
    for name in names:
        part = table([name])
        out["markers"][name] = presence_summary(part) if len(part) else None
    for group, members in (groups or {}).items():
        part = table(members)
        out["groups"][group] = presence_summary(part) if len(part) else None
    everything = table(names)
    out["pooled"] = presence_summary(everything) if len(everything) else None
    return out
