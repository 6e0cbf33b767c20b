"""Scoring a rater's responses by the instrument's rules.

Responses are checked (range, step, required items), reverse-keyed items are
reflected (``min + max - value``), and each subscale and the total are the mean
or the sum of their items. With missing items, a score is given only while no
more than ``max_missing`` items are missing; a sum is then prorated (the mean of
the answered items times the number of items) when ``prorate`` is set, and
withheld otherwise. Event markers are counted per kind, with their salience.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from coder.study.instruments.definition import InstrumentDefinition, Item, number_text


MARKERS = "markers"  # the responses' key for event markers: {marker id: salience}


@dataclass
class Scores:
    items: dict[str, float | None]  # keyed values: reverse-keyed items reflected
    subscales: dict[str, float | None]
    total: float | None
    missing: dict[str, int] = field(default_factory=dict)  # per subscale, and "total"
    notes: list[str] = field(default_factory=list)  # why a score was withheld
    # per marker kind: how many were marked, the sum and the highest salience
    markers: dict[str, dict[str, float]] = field(default_factory=dict)


def check_responses(instrument: InstrumentDefinition, responses: dict[str, Any], submit: bool = True) -> list[str]:
    """Every problem with a rater's responses: unknown items, values off the scale or its steps, and (when
    submitting) required items left empty. An empty list means the responses can be saved or submitted."""
    problems = []
    known = {item.id for item in instrument.items}
    markers = responses.get(MARKERS) or {}
    if not isinstance(markers, dict):
        problems.append(f"{MARKERS}: expected marker ids with their salience")
        markers = {}
    marker_ids = {m.id for m in instrument.markers}
    for marker_id, salience in markers.items():
        if marker_id not in marker_ids:
            problems.append(f"{MARKERS}.{marker_id}: no such marker in {instrument.id} version {instrument.version}")
            continue
        try:
            number = float(salience)
        except (TypeError, ValueError):
            number = float("nan")
        if instrument.salience is None or not math.isfinite(number) or not instrument.salience.allows(number):
            sal = instrument.salience
            problems.append(f"{MARKERS}.{marker_id}: salience {salience!r} is not on the scale "
                            f"{number_text(sal.min)}–{number_text(sal.max)}" if sal
                            else f"{MARKERS}.{marker_id}: no salience scale")
    for key in responses:
        if key == MARKERS:
            continue
        if key not in known:
            problems.append(f"{key}: no such item in {instrument.id} version {instrument.version}")
    for item in instrument.items:
        value = responses.get(item.id)
        if value is None or value == "":
            if submit and item.required:
                problems.append(f"{item.id}: required")
            continue
        scale = instrument.scale_of(item)
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(f"{item.id}: {value!r} is not a number")
            continue
        if not math.isfinite(number) or not scale.allows(number):
            problems.append(f"{item.id}: {value!r} is not on the scale {number_text(scale.min)}–"
                            f"{number_text(scale.max)} in steps of {number_text(scale.step)}")
    return problems


def keyed(instrument: InstrumentDefinition, item: Item, value: float) -> float:
    """The item's value with reverse keying applied."""
    scale = instrument.scale_of(item)
    return scale.min + scale.max - value if item.reverse else value


def _allowance(max_missing: float, n_items: int) -> int:
    return int(max_missing) if max_missing >= 1 else int(math.floor(max_missing * n_items + 1e-9))


def _combine(values: list[float | None], n_missing_allowed: int, method: str, prorate: bool, label: str,
             notes: list[str]) -> tuple[float | None, int]:
    answered = [v for v in values if v is not None]
    missing = len(values) - len(answered)
    if not values or not answered:
        notes.append(f"{label}: no items answered")
        return None, missing
    if missing > n_missing_allowed:
        notes.append(f"{label}: {missing} items missing, at most {n_missing_allowed} allowed")
        return None, missing
    mean = sum(answered) / len(answered)
    if method == "mean":
        return mean, missing
    if missing and not prorate:
        notes.append(f"{label}: {missing} items missing and sums are not prorated")
        return None, missing
    return mean * len(values), missing


def score(instrument: InstrumentDefinition, responses: dict[str, Any]) -> Scores:
    """Subscale and total scores of one rater's responses to one rating unit.

    Raises ValueError if a response is off the scale (check them first with
    ``check_responses``); missing items are handled by the scoring rules.
    """
    bad = [p for p in check_responses(instrument, responses, submit=False)]
    if bad:
        raise ValueError("; ".join(bad))
    rules = instrument.scoring
    items: dict[str, float | None] = {}
    for item in instrument.items:
        value = responses.get(item.id)
        items[item.id] = None if value is None or value == "" else keyed(instrument, item, float(value))
    notes: list[str] = []
    subscales, missing = {}, {}
    allowances = 0
    for sub in instrument.subscales:
        members = instrument.items_of(sub.id)
        allowed = _allowance(rules.max_missing, len(members))
        allowances += allowed
        subscales[sub.id], missing[sub.id] = _combine([items[i.id] for i in members], allowed, rules.method,
                                                      rules.prorate, sub.id, notes)
    total = None
    if rules.total:
        allowed = (_allowance(rules.total_max_missing, len(items)) if rules.total_max_missing is not None
                   else allowances if instrument.subscales else _allowance(rules.max_missing, len(items)))
        total, missing["total"] = _combine(list(items.values()), allowed, rules.method, rules.prorate, "total",
                                           notes)
    kinds: dict[str, dict[str, float]] = {m.kind: {"count": 0, "salience_sum": 0.0, "salience_max": 0.0}
                                          for m in instrument.markers}
    marked = responses.get(MARKERS) or {}
    for marker in instrument.markers:
        if marker.id in marked:
            salience = float(marked[marker.id])
            k = kinds[marker.kind]
            k["count"] += 1
            k["salience_sum"] += salience
            k["salience_max"] = max(k["salience_max"], salience)
    return Scores(items, subscales, total, missing, notes, kinds)


def mean_of(scores: list[float | None]) -> float | None:
    """The mean of the scores that exist (raters of a unit, units of a session); None when none does."""
    present = [s for s in scores if s is not None]
    return sum(present) / len(present) if present else None
