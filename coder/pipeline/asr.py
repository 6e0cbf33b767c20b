"""Speech recognition engines: faster-whisper (default) and openai-whisper.

Both take 16 kHz mono float32 audio and return segments with word-level
timestamps in the shape of the transcribe contract (speakers are added later
by the diariser). A model is given by name (the engine's normal download
path) or by local path: an openai-whisper ``.pt`` checkpoint or a CTranslate2
directory. Without either, the local model store is searched, then the name
``base`` is used.
"""
from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from coder.pipeline.memory import limit_arenas

# faster-whisper first: the default, several times faster than openai-whisper at equal or better word error
# (docs/benchmarks.md)
ENGINES = ("faster-whisper", "openai-whisper")
DEFAULT_ENGINE = "faster-whisper"
DEFAULT_MODEL_NAME = "base"
# the model names the engines know (they fetch them from a model hub where one can be reached)
KNOWN_MODELS = ("tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en", "large",
                "large-v1", "large-v2", "large-v3", "large-v3-turbo", "turbo", "distil-large-v2", "distil-large-v3")
HINT = ("provide a local model with --model PATH or CODER_WHISPER_MODEL=PATH "
        "(an openai-whisper .pt file or a faster-whisper CTranslate2 directory)")


class ModelUnavailable(Exception):
    """The requested model cannot be loaded; the message says how to provide one."""


@dataclass
class ASRResult:
    language: str | None
    segments: list[dict[str, Any]] = field(default_factory=list)


Decoded = Callable[[float], None]  # called with the seconds of the audio decoded so far, as decoding goes


class Engine(Protocol):
    name: str
    model_label: str

    def transcribe(self, audio: np.ndarray, language: str | None = None,
                   progress: Decoded | None = None) -> ASRResult: ...


def store_candidates(models_dir: Path, engine: str) -> list[Path]:
    """Models of ``engine`` in the local store, the base model first."""
    if not models_dir.is_dir():
        return []
    if engine == "openai-whisper":
        found = sorted(models_dir.glob("*.pt"))
    else:
        found = sorted(p for p in models_dir.iterdir() if (p / "model.bin").is_file())
    return sorted(found, key=lambda p: "base" not in p.name)


def resolve_model(engine: str, model: str | None, models_dir: Path | None) -> str:
    """What to load: the explicit choice (a model of the store by its name, a path or a model name), then
    CODER_WHISPER_MODEL, then the store, then ``base``."""
    choice = model or os.environ.get("CODER_WHISPER_MODEL")
    if choice:
        if models_dir is not None and Path(choice).name == choice and (models_dir / choice).exists():
            return str(models_dir / choice)
        return choice
    if models_dir is not None:
        found = store_candidates(models_dir, engine)
        if found:
            return str(found[0])
    return DEFAULT_MODEL_NAME


def engine_for(model: str | None) -> str:
    """The engine for ``model`` (else CODER_WHISPER_MODEL) when none is named: openai-whisper for a ``.pt``
    checkpoint, which only it reads, else DEFAULT_ENGINE."""
    choice = model or os.environ.get("CODER_WHISPER_MODEL") or ""
    return "openai-whisper" if str(choice).endswith(".pt") else DEFAULT_ENGINE


def _looks_like_path(model: str) -> bool:
    return os.sep in model or model.endswith(".pt") or model.startswith(".") or Path(model).exists()


def _words(raw_words) -> list[dict[str, Any]]:
    words = []
    for w in raw_words or []:
        get = w.get if isinstance(w, dict) else lambda k, o=w: getattr(o, k)
        text = get("word").strip()
        if not text:
            continue
        words.append({"start": round(float(get("start")), 3), "end": round(float(get("end")), 3), "text": text,
                      "probability": round(float(get("probability")), 4)})
    return words


def _load_or_explain(load, model: str):
    """Run ``load``; any failure becomes one line that says how to provide a local model."""
    try:
        return load()
    except Exception as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ModelUnavailable(f"Whisper model '{model}' could not be loaded ({reason}); {HINT}") from None


_progress_bar = threading.Lock()


@contextmanager
def _decoded_windows(progress: Decoded | None) -> Iterator[None]:
    """openai-whisper tells only its progress bar (tqdm, in mel frames) as each 30 s window is decoded; while
    ``progress`` is given, a stand-in for that bar passes the seconds decoded on. One transcription at a time in a
    process does so (the bar is a module global of whisper.transcribe)."""
    if progress is None:
        yield
        return
    from whisper.audio import HOP_LENGTH, SAMPLE_RATE

    module = importlib.import_module("whisper.transcribe")

    class Windows:
        def __init__(self, *args, **kwargs):
            self.frames = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, frames):
            self.frames += frames
            progress(self.frames * HOP_LENGTH / SAMPLE_RATE)

    class Bar:  # what whisper.transcribe reaches for as ``tqdm.tqdm``
        tqdm = Windows

    with _progress_bar:
        original = module.tqdm
        module.tqdm = Bar
        try:
            yield
        finally:
            module.tqdm = original


