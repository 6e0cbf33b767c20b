"""Voice-activity detection and speech-only audio.

Whisper invents text over long silences and can loop on them. coder
therefore finds the speech with Silero VAD (weights ship inside the
``silero-vad`` package, so no model hub is needed), hands the engine only the
speech, with long pauses shortened, and maps the engine's timestamps back
to the recording's own clock.
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from coder.pipeline.audio import SAMPLE_RATE

PAD_S = 0.2  # kept around each detected stretch of speech
MERGE_GAP_S = 1.0  # pauses shorter than this stay as they are
KEEP_GAP_S = 0.4  # what is left of a longer pause
BATCH_S = 300.0  # speech handed to the engine per call: bounds memory, allows progress reports


_IN_USE = threading.Lock()


@lru_cache(maxsize=1)
def _model():
    from silero_vad import load_silero_vad

    try:
        import onnxruntime  # noqa: F401

        return load_silero_vad(onnx=True)
    except ImportError:
        return load_silero_vad()


def speech_stamps(audio: np.ndarray, sr: int, threshold: float, min_speech_s: float,
                  min_silence_s: float) -> list[tuple[float, float]]:
    """Silero's stretches of speech in seconds, as detected: unpadded and unmerged."""
    import torch
    from silero_vad import get_speech_timestamps

    if len(audio) == 0:
        return []
    with _IN_USE:  # one model, with state between its chunks: the dvector diariser may run it beside Whisper's filter
        stamps = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), _model(),
                                       sampling_rate=sr, threshold=threshold,
                                       min_speech_duration_ms=int(min_speech_s * 1000),
                                       min_silence_duration_ms=int(min_silence_s * 1000), speech_pad_ms=0)
    return [(s["start"] / sr, s["end"] / sr) for s in stamps]


def speech_regions(audio: np.ndarray, sr: int = SAMPLE_RATE, threshold: float = 0.5,
                   min_speech_s: float = 0.25, min_silence_s: float = 0.3) -> list[tuple[float, float]]:
    """Stretches of speech in seconds, padded by PAD_S and merged across pauses shorter than MERGE_GAP_S."""
    duration = len(audio) / sr
    regions: list[tuple[float, float]] = []
    for s, e in speech_stamps(audio, sr, threshold, min_speech_s, min_silence_s):
        start, end = max(0.0, s - PAD_S), min(duration, e + PAD_S)
        if regions and start - regions[-1][1] < MERGE_GAP_S:
            regions[-1] = (regions[-1][0], max(end, regions[-1][1]))
        else:
            regions.append((start, end))
    return regions


def batches(regions: list[tuple[float, float]], max_s: float = BATCH_S) -> list[list[tuple[float, float]]]:
    """Consecutive regions grouped so that each group holds at most ``max_s`` of speech (one long region may exceed it)."""
    groups: list[list[tuple[float, float]]] = []
    total = 0.0
    for region in regions:
        length = region[1] - region[0]
        if not groups or total + length > max_s:
            groups.append([])
            total = 0.0
        groups[-1].append(region)
        total += length
    return groups


@dataclass
class TimeMap:
    """Maps a time in the speech-only audio back to the recording."""

    starts: list[float] = field(default_factory=list)  # start of each piece in the speech-only audio
    origins: list[float] = field(default_factory=list)  # where that piece starts in the recording
    lengths: list[float] = field(default_factory=list)

    def add(self, origin: float, length: float) -> None:
        start = self.starts[-1] + self.lengths[-1] if self.starts else 0.0
        self.starts.append(start)
        self.origins.append(origin)
        self.lengths.append(length)

    def _piece(self, t: float) -> int:
        return max(0, bisect.bisect_right(self.starts, t) - 1)

    def to_recording(self, t: float, piece: int | None = None) -> float:
        i = self._piece(t) if piece is None else piece
        return self.origins[i] + min(max(t - self.starts[i], 0.0), self.lengths[i])

    def span_to_recording(self, start: float, end: float) -> tuple[float, float]:
        """A word's span on the recording's clock; one that straddles a join stays in the piece holding its middle."""
        i = self._piece((start + end) / 2)
        return self.to_recording(start, i), self.to_recording(end, i)


def speech_only(audio: np.ndarray, regions: list[tuple[float, float]], sr: int = SAMPLE_RATE,
                keep_gap_s: float = KEEP_GAP_S) -> tuple[np.ndarray, TimeMap]:
    """The regions' audio joined, each followed by ``keep_gap_s`` of the pause after it (so words stay apart)."""
    pieces, tmap = [], TimeMap()
    for i, (start, end) in enumerate(regions):
        nxt = regions[i + 1][0] if i + 1 < len(regions) else len(audio) / sr
        stop = min(end + keep_gap_s, nxt)
        a, b = int(round(start * sr)), int(round(stop * sr))
        pieces.append(audio[a:b])
        tmap.add(start, (b - a) / sr)
    joined = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return joined.astype(np.float32, copy=False), tmap
