"""The ``pyannote`` diariser: a pyannote.audio speaker-diarisation pipeline, as its users run it.

``CODER_PYANNOTE_MODEL`` (or ``--diarizer-model``) names one of

- a whole pipeline, loaded with ``Pipeline.from_pretrained``: a local directory holding its ``config.yaml``
  (offline: the config names local checkpoints), the path of such a ``config.yaml``, or a hub name such as
  ``pyannote/speaker-diarization-3.1`` with an access token (``HF_TOKEN``);
- a segmentation model alone: the local ``models/pyannote-segmentation-3.0`` directory (the hub's layout:
  ``config.yaml`` and ``pytorch_model.bin``), a checkpoint file, or the hub name ``pyannote/segmentation-3.0``
  with a token. coder then builds pyannote's ``SpeakerDiarization`` pipeline around it (the parameters of
  speaker-diarization-3.1: centroid-linkage clustering) with a speaker-embedding model:
  ``CODER_PYANNOTE_EMBEDDING`` (a hub name, or a CAM++ state dict), else the hub's default
  (``pyannote/wespeaker-voxceleb-resnet34-LM``) where a token is set and the hub is not switched off
  (``HF_HUB_OFFLINE``), else the CAM++ weights of the model store, wrapped as a pyannote ``Model``.

Without a setting: the hub pipeline when a token is set, else the local segmentation-3.0 directory when the model
store has it. Speakers' voices are always CAM++ voiceprints of their turns (``embeddings``), whatever the pipeline
embedded with, so they compare with enrolled voiceprints. pyannote.audio is an optional extra:
``pip install 'coder[pyannote]'``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from coder.pipeline.audio import SAMPLE_RATE

from coder.pipeline.diarize import embeddings as voiceprints
from coder.pipeline.diarize.types import Diarization, DiarizerUnavailable, Turn, speaker_label

log = logging.getLogger(__name__)

DEFAULT_MODEL = "pyannote/speaker-diarization-3.1"
SEGMENTATION_HUB_NAME = "pyannote/segmentation-3.0"
HUB_EMBEDDING = "pyannote/wespeaker-voxceleb-resnet34-LM"  # speaker-diarization-3.1's
LOCAL_SEGMENTATION = "pyannote-segmentation-3.0"
# speaker-diarization-3.1's parameters (its config.yaml); the threshold is on cosine distance
CLUSTERING = {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7045654963945799}
CAMPPLUS_THRESHOLD = CLUSTERING["threshold"]  # set for WeSpeaker and not yet retuned for CAM++ (docs/diarization.md)


def _models_dir() -> Path:
    from coder.pipeline.diarize import builtin

    return builtin.models_dir()


def model_setting(model: str | None = None) -> str:
    name = model or os.environ.get("CODER_PYANNOTE_MODEL")
    if name:
        return name
    local = _models_dir() / LOCAL_SEGMENTATION
    if not token_setting() and (local / "pytorch_model.bin").is_file():
        return str(local)
    return DEFAULT_MODEL


def token_setting(token: str | None = None) -> str | None:
    return token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGINGFACE_TOKEN")


def kind(name: str) -> str:
    """``segmentation`` when ``name`` is a segmentation model alone, ``pipeline`` when a whole pipeline."""
    local = Path(name).expanduser()
    if local.exists():
        config = local / "config.yaml" if local.is_dir() else local
        if local.is_dir() and not config.is_file():
            return "segmentation" if (local / "pytorch_model.bin").is_file() else "pipeline"
        if config.suffix in (".yaml", ".yml") and config.is_file():
            import yaml

            try:
                content = yaml.safe_load(config.read_text()) or {}
            except (yaml.YAMLError, UnicodeDecodeError):
                content = {}
            return "pipeline" if isinstance(content, dict) and "pipeline" in content else "segmentation"
        return "segmentation"
    return "segmentation" if name.rstrip("/").split("/")[-1].startswith("segmentation") else "pipeline"


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
        if kind(name) == "segmentation":
            checkpoint = local / "pytorch_model.bin" if local.is_dir() else local
            if not checkpoint.is_file():
                raise DiarizerUnavailable(f"{local}: neither a pyannote pipeline (config.yaml with a pipeline) nor a "
                                          "segmentation model (pytorch_model.bin) there")
            _embedding_available(token)
            return
        config = local / "config.yaml" if local.is_dir() else local
        if not config.is_file():
            raise DiarizerUnavailable(f"{local}: no config.yaml of a pyannote pipeline there")
    elif "/" not in name or name.startswith((".", "/", "~")):
        raise DiarizerUnavailable(f"pyannote pipeline {name!r} is neither a local path nor a hub name")
    elif not token_setting(token):
        raise DiarizerUnavailable(f"the pyannote pipeline {name!r} is gated on the model hub: set HF_TOKEN, or "
                                  "set CODER_PYANNOTE_MODEL to a local pipeline or segmentation-3.0 directory")
    elif kind(name) == "segmentation":
        _embedding_available(token)


def _embedding_available(token: str | None) -> None:
    setting = embedding_setting(token)
    if setting is None:
        from coder.pipeline.diarize import campplus

        try:
            campplus.resolve(None, _models_dir())
        except campplus.EmbeddingUnavailable:
            raise DiarizerUnavailable(
                "the pyannote diariser has a segmentation model but no speaker-embedding model: run `make models` "
                "(CAM++ into models/), set CODER_EMBEDDING_MODEL to CAM++ weights, or set CODER_PYANNOTE_EMBEDDING "
                "(a hub name needs HF_TOKEN)") from None


def embedding_setting(token: str | None = None) -> str | None:
    """The embedding model a segmentation-only setting is paired with; None: CAM++ from the model store."""
    explicit = os.environ.get("CODER_PYANNOTE_EMBEDDING")
    if explicit:
        return explicit
    if token_setting(token) and os.environ.get("HF_HUB_OFFLINE", "0") in ("", "0", "false", "False"):
        return HUB_EMBEDDING
    return None


def campplus_model(weights: str | Path | None = None):
    """CAM++ (coder.pipeline.diarize.campplus) as a pyannote.audio ``Model``, for ``SpeakerDiarization``: it
    embeds the samples of each chunk where the chunk's mask says the speaker talks."""
    import torch
    from pyannote.audio import Model
    from pyannote.audio.core.task import Problem, Resolution, Specifications

    from coder.pipeline.diarize import campplus

    loaded = campplus.SpeakerEmbedding.load(weights, _models_dir(), "cpu")

    class CamPlusPlus(Model):
        def __init__(self, net):
            super().__init__(sample_rate=SAMPLE_RATE, num_channels=1)
            self.net = net
            self.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK,
                                                 duration=10.0)

        @property
        def dimension(self) -> int:
            return self.net.xvector.dense.linear.out_channels

        def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
            out = []
            for i in range(waveforms.shape[0]):
                x = waveforms[i, 0]
                if weights is not None:
                    frames = weights[i]
                    idx = torch.arange(x.shape[0], device=x.device) * frames.shape[0] // x.shape[0]
                    x = x[frames[idx] > 0.5]
                if x.shape[0] < campplus.SpeakerEmbedding.min_samples:
                    if weights is None:  # pyannote probes the shortest input this way
                        raise ValueError("too short to embed")
                    out.append(torch.full((self.dimension,), float("nan"), device=waveforms.device))
                    continue
                feats = campplus.fbank(x.detach().cpu().numpy()).to(waveforms.device)
                out.append(self.net(feats[None])[0])
            return torch.stack(out)

    return CamPlusPlus(loaded.net).eval()


