"""Scoring a rater's responses by the instrument's rules.

Responses are checked (range, step, required items), reverse-keyed items are
reflected (``min + max - value``), and each subscale and the total are the mean
or the sum of their items. With missing items, a score is given only while no
more than ``max_missing`` items are missing; a sum is then prorated (the mean of
the answered items times the number of items) when ``prorate`` is set, and
withheld otherwise. Markers present are counted per kind, with their salience (a
marker is present when answered with a salience or placed in time), and so are
the events placed in time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from coder.study.instruments.definition import InstrumentDefinition, Item, number_text


MARKERS = "markers"  # the responses' key for the unit's marker answers: {marker id: salience | ABSENT}
EVENTS = "events"  # the responses' key for markers placed in time: [{id, code, start, end, salience, note}]
ABSENT = "absent"  # a marker answered "not seen", as against not answered
MAX_EVENTS = 1000
MAX_EVENT_NOTE = 2000
MAX_EVENT_ID = 40


@dataclass
class Scores:
    items: dict[str, float | None]  # keyed values: reverse-keyed items reflected
    subscales: dict[str, float | None]
    total: float | None
    missing: dict[str, int] = field(default_factory=dict)  # per subscale, and "total"
    notes: list[str] = field(default_factory=list)  # why a score was withheld
    # per marker kind: how many markers were present, the sum and the highest salience, and how many events
    markers: dict[str, dict[str, float]] = field(default_factory=dict)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _on_salience(instrument: InstrumentDefinition, value: Any) -> bool:
    number = _number(value)
    return instrument.salience is not None and math.isfinite(number) and instrument.salience.allows(number)


def _salience_text(instrument: InstrumentDefinition) -> str:
    sal = instrument.salience
    return f"the scale {number_text(sal.min)}–{number_text(sal.max)}" if sal else "no salience scale"


def _event_problems(instrument: InstrumentDefinition, events: Any, duration: float | None) -> list[str]:
    if instrument.events is None:
        return [f"{EVENTS}: {instrument.id} version {instrument.version} does not code events in time"]
    if not isinstance(events, list):
        return [f"{EVENTS}: expected a list of events"]
    if len(events) > MAX_EVENTS:
        return [f"{EVENTS}: {len(events)} events; at most {MAX_EVENTS} per unit"]
    codes = {m.id for m in instrument.markers}
    problems, ids = [], set()
    for i, event in enumerate(events):
        where = f"{EVENTS}[{i}]"
        if not isinstance(event, dict):
            problems.append(f"{where}: expected an object with code, start, end, salience and note")
            continue
        unknown = set(event) - {"id", "code", "start", "end", "salience", "note"}
        if unknown:
            problems.append(f"{where}: unknown field {sorted(unknown)[0]!r}")
        event_id = event.get("id")
        if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_EVENT_ID:
            problems.append(f"{where}.id: expected a text id of 1–{MAX_EVENT_ID} characters")
        elif event_id in ids:
            problems.append(f"{where}.id: duplicate id {event_id!r}")
        else:
            ids.add(event_id)
        if event.get("code") not in codes:
            problems.append(f"{where}.code: no such marker {event.get('code')!r} in {instrument.id} "
                            f"version {instrument.version}")
        start, end = _number(event.get("start")), event.get("end")
        if not math.isfinite(start) or start < 0 or (duration is not None and start > duration + 0.5):
            limit = f" and at most the unit's length {duration:g} s" if duration is not None else ""
            problems.append(f"{where}.start: {event.get('start')!r} is not a time in seconds from the unit's "
                            f"start (≥ 0{limit})")
        if end is not None:
            end_n = _number(end)
            if not instrument.events.spans:
                problems.append(f"{where}.end: {instrument.id} codes moments, not spans")
            elif not math.isfinite(end_n) or (math.isfinite(start) and end_n < start) or \
                    (duration is not None and end_n > duration + 0.5):
                problems.append(f"{where}.end: {end!r} is not a time at or after the start"
                                + (" within the unit" if duration is not None else ""))
        if not _on_salience(instrument, event.get("salience")):
            problems.append(f"{where}.salience: {event.get('salience')!r} is not on {_salience_text(instrument)}")
        note = event.get("note", "")
        if note is not None and (not isinstance(note, str) or len(note) > MAX_EVENT_NOTE):
            problems.append(f"{where}.note: expected text of at most {MAX_EVENT_NOTE} characters")
    return problems


def events_of(responses: dict[str, Any]) -> list[dict[str, Any]]:
    """The rating's events in time, sorted by start (then end, code)."""
    events = [e for e in responses.get(EVENTS) or [] if isinstance(e, dict)]
    return sorted(events, key=lambda e: (_number(e.get("start")), _number(e.get("end") if e.get("end") is not None
                                                                         else e.get("start")), str(e.get("code"))))


