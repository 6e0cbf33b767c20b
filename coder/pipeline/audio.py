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


# what a recording's header may claim; more is a damaged file (or none coder can use), refused before decoding
MAX_CHANNELS = 32
MAX_SAMPLE_RATE = 768_000


def _check_claims(channels: int, rate: int) -> None:
    if channels > MAX_CHANNELS:
        raise AudioError(f"the file's header claims {channels} channels; coder reads recordings of up to "
                         f"{MAX_CHANNELS} channels (the file may be damaged)")
    if not 0 < rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"the file's header claims a sample rate of {rate} Hz; coder reads recordings of up to "
                         f"{MAX_SAMPLE_RATE} Hz (the file may be damaged)")


def _wav_format(path: Path) -> tuple[int, int] | None:
    """The channels and sample rate a RIFF/RF64 WAV's ``fmt`` chunk states; None for other files."""
    import struct

    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return None
        for _ in range(64):  # the fmt chunk comes first or nearly so
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = struct.unpack("<4sI", chunk)
            if chunk_id == b"fmt ":
                body = f.read(8)
                return struct.unpack("<HHI", body)[1:] if len(body) == 8 else None
            f.seek(size + (size & 1), 1)
    return None


def _header(path: Path):
    """soundfile's reading of the file's header; None where soundfile cannot read it (then another decoder is
    tried). AudioError for a header that claims more channels or a higher sample rate than any recording has
    (a WAV's is read here, since libsndfile refuses such a header and the other decoder would spend long and
    much memory failing)."""
    import soundfile as sf

    claims = _wav_format(path)
    if claims is not None:
        _check_claims(*claims)
    try:
        info = sf.info(str(path))
    except Exception:
        return None
    _check_claims(info.channels, info.samplerate)
    return info


def probe(path: str | Path) -> AudioInfo:
    """Decode the whole file once to prove it is readable, and describe it.

    Raises AudioError for missing, empty, corrupt, truncated or silent files.
    """
    import soundfile as sf

    path = Path(path)
    _check_file(path)
    info = _header(path)
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
    _header(path)
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


# --- uploads: what a file is by its content, and decoding away from the web process ---------------------

# (format, extension, test of the first 64 bytes); the name a file arrives with is not evidence.
_SIGNATURES = (
    ("wav", ".wav", lambda h: h[:4] in (b"RIFF", b"RF64") and h[8:12] == b"WAVE"),
    ("flac", ".flac", lambda h: h[:4] == b"fLaC"),
    ("ogg", ".ogg", lambda h: h[:4] == b"OggS"),
    ("aiff", ".aiff", lambda h: h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC")),
    ("webm", ".webm", lambda h: h[:4] == b"\x1a\x45\xdf\xa3"),
    ("mp4", ".m4a", lambda h: h[4:8] == b"ftyp"),
    ("mp3", ".mp3", lambda h: h[:3] == b"ID3" or (len(h) > 1 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0
                                                  and h[1] & 0x06 != 0)),
    ("aac", ".aac", lambda h: len(h) > 1 and h[0] == 0xFF and h[1] & 0xF6 == 0xF0),
)
SNIFF_BYTES = 64


def sniff(head: bytes) -> tuple[str, str] | None:
    """The container format and its extension from a file's first bytes, or None if it is no audio format
    this tool reads."""
    for name, ext, test in _SIGNATURES:
        if len(head) >= 12 and test(head):
            return name, ext
    return None


def describe(head: bytes) -> str:
    """A short guess at what a non-audio file is, for the refusal message."""
    known = ((b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive or Office document"),
             (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"MZ", "a program"),
             (b"\x7fELF", "a program"), (b"GIF8", "a GIF image"))
    for magic, what in known:
        if head.startswith(magic):
            return what
    text = head.decode("utf-8", errors="ignore")  # a character cut at the end is ignored
    if text and len(text.encode()) >= len(head) - 3 and all(c.isprintable() or c in "\r\n\t" for c in text):
        return "text"
    return "unknown binary data"


def probe_isolated(path: str | Path, timeout_s: float | None = None, memory_bytes: int = 4 << 30) -> AudioInfo:
    """``probe`` in a child process with a time and memory limit, so that a file that crashes or hangs a
    decoder cannot take the web process with it. Raises AudioError with the reason."""
    import json
    import subprocess
    import sys

    path = Path(path)
    _check_file(path)
    if timeout_s is None:  # decoding runs at well over 20x real time; allow for a slow, shared machine
        timeout_s = 60 + path.stat().st_size / 1e6 * 2

    def limits():  # in the child, before it runs
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    try:
        done = subprocess.run([sys.executable, "-m", "coder.pipeline.audio", str(path)], capture_output=True, text=True,
                              timeout=timeout_s, preexec_fn=limits)
    except subprocess.TimeoutExpired:
        raise AudioError(f"decoding took longer than {timeout_s:.0f} s; the file may be damaged") from None
    if done.returncode < 0:
        raise AudioError(f"the decoder crashed on this file (signal {-done.returncode}); it is damaged or not audio")
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise AudioError(f"the decoder failed ({tail})") from None
    if "error" in answer:
        raise AudioError(answer["error"])
    return AudioInfo(**answer)


def _main(argv: list[str]) -> int:
    """``python -m coder.pipeline.audio FILE``: probe FILE and print one JSON line (used by probe_isolated)."""
    import dataclasses
    import json

    try:
        print(json.dumps(dataclasses.asdict(probe(argv[0]))))
    except AudioError as exc:
        print(json.dumps({"error": str(exc)}))
    except MemoryError:
        print(json.dumps({"error": "decoding needed more memory than allowed; the file may be damaged"}))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
