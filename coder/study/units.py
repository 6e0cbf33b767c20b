"""Rating units: the stretches of a session that raters score.

- whole session: the recording from start to end;
- fixed windows of 5, 10 or 15 minutes (or any length), each boundary moved
  to the nearest pause between speaker turns when one lies within
  ``snap_s`` seconds, so that no unit starts or ends mid-sentence;
- hand-picked ranges, for example the homework-review stretch found by
  searching the transcript (``find``).

Each unit has its audio range and its transcript excerpt (``excerpt``). ``cut`` stores the units of a way of
cutting (``plan``) for many recordings at once, ``toggle_calibration`` marks a unit for calibration and
``delete`` removes a unit nobody has rated; all are audited.

Units are made for named instruments, and must fit them (``misfit``): an instrument rated on sessions takes
whole-session units and hand-picked ranges, one rated on segments takes windows of its ``segment_minutes`` and
hand-picked ranges. Units that name no instrument (made before units named them, or around search hits without
one) go to a design only where they fit its instrument (``fits``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from coder.study.audit import audit
from coder.study.instruments import InstrumentDefinition
from coder.study.models import Assignment, ConsensusRating, Rating, RatingUnit, Recording, User, utcnow

SNAP_S = 5.0  # a window boundary moves to a turn boundary this close


@dataclass(frozen=True)
class UnitSpan:
    kind: str  # whole_session | fixed_window | custom
    start_s: float
    end_s: float
    label: str


def whole_session(duration_s: float) -> list[UnitSpan]:
    if duration_s <= 0:
        raise ValueError("the recording has no duration")
    return [UnitSpan("whole_session", 0.0, round(duration_s, 3), "Whole session")]


def _gaps(segments: list[dict[str, Any]]) -> list[float]:
    """Candidate cut points: the middle of each pause between consecutive segments, and turn changes."""
    cuts = []
    for a, b in zip(segments, segments[1:]):
        if b["start"] >= a["end"]:
            cuts.append((a["end"] + b["start"]) / 2)
        elif a.get("speaker") != b.get("speaker"):
            cuts.append(b["start"])
    return cuts


def fixed_windows(duration_s: float, minutes: float, segments: list[dict[str, Any]] | None = None,
                  snap_s: float = SNAP_S, min_last_s: float | None = None) -> list[UnitSpan]:
    """Consecutive windows of ``minutes``, boundaries snapped to the nearest pause within ``snap_s``.

    A last window shorter than ``min_last_s`` (default: half a window) is
    joined to the one before it.
    """
    if minutes <= 0:
        raise ValueError("the window length must be positive")
    if duration_s <= 0:
        raise ValueError("the recording has no duration")
    length = minutes * 60
    min_last_s = length / 2 if min_last_s is None else min_last_s
    cuts = _gaps(segments or [])
    bounds = [0.0]
    target = length
    while target < duration_s - 1e-6:
        near = [c for c in cuts if abs(c - target) <= snap_s and c > bounds[-1]]
        bounds.append(min(near, key=lambda c: abs(c - target)) if near else target)
        target = bounds[-1] + length
    bounds.append(duration_s)
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < min_last_s:
        del bounds[-2]
    spans = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:]), start=1):
        spans.append(UnitSpan("fixed_window", round(a, 3), round(b, 3),
                              f"{_clock(a)}–{_clock(b)} ({minutes:g}-minute window {i})"))
    return spans


def custom(start_s: float, end_s: float, duration_s: float, label: str = "") -> UnitSpan:
    if not 0 <= start_s < end_s:
        raise ValueError(f"a unit needs 0 ≤ start < end, got {start_s:g}–{end_s:g} s")
    if end_s > duration_s + 0.5:
        raise ValueError(f"the unit ends at {end_s:g} s but the recording is {duration_s:g} s long")
    return UnitSpan("custom", round(start_s, 3), round(min(end_s, duration_s), 3),
                    label or f"{_clock(start_s)}–{_clock(end_s)}")


def find(segments: list[dict[str, Any]], pattern: str, context_s: float = 60.0) -> list[tuple[float, float, str]]:
    """Stretches of the transcript that mention ``pattern`` (a case-insensitive regular expression or words),
    widened by ``context_s`` after the first mention; overlapping stretches are merged.
    Returns (start, end, the first matching segment's text)."""
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error:
        regex = re.compile(re.escape(pattern), re.IGNORECASE)
    found = [(seg["start"], seg["end"], seg["text"].strip()) for seg in segments if regex.search(seg.get("text", ""))]
    last = max((s["end"] for s in segments), default=0.0)
    return around(found, 0.0, context_s, last)


def around(stretches: Iterable[tuple[float, float, str]], before_s: float, after_s: float,
           last_s: float) -> list[tuple[float, float, str]]:
    """Stretches (start, end, text) widened by ``before_s`` and ``after_s`` seconds, kept within 0 to ``last_s``,
    overlapping ones merged (the text of the first); in order of time."""
    merged: list[list] = []
    for start, end, text in sorted(stretches, key=lambda s: (s[0], s[1])):
        start, end = max(0.0, start - before_s), end + after_s
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, text])
    return [(round(a, 3), round(min(b, last_s), 3), text) for a, b, text in merged]