def marker_answers(instrument: InstrumentDefinition, responses: dict[str, Any]) -> dict[str, float | str | None]:
    """Each marker's answer: its salience when present (the highest of the unit-level answer and the saliences of
    its events), ABSENT, or None when unanswered (under ``marker_answers: optional``, not seen)."""
    answered = responses.get(MARKERS) or {}
    if not isinstance(answered, dict):
        answered = {}
    out: dict[str, float | str | None] = {}
    for marker in instrument.markers:
        value = answered.get(marker.id)
        saliences = [_number(e.get("salience")) for e in events_of(responses) if e.get("code") == marker.id]
        if not isinstance(value, str) and value is not None:
            saliences.append(_number(value))
        saliences = [x for x in saliences if math.isfinite(x)]
        out[marker.id] = max(saliences) if saliences else (ABSENT if value == ABSENT else None)
    return out


def check_responses(instrument: InstrumentDefinition, responses: dict[str, Any], submit: bool = True,
                    duration: float | None = None) -> list[str]:
    """Every problem with a rater's responses: unknown items, values off the scale or its steps, marker answers and
    events that do not fit the instrument (events' times within the unit's ``duration`` when given), and (when
    submitting) required items and markers left unanswered. An empty list means the responses can be saved or
    submitted."""
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
        elif salience != ABSENT and not _on_salience(instrument, salience):
            problems.append(f"{MARKERS}.{marker_id}: salience {salience!r} is not on {_salience_text(instrument)} "
                            f"(or {ABSENT!r})")
    if EVENTS in responses:
        event_problems = _event_problems(instrument, responses[EVENTS], duration)
        problems += event_problems
        if not event_problems:
            placed: dict[str, int] = {}
            for event in responses[EVENTS]:
                placed[event["code"]] = placed.get(event["code"], 0) + 1
            for marker_id, n in placed.items():
                if markers.get(marker_id) == ABSENT:
                    problems.append(f"{MARKERS}.{marker_id}: answered absent, but {n} "
                                    f"event{'s' if n != 1 else ''} of it {'are' if n != 1 else 'is'} placed")
    if submit and instrument.marker_answers == "required" and not problems:
        for marker_id, answer in marker_answers(instrument, responses).items():
            if answer is None:
                problems.append(f"{MARKERS}.{marker_id}: required (present with a salience, or absent)")
    for key in responses:
        if key in (MARKERS, EVENTS):
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
    kinds: dict[str, dict[str, float]] = {m.kind: {"count": 0, "salience_sum": 0.0, "salience_max": 0.0, "events": 0}
                                          for m in instrument.markers}
    kind_of = {m.id: m.kind for m in instrument.markers}
    for marker_id, answer in marker_answers(instrument, responses).items():
        if answer is not None and answer != ABSENT:
            k = kinds[kind_of[marker_id]]
            k["count"] += 1
            k["salience_sum"] += float(answer)
            k["salience_max"] = max(k["salience_max"], float(answer))
    for event in events_of(responses):
        kinds[kind_of[event["code"]]]["events"] += 1
    return Scores(items, subscales, total, missing, notes, kinds)


def mean_of(scores: list[float | None]) -> float | None:
    """The mean of the scores that exist (raters of a unit, units of a session); None when none does."""
    present = [s for s in scores if s is not None]
    return sum(present) / len(present) if present else None
