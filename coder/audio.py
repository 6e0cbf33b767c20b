"""Reading and checking recordings.

Everything downstream works on 16 kHz mono float32, the rate Whisper expects.
Files that libsndfile reads (wav, flac, ogg, and mp3 with libsndfile ≥ 1.1)
are decoded directly; other formats (m4a, ...) go through librosa's
audioread/ffmpeg fallback.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
SILENCE_PEAK = 1e-4  # peak amplitude below which a file is treated as silent


class AudioError(Exception):
    """A recording that cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int
    format: str
    peak: float


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError("file not found")
    if not path.is_file():
        raise AudioError("not a regular file")
    if path.stat().st_size == 0:
        raise AudioError("file is empty")


def probe(path: str | Path) -> AudioInfo:
    """Decode the whole file once to prove it is readable, and describe it.

    Raises AudioError for missing, empty, corrupt, truncated or silent files.
    """
    import soundfile as sf

    path = Path(path)
    _check_file(path)
    try:
        info = sf.info(str(path))
    except Exception:
        info = None
    if info is None:
        audio, rate, channels = _decode_fallback(path)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        frames = audio.shape[-1]
        fmt = path.suffix.lstrip(".").lower() or "unknown"
    else:
        rate, channels, fmt = info.samplerate, info.channels, info.format.lower()
        frames, peak = 0, 0.0
        try:
            for block in sf.blocks(str(path), blocksize=rate * 60, dtype="float32", always_2d=True):
                frames += len(block)
                if len(block):
                    peak = max(peak, float(np.max(np.abs(block))))
        except Exception as exc:
            raise AudioError(f"cannot decode audio ({_short(exc)})") from None
        if fmt == "wav":
            _check_wav_complete(path)
    if frames == 0 or rate <= 0:
        raise AudioError("contains no audio samples")
    if peak < SILENCE_PEAK:
        raise AudioError("silent: no signal in the recording")
    return AudioInfo(duration_s=frames / rate, sample_rate=int(rate), channels=int(channels), format=fmt, peak=peak)


def _check_wav_complete(path: Path) -> None:
    """libsndfile quietly reads what is there of a cut-off WAV; compare the data chunk with the file."""
    import struct

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF are what streaming writers leave; nothing to compare.
                if chunk_size not in (0, 0xFFFFFFFF) and pos + 8 + chunk_size > size:
                    missing = pos + 8 + chunk_size - size
                    raise AudioError(f"truncated WAV: {missing} bytes of audio data missing")
                return
            pos += 8 + chunk_size + (chunk_size & 1)


def _librosa_load(path: Path, sr: int | None, mono: bool) -> tuple[np.ndarray, int]:
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            audio, rate = librosa.load(str(path), sr=sr, mono=mono)
    except Exception as exc:
        raise AudioError(f"not a readable audio file ({_reason(exc)})") from None
    return audio, int(rate)


def _decode_fallback(path: Path) -> tuple[np.ndarray, int, int]:
    audio, rate = _librosa_load(path, sr=None, mono=False)
    channels = 1 if audio.ndim == 1 else audio.shape[0]
    return audio, rate, channels


def load_channels(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The recording as float32 at ``sr`` Hz, shape (channels, samples); checked like ``probe``."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() == ".wav":
        _check_wav_complete(path)
    audio, _ = _librosa_load(path, sr=sr, mono=False)
    audio = np.atleast_2d(audio).astype(np.float32, copy=False)
    if audio.shape[1] == 0:
        raise AudioError("contains no audio samples")
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise AudioError("silent: no signal in the recording")
    return audio


def load(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The recording as mono float32 at ``sr`` Hz."""
    return load_channels(path, sr).mean(axis=0)


def channel_layout(audio: np.ndarray, sr: int = SAMPLE_RATE) -> str:
    """How a multi-channel recording is laid out: "mono", "same-signal" or "speaker-per-channel".

    A recording made with one microphone per person has channels that take
    turns being loud: in a good share of the frames where anyone speaks, one
    channel is far (10 dB) above the other, and each channel has its own such
    frames.
    """
    if audio.ndim == 1 or audio.shape[0] == 1:
        return "mono"
    frame = sr // 20
    n = audio.shape[1] // frame
    if n == 0:
        return "same-signal"
    energy = (audio[:2, : n * frame].reshape(2, n, frame) ** 2).mean(axis=2) + 1e-12
    db = 10 * np.log10(energy)
    active = db.max(axis=0) > db.max() - 40
    if not active.any():
        return "same-signal"
    diff = (db[0] - db[1])[active]
    first, second = np.mean(diff > 10), np.mean(diff < -10)
    return "speaker-per-channel" if min(first, second) >= 0.1 else "same-signal"


def _reason(exc: BaseException) -> str:
    if type(exc).__name__ == "NoBackendError":
        return "unknown format or corrupt data"
    return _short(exc)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
