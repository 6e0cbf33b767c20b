"""Listening copies and waveforms for the rating page.

Every recording gets one listening copy: 16 kHz mono 16-bit PCM, decoded once
(from any format coder reads) and kept under ``$CODER_HOME/playback`` by the
recording's checksum, with its waveform peaks beside it. A rater's player asks
for ``clip``: a WAV made on the fly of just the unit's stretch of that copy, a
44-byte header followed by a slice of the PCM. So the browser starts playing at
once and seeks by HTTP range requests into a 60-minute recording without
downloading it, and a rater never receives audio outside the units assigned.

Where a study de-identifies what raters hear, ``masked`` makes a second copy beside the first with the
redacted stretches silenced or replaced by a tone (``coder.pipeline.deidentify.mask_audio``), kept by the
recording's checksum and a hash of the mode and the spans, so a new set of spans makes a new copy and the
unmasked one is never served in its place.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from coder.pipeline import audio, deidentify

RATE = audio.SAMPLE_RATE
SAMPLE_BYTES = 2
PEAKS_PER_S = 100  # waveform resolution kept on disk: one peak per 10 ms
HEADER_BYTES = 44
CHUNK = 1 << 16
_thread_lock = threading.Lock()  # flock is per process; threads of one process queue here


@dataclass(frozen=True)
class ListeningCopy:
    pcm: Path
    peaks: Path

    @property
    def samples(self) -> int:
        return self.pcm.stat().st_size // SAMPLE_BYTES

    @property
    def duration_s(self) -> float:
        return self.samples / RATE


def paths(playback_dir: Path, sha256: str) -> ListeningCopy:
    return ListeningCopy(Path(playback_dir) / f"{sha256}.pcm", Path(playback_dir) / f"{sha256}.peaks.npy")


def _write_atomic(target: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, then rename: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def peaks_of(samples: np.ndarray, per_s: int = PEAKS_PER_S) -> np.ndarray:
    """The highest absolute amplitude in each 1/per_s-second frame, as 0–255."""
    frame = RATE // per_s
    n = -(-len(samples) // frame)
    padded = np.zeros(n * frame, dtype=np.float32)
    padded[: len(samples)] = np.abs(samples)
    peak = padded.reshape(n, frame).max(axis=1) if n else np.zeros(0, dtype=np.float32)
    return np.clip(np.round(peak * 255), 0, 255).astype(np.uint8)


def prepare(recording_path: str | Path, sha256: str, playback_dir: Path) -> ListeningCopy:
    """The recording's listening copy and peaks, made on first use (raises audio.AudioError)."""
    copy = paths(playback_dir, sha256)
    if copy.pcm.exists() and copy.peaks.exists():
        return copy
    with _making(copy):
        if copy.pcm.exists() and copy.peaks.exists():  # made by whoever held the lock before us
            return copy
        _make(recording_path, copy)
    return copy


@contextmanager
def _making(copy: ListeningCopy) -> Iterator[None]:
    """One maker per recording at a time, across threads and processes (the others wait, then reuse it)."""
    copy.pcm.parent.mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(copy.pcm.with_suffix(".lock"), "a") as lock:
        try:
            import fcntl
        except ImportError:  # not on POSIX: the thread lock alone
            yield
            return
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _make(recording_path: str | Path, copy: ListeningCopy) -> None:
    samples = audio.load(recording_path, RATE)
    samples = np.clip(samples, -1.0, 1.0)
    pcm = np.round(samples * 32767).astype("<i2")
    buf = io.BytesIO()
    np.save(buf, peaks_of(samples))
    _write_atomic(copy.peaks, buf.getvalue())
    _write_atomic(copy.pcm, pcm.tobytes())


def masked_paths(copy: ListeningCopy, mode: str, spans) -> ListeningCopy:
    """Where the masked copy of ``copy`` for ``mode`` and ``spans`` is kept: SHA256.MODE-HASH.pcm beside it."""
    key = json.dumps([mode, [[round(float(a), 3), round(float(b), 3)] for a, b in spans]])
    tag = f"{mode}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    stem = copy.pcm.name[: -len(".pcm")]
    return ListeningCopy(copy.pcm.with_name(f"{stem}.{tag}.pcm"), copy.pcm.with_name(f"{stem}.{tag}.peaks.npy"))


def masked(copy: ListeningCopy, mode: str, spans) -> ListeningCopy:
    """A listening copy like ``copy`` (made by ``prepare``) with the stretches ``spans`` (seconds) silenced
    (``mode="mute"``) or replaced by a tone (``"tone"``), and its waveform peaks; made on first use, kept beside
    it. Raises deidentify.DeidentificationError for a mode or span that does not fit."""
    spans = [(float(a), float(b)) for a, b in spans]
    out = masked_paths(copy, mode, spans)
    if out.pcm.exists() and out.peaks.exists():
        return out
    with _making(out):
        if out.pcm.exists() and out.peaks.exists():
            return out
        pcm = np.fromfile(copy.pcm, dtype="<i2")
        pcm = deidentify.mask_audio(pcm, RATE, spans, mode)
        buf = io.BytesIO()
        np.save(buf, peaks_of(pcm.astype(np.float32) / 32767))
        _write_atomic(out.peaks, buf.getvalue())
        _write_atomic(out.pcm, pcm.astype("<i2").tobytes())
    return out


def wav_header(n_bytes: int) -> bytes:
    """A canonical 44-byte RIFF/WAVE header for ``n_bytes`` of 16 kHz mono 16-bit PCM."""
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + n_bytes, b"WAVE", b"fmt ", 16, 1, 1, RATE,
                       RATE * SAMPLE_BYTES, SAMPLE_BYTES, 16, b"data", n_bytes)


@dataclass(frozen=True)
class Clip:
    """A virtual WAV file: the header, then the PCM bytes [offset, offset + n_bytes) of the copy."""

    pcm: Path
    offset: int
    n_bytes: int

    @property
    def length(self) -> int:
        return HEADER_BYTES + self.n_bytes

    def read(self, start: int, stop: int) -> Iterator[bytes]:
        """Bytes [start, stop) of the virtual file, in chunks."""
        header = wav_header(self.n_bytes)
        if start < HEADER_BYTES:
            yield header[start:min(stop, HEADER_BYTES)]
            start = HEADER_BYTES
        if stop <= start:
            return
        with open(self.pcm, "rb") as f:
            f.seek(self.offset + start - HEADER_BYTES)
            left = stop - start
            while left > 0:
                block = f.read(min(CHUNK, left))
                if not block:
                    break
                left -= len(block)
                yield block


def clip(copy: ListeningCopy, start_s: float, end_s: float) -> Clip:
    """The stretch [start_s, end_s) of the listening copy as a WAV clip."""
    total = copy.samples
    first = min(max(int(round(start_s * RATE)), 0), total)
    last = min(max(int(round(end_s * RATE)), first), total)
    return Clip(copy.pcm, first * SAMPLE_BYTES, (last - first) * SAMPLE_BYTES)


def waveform(copy: ListeningCopy, start_s: float, end_s: float, buckets: int = 1200) -> list[float]:
    """The unit's waveform as ``buckets`` peaks in 0–1 (fewer for a unit shorter than that many frames)."""
    peaks = np.load(copy.peaks)
    part = peaks[int(start_s * PEAKS_PER_S): int(np.ceil(end_s * PEAKS_PER_S))]
    if len(part) == 0:
        return []
    buckets = min(buckets, len(part))
    edges = np.linspace(0, len(part), buckets + 1).astype(int)
    out = np.maximum.reduceat(part, edges[:-1]) / 255.0
    return [round(float(x), 3) for x in out]
