"""Transcription pipeline: audio → ASR → speakers → contract document."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import audio as audio_mod
from .asr import Engine
from .diarize import diarize


def transcribe_file(path: str | Path, engine: Engine, diarizer: str = "builtin", num_speakers: int | None = None,
                    language: str | None = None, audio_label: str | None = None) -> dict[str, Any]:
    """Transcribe one recording and return the STEM.json document of the transcribe contract."""
    samples = audio_mod.load(path)
    t0 = time.perf_counter()
    asr = engine.transcribe(samples, language=language)
    t1 = time.perf_counter()
    segments, speakers = diarize(samples, asr.segments, method=diarizer, num_speakers=num_speakers)
    t2 = time.perf_counter()
    return {
        "audio": audio_label if audio_label is not None else str(path),
        "duration": round(len(samples) / audio_mod.SAMPLE_RATE, 3),
        "engine": engine.name,
        "model": engine.model_label,
        "language": asr.language,
        "speakers": speakers,
        "segments": segments,
        "timings": {"transcribe_s": round(t1 - t0, 3), "diarize_s": round(t2 - t1, 3)},
    }
