"""Who holds the floor when: speech, turns, silences, overlaps and intrusions of a transcript (no audio needed).

The floor model follows Heldner & Edlund (2010, *J Phonetics* 38:555-568): a speaker holds the floor from the
first moment they speak alone until another speaker speaks alone. Definitions (times in seconds):

- **Speech** (an inter-pausal unit, IPU): the union of one speaker's spans (the diariser's turns or the
  transcript's segments: ``measures.speech_of``); spans of one speaker that overlap or touch are one IPU.
- **Solo time**: time in which exactly one speaker speaks.
- **Turn**: a maximal run of one speaker's IPUs that hold solo time, with no other speaker's solo time between
  them; it runs from the start of its first such IPU to the end of its last. A speaker's IPU that never has
  solo time (wholly covered by others' speech) is not a turn: it is an intrusion (below).
- **Floor transfer offset** (FTO) between consecutive turns of two speakers: ``next.start - previous.end``;
  positive: the switching pause (a gap), negative: the two overlap at the switch.
- **Silence**: time inside the conversation (after the first speech, before the last) in which nobody speaks.
  A *gap* when the floor changes across it (the turn before and the turn after are different speakers'),
  else a *pause*. A silence is *long* when it lasts at least ``LONG_SILENCE_S``.
- **Overlap**: a maximal stretch in which two or more speakers speak at once.
- **Intrusion**: an IPU of speaker B that starts while another speaker A speaks (A's IPU started strictly
  before and has not ended). It is an **interruption** of A when it opens a turn of B (B takes the floor:
  A stops while B goes on alone); a **back-channel** when B never speaks alone in it and it lasts at most
  ``BACKCHANNEL_MAX_S``; else a plain **overlap** (B talks over A without taking the floor, or B resumes its
  own turn over A). An IPU wholly covered by others' speech that starts together with A's is classified the
  same way against A.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

LONG_SILENCE_S = 3.0  # long silence: at least 3 s in which nobody speaks
BACKCHANNEL_MAX_S = 1.0  # back-channel: an IPU of at most 1 s, wholly inside others' speech


@dataclass
class Speech:
    speaker: str
    start: float
    end: float
    solo: float = 0.0  # seconds of it in which this speaker speaks alone

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Turn:
    speaker: str
    start: float
    end: float
    speech: list[Speech] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Transition:
    previous: str
    next: str
    time: float  # start of the next turn
    offset: float  # floor transfer offset: next.start - previous.end


@dataclass
class Silence:
    start: float
    end: float
    kind: str  # "gap" (floor changes across it) | "pause" (same speaker before and after)
    before: str | None  # speaker of the turn before
    after: str | None  # speaker of the turn after

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Overlap:
    start: float
    end: float
    speakers: frozenset[str]

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Intrusion:
    speaker: str  # who starts speaking
    other: str  # over whom
    start: float
    end: float
    kind: str  # "interruption" | "backchannel" | "overlap"

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Conversation:
    speakers: list[str]
    speech: dict[str, list[Speech]]  # per speaker, in time order
    turns: list[Turn]
    transitions: list[Transition]
    silences: list[Silence]
    overlaps: list[Overlap]
    intrusions: list[Intrusion]
    solo: dict[str, list[tuple[float, float]]]  # per speaker, the stretches they speak alone


def speech_intervals(segments: list[dict[str, Any]], label: Callable[[str], str] = str) -> dict[str, list[Speech]]:
    """Each speaker's IPUs: the union of their segments (segments without a speaker are left out)."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for seg in segments:
        if seg.get("speaker") is None:
            continue
        start, end = float(seg["start"]), float(seg["end"])
        if end > start:
            spans[label(seg["speaker"])].append((start, end))
    speech: dict[str, list[Speech]] = {}
    for speaker, items in spans.items():
        merged: list[Speech] = []
        for start, end in sorted(items):
            if merged and start <= merged[-1].end:
                merged[-1].end = max(merged[-1].end, end)
            else:
                merged.append(Speech(speaker, start, end))
        speech[speaker] = merged
    return speech


