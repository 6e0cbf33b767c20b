"""Speaker diarisation: who spoke when, and which word each speaker said.

Backends share one interface, ``Diarizer.__call__(audio, num_speakers) ->
Diarization`` (speaker turns, per-speaker voice embeddings, warnings):

- ``builtin`` (the default) needs no account and no model hub: pyannote's
  segmentation-3.0 over sliding 10 s windows finds speech, speaker changes and
  overlap, CAM++ embeds each window's local speakers, and the embeddings are
  clustered across windows into the known (default 2) or estimated number of
  speakers; overlapped speech gives overlapping turns (``builtin``; weights
  from ``make models``).
- ``dvector``, the builtin diariser before it: Silero VAD, Resemblyzer's
  voice encoder on 1.6 s windows, k-means and a Viterbi resegmentation; one
  speaker at a time (``dvector``).
- ``pyannote`` runs a pyannote.audio pipeline loaded from a local directory
  or by name with a token (optional extra, see ``coder.pipeline.diarize.pyannote``).
- ``none`` labels everything as one speaker.

A recording with one microphone per person is diarised from its channels (``channels``). Words get their
speakers in ``coder.pipeline.words``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from coder.pipeline.diarize import builtin, pyannote, resemblyzer
from coder.pipeline.diarize.builtin import BuiltinDiarizer
from coder.pipeline.diarize.channels import diarize_channels
from coder.pipeline.diarize.dvector import DvectorDiarizer
from coder.pipeline.diarize.embeddings import turn_embeddings
from coder.pipeline.diarize.types import (DEFAULT_SPEAKERS, DIARIZERS, SAMPLE_RATE, SINGLE_SPEAKER, Diarization,
                                          DiarizationStopped, DiarizerUnavailable, Turn, speaker_label)

__all__ = ["BuiltinDiarizer", "DEFAULT_SPEAKERS", "DIARIZERS", "Diarization", "DiarizationStopped",
           "DiarizerUnavailable", "DvectorDiarizer", "Turn", "check_available", "diarize_channels", "make_diarizer",
           "speaker_label", "turn_embeddings"]



def check_available(method: str, **options: Any) -> None:
    """Raise before any work is done when ``method`` cannot run here."""
    if method not in DIARIZERS:
        raise ValueError(f"unknown diarizer {method!r}; choose one of {', '.join(DIARIZERS)}")
    if method == "builtin":
        builtin.check_available(options.get("segmentation_model"), options.get("embedding_model"))
    if method == "dvector":
        try:
            resemblyzer.weights_path()
        except Exception as exc:
            raise DiarizerUnavailable(str(exc)) from None
    if method == "pyannote":
        pyannote.check_available(**options)


def make_diarizer(method: str, **options: Any) -> Callable[..., Diarization]:
    if method == "builtin":
        return BuiltinDiarizer(**{k: v for k, v in options.items() if v is not None})
    if method == "dvector":
        return DvectorDiarizer(**{k: v for k, v in options.items() if v is not None})
    if method == "pyannote":
        return pyannote.PyannoteDiarizer(**options)
    if method == "none":
        return _single_speaker
    raise ValueError(f"unknown diarizer {method!r}; choose one of {', '.join(DIARIZERS)}")


def _single_speaker(audio: np.ndarray, num_speakers: int | None = None) -> Diarization:
    duration = len(audio) / SAMPLE_RATE
    return Diarization([Turn(0.0, round(duration, 3), SINGLE_SPEAKER)] if duration > 0 else [], {}, [], "none")
