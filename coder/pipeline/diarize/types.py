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

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})

    def record(self, method: str, num_speakers: int | None) -> dict[str, Any]:
        """The transcript document's ``diarization`` object."""
        return {
            "method": method,
            "num_speakers": num_speakers,  # requested; null: estimated
            "speakers_found": len(self.speakers),
            "warnings": self.warnings,
            "turns": [[round(t.start, 3), round(t.end, 3), t.speaker] for t in self.turns],
            "embeddings": {k: [round(float(x), 5) for x in v] for k, v in self.embeddings.items()},
        }


def speaker_label(i: int) -> str:
    return f"SPEAKER_{i:02d}"