def excerpt(segments: list[dict[str, Any]], start_s: float, end_s: float,
            roles: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """The transcript inside a unit: the segments (and words) that lie mostly within [start_s, end_s]."""
    roles = roles or {}
    out = []
    for seg in segments:
        mid = (seg["start"] + seg["end"]) / 2
        if start_s <= mid < end_s:
            out.append({**seg, "role": roles.get(seg.get("speaker"))})
    return out


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def plan(recording, how: str, minutes: float | None = None, pattern: str | None = None, context_s: float = 120.0,
         span: tuple[float, float] | None = None, label: str = "", *,
         hits: list[tuple[float, float, str]] | None = None, before_s: float = 0.0) -> list[UnitSpan]:
    """The spans of one way of cutting a recording into units: ``whole``, ``window`` (``minutes`` long),
    ``range`` (``span``), ``find`` (where the transcript mentions ``pattern``) or ``hits`` (around the stretches
    (start, end, text) a transcript search found: ``before_s`` before each, ``context_s`` after it; ``label``
    names the search). ValueError says why not."""
    if how == "hits":
        if not hits:
            raise ValueError("no hits to make units around")
        name = f"'{label}' at " if label else ""
        return [custom(a, b, recording.duration_s, f"{name}{_clock(a)}: {text[:80]}")
                for a, b, text in around(hits, before_s, context_s, recording.duration_s)]
    segments = recording.transcript.segments if recording.transcript else []
    if how == "whole":
        return whole_session(recording.duration_s)
    if how == "window":
        if not minutes:
            raise ValueError("give the window length in minutes")
        return fixed_windows(recording.duration_s, minutes, segments)
    if how == "range":
        if span is None:
            raise ValueError("give the range's start and end")
        return [custom(span[0], span[1], recording.duration_s, label)]
    if how == "find":
        if not pattern:
            raise ValueError("give the words to find")
        if not segments:
            raise ValueError(f"recording {recording.id} has no transcript to search; process it first")
        spans = [custom(a, b, recording.duration_s, f"'{pattern}' at {_clock(a)}: {text[:80]}")
                 for a, b, text in find(segments, pattern, context_s)]
        if not spans:
            raise ValueError(f"the transcript of recording {recording.id} never mentions {pattern!r}")
        return spans
    raise ValueError(f"unknown kind of unit {how}")


def add(db, recording, spans: list[UnitSpan], actor=None, instrument_keys: list[str] | None = None,
        calibration: bool = False) -> list:
    """Store the spans as rating units of the recording (audited)."""
    out = []
    for sp in spans:
        unit = RatingUnit(session_id=recording.session_id, recording_id=recording.id, kind=sp.kind,
                          start_s=sp.start_s, end_s=sp.end_s, label=sp.label,
                          instrument_keys=sorted(instrument_keys) if instrument_keys else None,
                          calibration=calibration)
        db.add(unit)
        db.flush()
        audit(db, "create", unit, actor, kind=sp.kind, start_s=sp.start_s, end_s=sp.end_s,
              instruments=unit.instrument_keys, calibration=calibration)
        out.append(unit)
    return out


def cut(db: Session, recordings: Iterable[Recording], how: str, minutes: float | None, pattern: str | None,
        context_s: float, actor: User | None, instrument_keys: list[str] | None = None,
        calibration: bool = False) -> tuple[int, list[str]]:
    """Cut each recording into units the same way (``plan``) and store them (``add``); the number of units
    made, and for each recording that could not be cut, its name and why."""
    made, skipped = 0, []
    for recording in recordings:
        try:
            spans = plan(recording, how, minutes, pattern, context_s)
        except ValueError as exc:
            skipped.append(f"{recording.original_name}: {exc}")
            continue
        made += len(add(db, recording, spans, actor, instrument_keys, calibration=calibration))
    return made, skipped


def add_without_recording(db: Session, session, label: str, span: tuple[float, float] | None = None,
                          actor=None) -> RatingUnit:
    """A unit of a session that has no recording (rated on paper, its ratings imported): a label, and the time
    range the rating covered where it is known (else 0 to 0). Audited."""
    start, end = span or (0.0, 0.0)
    unit = RatingUnit(session_id=session.id, recording_id=None, kind="custom" if span else "whole_session",
                      start_s=start, end_s=end, label=label)
    db.add(unit)
    db.flush()
    audit(db, "create", unit, actor, kind=unit.kind, start_s=start, end_s=end, label=label, recording=None)
    return unit


def toggle_calibration(db: Session, unit: RatingUnit, actor: User | None, reason: str = "") -> bool:
    """Mark a unit as a calibration unit, or unmark it (audited); whether it is one now."""
    unit.calibration = not unit.calibration
    audit(db, "calibration" if unit.calibration else "not_calibration", unit, actor, reason=reason)
    return unit.calibration


class UnitError(ValueError):
    """The units cannot be made or removed as asked; the message says why."""


def fits(kind: str, instrument: InstrumentDefinition) -> bool:
    """Whether a unit of this kind can be rated on the instrument: whole sessions for a session instrument,
    windows for a segment instrument, a hand-picked range for either."""
    if kind == "custom":
        return True
    return kind == ("whole_session" if instrument.rating_unit == "session" else "fixed_window")


def misfit(how: str, minutes: float | None, instrument: InstrumentDefinition) -> str | None:
    """Why units cut this way (``plan``'s ``how``) do not fit the instrument; None when they do."""
    segment = instrument.segment_minutes
    wanted = (f"{segment:g}-minute windows" if segment else "windows") if instrument.rating_unit == "segment" \
        else "whole-session units"
    rated_on = "whole sessions" if instrument.rating_unit == "session" else \
        (f"{segment:g}-minute segments" if segment else "segments of a session")
    if (how, instrument.rating_unit) in (("whole", "segment"), ("window", "session")):
        return f"{instrument.id} is rated on {rated_on}: cut {wanted} (or hand-picked ranges) for it"
    if how == "window" and segment and minutes is not None and abs(minutes - segment) > 1e-9:
        return f"{instrument.id} is rated on {rated_on}, not {minutes:g}-minute windows: cut {wanted} for it"
    return None


def check_for(how: str, minutes: float | None, definitions: list[InstrumentDefinition]) -> None:
    """UnitError unless the units are for at least one instrument and fit every one of them."""
    if not definitions:
        raise UnitError("choose the instrument(s) the units are for (store one first with coder instruments store "
                        "or on the Instruments page)")
    problems = [p for d in definitions if (p := misfit(how, minutes, d))]
    if problems:
        raise UnitError("; ".join(problems))


def rated(db: Session, unit: RatingUnit) -> bool:
    """Whether any rating (a draft, submitted, withdrawn or imported) or a consensus exists for the unit."""
    return bool(db.scalar(select(exists().where(Rating.assignment_id == Assignment.id,
                                                Assignment.rating_unit_id == unit.id)))
                or db.scalar(select(exists().where(ConsensusRating.rating_unit_id == unit.id))))


def delete(db: Session, unit: RatingUnit, actor: User | None, reason: str = "") -> int:
    """Remove a unit that nobody has rated, and withdraw its assignments (audited); the number withdrawn.
    Once any rating of it exists the unit stays (UnitError): ratings keep the unit they were made on."""
    if not unit.live:
        raise UnitError(f"unit {unit.id} is already deleted")
    if rated(db, unit):
        raise UnitError(f"unit {unit.id} has ratings and cannot be deleted; ratings keep the unit they were made on")
    now = utcnow()
    withdrawn = 0
    for a in unit.assignments:
        if a.live:
            a.deleted_at = now
            withdrawn += 1
            audit(db, "withdraw", a, actor, unit=unit.id, reason=reason or "unit deleted")
    unit.deleted_at = now
    audit(db, "delete", unit, actor, kind=unit.kind, start_s=unit.start_s, end_s=unit.end_s, label=unit.label,
          assignments_withdrawn=withdrawn, reason=reason)
    db.flush()
    return withdrawn


def transcript_of(unit: RatingUnit) -> list[dict[str, Any]]:
    """The unit's transcript as the coordinator reads it (the current one, not de-identified), times from the
    unit's start: [{"s", "e", "who", "role", "text"}]."""
    recording = unit.recording
    transcript = recording.transcript if recording is not None else None
    if transcript is None:
        return []
    speakers = {s.label: s for s in transcript.speakers}
    out = []
    for seg in excerpt(transcript.segments, unit.start_s, unit.end_s):
        speaker = speakers.get(seg.get("speaker"))
        role = speaker.role if speaker else None
        who = (speaker.name if speaker else None) or (role or "").capitalize() or seg.get("speaker") or "Speaker"
        out.append({"s": round(seg["start"] - unit.start_s, 2), "e": round(seg["end"] - unit.start_s, 2),
                    "who": who, "role": role, "text": seg.get("text", "").strip()})
    return out