def _elementary(speech: dict[str, list[Speech]]) -> list[tuple[float, float, frozenset[str]]]:
    """The time line cut at every start and end: (start, end, who speaks) for each piece."""
    events: dict[float, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for speaker, items in speech.items():
        for s in items:
            events[s.start][speaker] += 1
            events[s.end][speaker] -= 1
    active: dict[str, int] = defaultdict(int)
    pieces = []
    times = sorted(events)
    for t0, t1 in zip(times, times[1:]):
        for speaker, change in events[t0].items():
            active[speaker] += change
        pieces.append((t0, t1, frozenset(s for s, n in active.items() if n > 0)))
    return pieces


def _containing(items: list[Speech], starts: list[float], t: float) -> Speech | None:
    i = bisect.bisect_right(starts, t) - 1
    return items[i] if i >= 0 and items[i].start <= t < items[i].end else None


def build(segments: list[dict[str, Any]], label: Callable[[str], str] = str) -> Conversation:
    """The floor structure of a transcript's segments; ``label`` maps a speaker to the unit counted (e.g. a role)."""
    speech = speech_intervals(segments, label)
    starts = {sp: [s.start for s in items] for sp, items in speech.items()}
    pieces = _elementary(speech)
    solo: dict[str, list[tuple[float, float]]] = defaultdict(list)
    floor: list[tuple[str, Speech]] = []  # solo stretches in time order, with the IPU they belong to
    overlaps: list[Overlap] = []
    for t0, t1, who in pieces:
        if len(who) == 1:
            (speaker,) = who
            ipu = _containing(speech[speaker], starts[speaker], t0)
            ipu.solo += t1 - t0
            solo[speaker].append((t0, t1))
            floor.append((speaker, ipu))
        elif len(who) > 1:
            if overlaps and overlaps[-1].end == t0:
                overlaps[-1].end = t1
                overlaps[-1].speakers = overlaps[-1].speakers | who
            else:
                overlaps.append(Overlap(t0, t1, who))

    turns: list[Turn] = []
    for speaker, ipu in floor:
        if turns and turns[-1].speaker == speaker:
            if turns[-1].speech[-1] is not ipu:
                turns[-1].speech.append(ipu)
                turns[-1].end = ipu.end
        else:
            turns.append(Turn(speaker, ipu.start, ipu.end, [ipu]))
    transitions = [Transition(a.speaker, b.speaker, b.start, b.start - a.end) for a, b in zip(turns, turns[1:])]

    turn_starts = [t.start for t in turns]
    silences: list[Silence] = []
    for t0, t1, who in pieces:
        if who:
            continue
        i = bisect.bisect_right(turn_starts, t0) - 1
        if i >= 0 and turns[i].end >= t1:  # inside a turn: the speaker pauses
            silences.append(Silence(t0, t1, "pause", turns[i].speaker, turns[i].speaker))
            continue
        before = turns[i].speaker if i >= 0 else None
        after = turns[i + 1].speaker if i + 1 < len(turns) else None
        kind = "gap" if before is not None and after is not None and before != after else "pause"
        silences.append(Silence(t0, t1, kind, before, after))

    turn_openers = {id(t.speech[0]) for t in turns}
    intrusions: list[Intrusion] = []
    for speaker, items in speech.items():
        for ipu in items:
            over = _overlapped(speech, starts, speaker, ipu, strict=True) or (
                None if ipu.solo > 0 else _overlapped(speech, starts, speaker, ipu, strict=False))
            if over is None:
                continue
            if id(ipu) in turn_openers:
                kind = "interruption"
            elif ipu.solo == 0 and ipu.duration <= BACKCHANNEL_MAX_S:
                kind = "backchannel"
            else:
                kind = "overlap"
            intrusions.append(Intrusion(speaker, over, ipu.start, ipu.end, kind))
    intrusions.sort(key=lambda x: (x.start, x.speaker))
    return Conversation(sorted(speech), speech, turns, transitions, silences, overlaps, intrusions, dict(solo))


def _overlapped(speech, starts, speaker: str, ipu: Speech, strict: bool) -> str | None:
    """The speaker (other than ``speaker``) already speaking when ``ipu`` starts; the earliest starter wins."""
    found = None
    for other, items in speech.items():
        if other == speaker:
            continue
        i = bisect.bisect_right(starts[other], ipu.start) - 1
        if i < 0:
            continue
        s = items[i]
        if (s.start < ipu.start if strict else s.start <= ipu.start) and ipu.start < s.end:
            if found is None or s.start < found[0]:
                found = (s.start, other)
    return found[1] if found else None