class OpenAIWhisperEngine:
    """openai-whisper, fp32 on CPU and fp16 on CUDA, beam search of 5 as in its own command line."""

    name = "openai-whisper"
    beam_size = 5

    def __init__(self, model: str, device: str | None = None, beam_size: int | None = None):
        import torch
        import whisper

        self.beam_size = beam_size or self.beam_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model_label = model
        source = model
        if _looks_like_path(model):
            path = Path(model).expanduser()
            if path.is_dir():
                raise ModelUnavailable(f"{model} is a directory; openai-whisper needs a .pt file "
                                       "(use --engine faster-whisper for a CTranslate2 directory)")
            if not path.is_file():
                raise ModelUnavailable(f"Whisper model file {model} not found; {HINT}")
            self.model_label, source = path.name, str(path)
        self.model = _load_or_explain(lambda: whisper.load_model(source, device=self.device), model)

    def transcribe(self, audio: np.ndarray, language: str | None = None,
                   progress: Decoded | None = None) -> ASRResult:
        import whisper

        options = dict(
            language=language, word_timestamps=True, verbose=None, fp16=self.device == "cuda",
            **({"beam_size": self.beam_size, "best_of": self.beam_size} if self.beam_size > 1 else {}),
            # Conditioning on earlier text is what lets Whisper loop on long recordings.
            condition_on_previous_text=False,
        )
        try:
            with _decoded_windows(progress):
                result = whisper.transcribe(self.model, audio, **options)
        except ValueError as exc:
            if "invalid values" not in str(exc):
                raise
            # Sampling at a raised fallback temperature met non-finite logits: decode without sampling.
            with _decoded_windows(progress):
                result = whisper.transcribe(self.model, audio, temperature=0.0, **options)
        segments = []
        for seg in result["segments"]:
            text = seg["text"].strip()
            if text:
                segments.append({"start": round(float(seg["start"]), 3), "end": round(float(seg["end"]), 3),
                                 "text": text, "words": _words(seg.get("words"))})
        return ASRResult(language=result.get("language") or language, segments=segments)


class FasterWhisperEngine:
    """faster-whisper (CTranslate2), int8 on CPU, float16 on CUDA.

    Runs through faster-whisper's batched pipeline: the audio is cut at pauses
    into windows of up to 30 s that are decoded independently, several at a
    time, which is both faster and immune to loops carried over from earlier
    text.
    """

    name = "faster-whisper"
    batch_size = 8
    beam_size = 5

    def __init__(self, model: str, device: str | None = None, beam_size: int | None = None):
        self.beam_size = beam_size or self.beam_size
        try:
            from faster_whisper import BatchedInferencePipeline, WhisperModel
        except ImportError:
            raise ModelUnavailable("faster-whisper is not installed: pip install faster-whisper") from None
        import ctranslate2

        self.device = device or ("cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu")
        self.model_label = model
        if _looks_like_path(model):
            path = Path(model).expanduser()
            if not path.exists():
                raise ModelUnavailable(f"Whisper model {model} not found; {HINT}")
            if path.is_file() and path.suffix == ".pt":
                raise ModelUnavailable(f"{model} is an openai-whisper checkpoint; faster-whisper needs a CTranslate2 "
                                       "directory (use --engine openai-whisper for a .pt file)")
            if not (path / "model.bin").is_file():
                raise ModelUnavailable(f"{model} is not a CTranslate2 model directory; {HINT}")
            self.model_label = path.name
            model = str(path)
        options = {"device": self.device, "compute_type": "int8" if self.device == "cpu" else "float16"}
        if self.device == "cpu":
            options["cpu_threads"] = os.cpu_count() or 0
        self.model = _load_or_explain(lambda: WhisperModel(model, **options), model)
        self.pipeline = BatchedInferencePipeline(self.model)

    def transcribe(self, audio: np.ndarray, language: str | None = None,
                   progress: Decoded | None = None) -> ASRResult:
        raw, info = self.pipeline.transcribe(audio, language=language, word_timestamps=True,
                                             beam_size=self.beam_size, batch_size=self.batch_size)
        segments = []
        for seg in raw:  # a generator: each batch of windows is decoded as it is asked for
            if progress:
                progress(float(seg.end))
            text = seg.text.strip()
            if text:
                segments.append({"start": round(float(seg.start), 3), "end": round(float(seg.end), 3),
                                 "text": text, "words": _words(seg.words)})
        return ASRResult(language=info.language or language, segments=segments)


def load_engine(engine: str = DEFAULT_ENGINE, model: str | None = None, models_dir: Path | None = None,
                device: str | None = None, beam_size: int | None = None) -> Engine:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    resolved = resolve_model(engine, model, models_dir)
    limit_arenas()  # before the engine's threads allocate: a transcribing process (coder.pipeline.memory)
    cls = OpenAIWhisperEngine if engine == "openai-whisper" else FasterWhisperEngine
    return cls(resolved, device=device, beam_size=beam_size)