def _is_campplus(setting: str) -> bool:
    from coder.pipeline.diarize import campplus

    path = Path(setting).expanduser()
    return path.suffix == ".pt" and path.is_file() or (path / campplus.WEIGHTS.name).is_file()


def _segmentation_pipeline(name: str, token: str | None):
    """pyannote's SpeakerDiarization around a segmentation model, with the embedding ``embedding_setting`` names."""
    import inspect

    from pyannote.audio.pipelines import SpeakerDiarization

    local = Path(name).expanduser()
    segmentation = str(local / "pytorch_model.bin" if local.is_dir() else local) if local.exists() else name
    setting = embedding_setting(token)
    embedding, threshold = setting, CLUSTERING["threshold"]  # a hub name or a local pyannote checkpoint
    parameters = inspect.signature(SpeakerDiarization).parameters
    kwargs = {"segmentation": segmentation, "clustering": "AgglomerativeClustering", "embedding_exclude_overlap": True,
              "segmentation_batch_size": 8, "embedding_batch_size": 32,
              ("token" if "token" in parameters else "use_auth_token"): token}
    if "plda" in parameters:
        # pyannote.audio 4 wants a PLDA even where agglomerative clustering does not use it
        from pyannote.audio.core.plda import PLDA

        kwargs["plda"] = PLDA.__new__(PLDA)
    try:
        if embedding is None or _is_campplus(embedding):
            embedding, threshold = campplus_model(embedding), CAMPPLUS_THRESHOLD
        try:
            pipeline = SpeakerDiarization(embedding=embedding, **kwargs)
        except Exception as exc:
            if not isinstance(embedding, str) or os.environ.get("CODER_PYANNOTE_EMBEDDING"):
                raise
            # the hub's default embedding could not be had: CAM++ from the model store
            log.warning("pyannote: %s could not be loaded (%s); using CAM++ from the model store", embedding,
                        " ".join(str(exc).split())[:200])
            pipeline = SpeakerDiarization(embedding=campplus_model(None), **kwargs)
            threshold = CAMPPLUS_THRESHOLD
    except Exception as exc:
        raise DiarizerUnavailable(f"could not build a pyannote pipeline around {name!r}: "
                                  f"{' '.join(str(exc).split())[:300]}") from None
    pipeline.instantiate({"segmentation": {"min_duration_off": 0.0},
                          "clustering": {**CLUSTERING, "threshold": threshold}})
    return pipeline


@lru_cache(maxsize=2)
def _pipeline(name: str, token: str | None, device: str):
    import inspect

    import torch
    from pyannote.audio import Pipeline

    if kind(name) == "segmentation":
        pipeline = _segmentation_pipeline(name, token)
        pipeline.to(torch.device(device))
        return pipeline
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
        annotation, _their_embeddings = _unpack(output)
        labels = sorted(annotation.labels())
        rename = {label: speaker_label(i) for i, label in enumerate(labels)}
        turns = [Turn(round(seg.start, 3), round(seg.end, 3), rename[label])
                 for seg, _track, label in annotation.itertracks(yield_label=True) if seg.duration > 0]
        turns.sort(key=lambda t: (t.start, t.end))
        warnings = []
        try:  # voices on the voiceprints' scale, not the pipeline's own embedding's
            vectors = voiceprints.turn_embeddings(audio, turns)
        except voiceprints.EncoderUnavailable as exc:
            vectors = {}
            warnings.append(f"no voiceprints of the speakers: {exc}")
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
