"""What every diariser hands back: speaker turns, voice embeddings and warnings (``Diarization``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coder.pipeline.audio import SAMPLE_RATE

DIARIZERS = ("builtin", "dvector", "pyannote", "none")
DEFAULT_SPEAKERS = 2  # a therapy dyad
SINGLE_SPEAKER = "SPEAKER_00"


class DiarizerUnavailable(Exception):
    pass


class DiarizationStopped(Exception):
    """The diariser was told to stop (its ``stop`` event set) and gave up between two batches."""


@dataclass
class Turn:
    start: float
    end: float
    speaker: str


@dataclass
class Diarization:
    turns: list[Turn]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # mean voice embedding per speaker
    warnings: list[str] = field(default_factory=list)
    source: str = "builtin"  # builtin | dvector | pyannote | none | rttm
    overlap_words: dict[str, int] = field(default_factory=dict)  # how words in overlapped speech were attributed

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})

    @property
    def overlaps(self) -> list[tuple[float, float, frozenset[str]]]:
        return overlapped(self.turns)

    def record(self, method: str, num_speakers: int | None) -> dict[str, Any]:
        """The transcript document's ``diarization`` object."""
        return {
            "method": method,
            "num_speakers": num_speakers,  # requested; null: estimated
            "speakers_found": len(self.speakers),
            "warnings": self.warnings,
            "turns": [[round(t.start, 3), round(t.end, 3), t.speaker] for t in self.turns],
            "embeddings": {k: [round(float(x), 5) for x in v] for k, v in self.embeddings.items()},
            "overlap_s": round(sum(e - s for s, e, _ in self.overlaps), 3),
            **({"overlap_words": self.overlap_words} if self.overlap_words else {}),
        }


def overlapped(turns: list[Turn]) -> list[tuple[float, float, frozenset[str]]]:
    """The stretches in which two or more speakers' turns run at once, each with the speakers talking in it;
    sorted, and split wherever who talks changes."""
    events = sorted([(t.start, 1, t.speaker) for t in turns if t.end > t.start]
                    + [(t.end, -1, t.speaker) for t in turns if t.end > t.start], key=lambda e: (e[0], e[1]))
    active: dict[str, int] = {}
    out: list[tuple[float, float, frozenset[str]]] = []
    for (time, step, speaker), following in zip(events, events[1:] + [None]):
        active[speaker] = active.get(speaker, 0) + step
        if not active[speaker]:
            del active[speaker]
        if following is None or following[0] <= time or len(active) < 2:
            continue
        who = frozenset(active)
        if out and out[-1][1] == time and out[-1][2] == who:
            out[-1] = (out[-1][0], following[0], who)
        else:
            out.append((time, following[0], who))
    return out


def speaker_label(i: int) -> str:
    return f"SPEAKER_{i:02d}"
