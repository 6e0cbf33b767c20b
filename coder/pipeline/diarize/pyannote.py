"""The ``pyannote`` diariser: a pyannote.audio speaker-diarisation pipeline, as its users run it.

The pipeline is loaded with ``Pipeline.from_pretrained`` from

- a local directory holding the pipeline's ``config.yaml`` (offline: the
  config names local checkpoint files for segmentation and embedding), or a
  path to such a ``config.yaml``; or
- a model-hub name such as ``pyannote/speaker-diarization-3.1`` with an
  access token (``HF_TOKEN``), when the hub can be reached.

Set the model with ``CODER_PYANNOTE_MODEL`` (default
``pyannote/speaker-diarization-3.1``). pyannote.audio is an optional extra:
``pip install 'coder[pyannote]'``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from coder.pipeline.audio import SAMPLE_RATE

from coder.pipeline.diarize.types import Diarization, DiarizerUnavailable, Turn, speaker_label

DEFAULT_MODEL = "pyannote/speaker-diarization-3.1"


def model_setting(model: str | None = None) -> str:
    return model or os.environ.get("CODER_PYANNOTE_MODEL") or DEFAULT_MODEL


def token_setting(token: str | None = None) -> str | None:
    return token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGINGFACE_TOKEN")


def check_available(model: str | None = None, token: str | None = None, **_ignored) -> None:
    try:
        import pyannote.audio  # noqa: F401
    except ImportError as exc:
        raise DiarizerUnavailable(
            "the pyannote diariser needs pyannote.audio (pip install 'coder[pyannote]', with a torchaudio built "
            f"for your torch); import failed: {exc}") from None
    name = model_setting(model)
    local = Path(name).expanduser()
    if local.exists():
        config = local / "config.yaml" if local.is_dir() else local
        if not config.is_file():
            raise DiarizerUnavailable(f"{local}: no config.yaml of a pyannote pipeline there")
    elif "/" not in name or name.startswith((".", "/", "~")):
        raise DiarizerUnavailable(f"pyannote pipeline {name!r} is neither a local path nor a hub name")
    elif not token_setting(token):
        raise DiarizerUnavailable(f"the pyannote pipeline {name!r} is gated on the model hub: set HF_TOKEN, or "
                                  "set CODER_PYANNOTE_MODEL to a local pipeline directory")


@lru_cache(maxsize=2)
def _pipeline(name: str, token: str | None, device: str):
    import inspect

    import torch
    from pyannote.audio import Pipeline

    local = Path(name).expanduser()
    source = str(local / "config.yaml" if local.is_dir() else local) if local.exists() else name
    kwargs = {}
    if token and not local.exists():
        # pyannote.audio 4 calls it ``token``, 3.x ``use_auth_token``
        key = "token" if "token" in inspect.signature(Pipeline.from_pretrained).parameters else "use_auth_token"
        kwargs[key] = token
    try:
        pipeline = Pipeline.from_pretrained(source, **kwargs)
    except Exception as exc:
        raise DiarizerUnavailable(f"could not load pyannote pipeline {name!r}: {' '.join(str(exc).split())[:300]}") \
            from None
    if pipeline is None:  # 3.x returns None when the hub refuses
        raise DiarizerUnavailable(f"could not load pyannote pipeline {name!r} (gated or not found; check HF_TOKEN)")
    pipeline.to(torch.device(device))
    return pipeline


@dataclass
class PyannoteDiarizer:
    model: str | None = None
    token: str | None = None
    device: str | None = None

    def __call__(self, audio: np.ndarray, num_speakers: int | None = 2) -> Diarization:
        import torch

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        pipeline = _pipeline(model_setting(self.model), token_setting(self.token), device)
        if len(audio) == 0:
            return Diarization([], {}, ["empty recording"], "pyannote")
        waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        kwargs = {"num_speakers": num_speakers} if num_speakers else {}
        output = pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE}, **kwargs)
        annotation, embeddings = _unpack(output)
        labels = sorted(annotation.labels())
        rename = {label: speaker_label(i) for i, label in enumerate(labels)}
        turns = [Turn(round(seg.start, 3), round(seg.end, 3), rename[label])
                 for seg, _track, label in annotation.itertracks(yield_label=True) if seg.duration > 0]
        turns.sort(key=lambda t: (t.start, t.end))
        vectors = {}
        if embeddings is not None and len(embeddings) == len(labels):
            for label, vec in zip(labels, np.asarray(embeddings, dtype=float)):
                if np.all(np.isfinite(vec)) and np.linalg.norm(vec) > 0:
                    vectors[rename[label]] = vec / np.linalg.norm(vec)
        warnings = []
        if num_speakers and len(labels) < num_speakers:
            warnings.append(f"only {len(labels)} speaker(s) found where {num_speakers} were requested")
        if not turns:
            warnings.append("no speech found")
        return Diarization(turns, vectors, warnings, "pyannote")


def _unpack(output):
    """(annotation, embeddings or None) from pyannote.audio 3.x (an Annotation) or 4.x (DiarizeOutput)."""
    if hasattr(output, "speaker_diarization"):
        return output.speaker_diarization, getattr(output, "speaker_embeddings", None)
    if isinstance(output, tuple):
        return output[0], output[1]
    return output, None
