"""Speaker diarisation: who spoke when.

This version labels every segment with a single speaker (``builtin`` and
``none`` behave alike) and leaves roles unassigned; the multi-speaker builtin
diariser and the pyannote backend replace this stage without changing its
interface: ``diarize(audio, segments, ...) -> (segments, speakers)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

DIARIZERS = ("builtin", "pyannote", "none")
SINGLE_SPEAKER = "SPEAKER_00"


class DiarizerUnavailable(Exception):
    pass


def check_available(method: str) -> None:
    """Raise before any work is done when ``method`` cannot run here."""
    if method not in DIARIZERS:
        raise ValueError(f"unknown diarizer {method!r}; choose one of {', '.join(DIARIZERS)}")
    if method == "pyannote":
        raise DiarizerUnavailable("the pyannote diariser is not available in this version of coder; "
                                  "use --diarizer builtin or none")


def diarize(audio: np.ndarray, segments: list[dict[str, Any]], method: str = "builtin",
            num_speakers: int | None = None) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Give every segment and word a speaker; return the segments and the speakers with their roles."""
    check_available(method)
    labelled = []
    for seg in segments:
        words = [{**w, "speaker": SINGLE_SPEAKER} for w in seg.get("words", [])]
        labelled.append({**seg, "speaker": SINGLE_SPEAKER, "words": words})
    return labelled, {SINGLE_SPEAKER: {"role": None}}
