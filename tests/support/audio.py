"""Audio files for tests: a voiced-sounding tone, signals of known pitch, excerpts of the demo session, two
microphones, scripted sessions synthesised with espeak-ng."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from .paths import ROOT, SAMPLE_DIR
from .prerequisites import need

RATE = 16000
DEMO_SESSION = SAMPLE_DIR / "demo_session.ogg"


def write_tone(path: Path, seconds: float = 3.0, rate: int = RATE, freq: float = 220.0, channels: int = 1) -> Path:
    """A voiced-sounding test signal (a modulated harmonic tone); distinct ``freq`` gives distinct content."""
    t = np.arange(int(seconds * rate)) / rate
    signal = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3)) * 0.2 * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    data = np.stack([signal] * channels, axis=1) if channels > 1 else signal
    sf.write(path, data.astype(np.float32), rate)
    return path


def excerpt(folder: Path, seconds: float, name: str, offset: float = 0.0) -> Path:
    """``seconds`` of the demo session from ``offset`` on, written to ``folder / name`` (real speech)."""
    audio, rate = sf.read(DEMO_SESSION, dtype="float32")
    path = folder / name
    sf.write(path, audio[int(offset * rate):int((offset + seconds) * rate)], rate)
    return path


def two_mics(samples: np.ndarray, reference, bleed: float = 0.05) -> np.ndarray:
    """Therapist on the left microphone, client on the right, each heard faintly by the other's: ``samples`` at
    16 kHz split by the reference turns (speakers "therapist" and "client"); shape (2, n)."""
    left, right = np.zeros_like(samples), np.zeros_like(samples)
    for t in reference:
        a, b = int(t.start * RATE), int(t.end * RATE)
        (left if t.speaker == "therapist" else right)[a:b] = samples[a:b]
    return np.stack([left + bleed * right, right + bleed * left])


def voiced(f0, seconds: float, rate: int = RATE, amplitude: float = 0.3, harmonics: int = 8) -> np.ndarray:
    """A voiced signal of known pitch: harmonics k·F0 with amplitude 1/k (a sawtooth-like source), peak-scaled
    to ``amplitude``. ``f0`` is a number (Hz) or a function of time giving the F0 contour."""
    t = np.arange(int(round(seconds * rate))) / rate
    contour = f0(t) if callable(f0) else np.full_like(t, float(f0))
    phase = 2 * np.pi * np.cumsum(contour) / rate
    signal = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1) if k * contour.max() < rate / 2)
    return (amplitude * signal / np.abs(signal).max()).astype(np.float64)


TALK_OVER = ROOT / "bench" / "sessions" / "talk_over.script.txt"  # planted interruptions and back-channels
TALK_OVER_VOICES = ("en-gb+f4:55:145", "en-us+m2:40:140")  # therapist, client


def scripted_session(script: Path, out: Path, voices: tuple[str, str] = TALK_OVER_VOICES) -> tuple[Path, list[dict]]:
    """A script synthesised by sample_audio/generate.py into ``out``: (the audio, the reference turns)."""
    need(shutil.which("espeak-ng") is not None and shutil.which("sox") is not None, "espeak-ng and sox are needed")
    subprocess.run([sys.executable, str(SAMPLE_DIR / "generate.py"), str(script), "--out", str(out),
                    "--therapist", voices[0], "--client", voices[1]], check=True, capture_output=True)
    stem = script.name.split(".")[0]
    return out / f"{stem}.ogg", json.loads((out / f"{stem}.turns.json").read_text())
