"""pyannote's segmentation-3.0 in plain torch: who speaks in each 17 ms frame of a 10 s window.

The network is PyanNet (SincNet → 4-layer bidirectional LSTM → 2 linear layers → 7 powerset classes: nobody,
one of three local speakers, or one of their three pairs). Its layers are standard torch, so coder builds it
itself and loads the published checkpoint without pyannote.audio (which needs torchaudio, and torchaudio has
no build for the main environment's torch). The layer names match the checkpoint's, and
tests/test_diarize_pyannote.py checks the frame outputs against pyannote.audio's ``Model.from_pretrained``.

The checkpoint is a pytorch-lightning file that names three pyannote.audio classes (the task's
specifications); it is read with ``weights_only`` and placeholders for those classes, so nothing in it runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

HUB_NAME = "pyannote/segmentation-3.0"
CHECKPOINT = "pytorch_model.bin"
SAMPLE_RATE = 16000
# The frames of SincNet's three convolution + max-pool stages (pyannote.audio's SincNet.num_frames).
_KERNELS, _STRIDES = (251, 3, 5, 3, 5, 3), (10, 3, 1, 3, 1, 3)
_TASK_CLASSES = ("Specifications", "Problem", "Resolution")


class SegmentationUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Geometry:
    """Where the model's frames lie in its window."""

    duration: float  # seconds per window the model was trained on
    step: float  # seconds between frames
    receptive: float  # seconds each frame sees

    def frame_centre(self, i: np.ndarray | int) -> np.ndarray:
        return np.asarray(i) * self.step + self.receptive / 2


def num_frames(num_samples: int) -> int:
    n = num_samples
    for k, s in zip(_KERNELS, _STRIDES):
        n = 1 + (n - k) // s
    return n


def geometry(duration: float = 10.0) -> Geometry:
    step, receptive = 1, 1
    for k, s in zip(_KERNELS, _STRIDES):
        receptive += (k - 1) * step
        step *= s
    return Geometry(duration, step / SAMPLE_RATE, receptive / SAMPLE_RATE)


def powerset_mapping(num_speakers: int, max_per_frame: int) -> np.ndarray:
    """(classes, speakers): 1 where a speaker belongs to a powerset class; pyannote.audio's class order
    ({}, {0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2} for three speakers, two at most)."""
    rows = [set(c) for size in range(max_per_frame + 1) for c in combinations(range(num_speakers), size)]
    return np.array([[1.0 if j in row else 0.0 for j in range(num_speakers)] for row in rows], dtype=np.float32)


def resolve(model: str | Path | None = None, models_dir: Path | None = None) -> Path:
    """The checkpoint file: an explicit path (a file or a hub-layout directory), ``CODER_SEGMENTATION_MODEL``,
    the local model store, then the hub name through huggingface_hub (which needs an access token there)."""
    name = str(model or os.environ.get("CODER_SEGMENTATION_MODEL") or "")
    candidates = []
    if name and name != HUB_NAME:
        candidates.append(Path(name).expanduser())
    elif models_dir is not None:
        candidates.append(models_dir / "pyannote-segmentation-3.0")
    for path in candidates:
        if path.is_dir() and (path / CHECKPOINT).is_file():
            return path / CHECKPOINT
        if path.is_file():
            return path
    if name and name != HUB_NAME and not _looks_like_hub_name(name):
        raise SegmentationUnavailable(f"no segmentation checkpoint at {name}")
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(name or HUB_NAME, CHECKPOINT, token=os.environ.get("HF_TOKEN") or None))
    except Exception as exc:  # no network, no token, gated repository
        raise SegmentationUnavailable(
            f"the builtin diariser's segmentation model is missing ({type(exc).__name__} fetching "
            f"{name or HUB_NAME}); run `make models` or set CODER_SEGMENTATION_MODEL") from None


def _looks_like_hub_name(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).suffix


def read_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    class Placeholder:
        def __init__(self, *args):
            self.args = args

        def __setstate__(self, state):
            self.state = state

    allowed = [torch.torch_version.TorchVersion] + [
        (type(name, (Placeholder,), {}), f"pyannote.audio.core.task.{name}") for name in _TASK_CLASSES]
    with torch.serialization.safe_globals(allowed):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise SegmentationUnavailable(f"{path} is not a pyannote segmentation checkpoint")
    return ckpt


def build(hparams: dict[str, Any], num_classes: int):
    """PyanNet with pyannote.audio's layer names, so that its state dict loads as it is."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    lstm_p = {"hidden_size": 128, "num_layers": 2, "bidirectional": True, "monolithic": True,
              **hparams.get("lstm", {})}
    linear_p = {"hidden_size": 128, "num_layers": 2, **hparams.get("linear", {})}
    stride = hparams.get("sincnet", {}).get("stride", 10)
    if not lstm_p["monolithic"]:
        raise SegmentationUnavailable("only PyanNet with a monolithic LSTM is supported")

    class SincFilterbank(nn.Module):
        """asteroid-filterbanks' ParamSincFB: 40 band-pass pairs (cosine and sine) of 251 taps."""

        def __init__(self, n_filters=80, kernel_size=251, sample_rate=SAMPLE_RATE, min_low_hz=50, min_band_hz=50):
            super().__init__()
            self.sample_rate, self.min_low_hz, self.min_band_hz = sample_rate, min_low_hz, min_band_hz
            self.kernel_size, half = kernel_size, kernel_size // 2
            self.low_hz_ = nn.Parameter(torch.zeros(n_filters // 2, 1))
            self.band_hz_ = nn.Parameter(torch.zeros(n_filters // 2, 1))
            self.register_buffer("window_", torch.from_numpy(np.hamming(kernel_size)[:half]).float())
            self.register_buffer("n_", 2 * np.pi * (torch.arange(-half, 0.0).view(1, -1) / sample_rate))

        def _filters(self, low, high, band, sine: bool):
            ft_low, ft_high = low @ self.n_, high @ self.n_
            if sine:
                left = ((torch.cos(ft_low) - torch.cos(ft_high)) / (self.n_ / 2)) * self.window_
                centre, right = torch.zeros_like(band.view(-1, 1)), -torch.flip(left, dims=[1])
            else:
                left = ((torch.sin(ft_high) - torch.sin(ft_low)) / (self.n_ / 2)) * self.window_
                centre, right = 2 * band.view(-1, 1), torch.flip(left, dims=[1])
            bandpass = torch.cat([left, centre, right], dim=1) / (2 * band[:, None])
            return bandpass.view(-1, 1, self.kernel_size)

        def forward(self):
            low = self.min_low_hz + torch.abs(self.low_hz_)
            high = torch.clamp(low + self.min_band_hz + torch.abs(self.band_hz_), self.min_low_hz,
                               self.sample_rate / 2)
            band = (high - low)[:, 0]
            return torch.cat([self._filters(low, high, band, False), self._filters(low, high, band, True)])

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.filterbank = SincFilterbank()

        def forward(self, x):
            return F.conv1d(x, self.filterbank(), stride=stride)

    class SincNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.wav_norm1d = nn.InstanceNorm1d(1, affine=True)
            self.conv1d = nn.ModuleList([Encoder(), nn.Conv1d(80, 60, 5), nn.Conv1d(60, 60, 5)])
            self.pool1d = nn.ModuleList([nn.MaxPool1d(3, stride=3) for _ in range(3)])
            self.norm1d = nn.ModuleList([nn.InstanceNorm1d(n, affine=True) for n in (80, 60, 60)])

        def forward(self, x):
            x = self.wav_norm1d(x)
            for i, (conv, pool, norm) in enumerate(zip(self.conv1d, self.pool1d, self.norm1d)):
                x = conv(x)
                if i == 0:
                    x = torch.abs(x)  # as pyannote.audio (SincNet issue #4)
                x = F.leaky_relu(norm(pool(x)))
            return x

    class PyanNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.sincnet = SincNet()
            self.lstm = nn.LSTM(60, lstm_p["hidden_size"], num_layers=lstm_p["num_layers"],
                                bidirectional=lstm_p["bidirectional"], batch_first=True)
            width = lstm_p["hidden_size"] * (2 if lstm_p["bidirectional"] else 1)
            sizes = [width] + [linear_p["hidden_size"]] * linear_p["num_layers"]
            self.linear = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
            self.classifier = nn.Linear(sizes[-1], num_classes)

        def forward(self, waveforms):
            """(batch, 1, samples) → (batch, frames, classes) log-probabilities of the powerset classes."""
            x, _ = self.lstm(self.sincnet(waveforms).transpose(1, 2))
            for layer in self.linear:
                x = F.leaky_relu(layer(x))
            return F.log_softmax(self.classifier(x), dim=-1)

    return PyanNet()


class Segmentation:
    """The loaded model: ``powerset(windows)`` gives log-probabilities, ``speakers(windows)`` the local
    speakers' activity per frame (multilabel, hard as pyannote.audio's ``Powerset.to_multilabel``)."""

    def __init__(self, net, mapping: np.ndarray, duration: float, device: str = "cpu"):
        import torch

        self.net = net.eval().to(device)
        self.device = device
        self.mapping = torch.from_numpy(mapping).to(device)
        self.num_speakers = mapping.shape[1]
        self.geometry = geometry(duration)
        self.window_samples = int(round(duration * SAMPLE_RATE))

    @classmethod
    def load(cls, model: str | Path | None = None, models_dir: Path | None = None, device: str = "cpu"):
        ckpt = read_checkpoint(resolve(model, models_dir))
        state = ckpt["state_dict"]
        num_classes = state["classifier.weight"].shape[0]
        spec = getattr(ckpt.get("pyannote.audio", {}).get("specifications"), "state", {}) or {}
        speakers = len(spec.get("classes", ())) or 3
        per_frame = spec.get("powerset_max_classes", 2)
        mapping = powerset_mapping(speakers, per_frame)
        if len(mapping) != num_classes:
            raise SegmentationUnavailable(f"the checkpoint has {num_classes} output classes, not the powerset "
                                          f"of {speakers} speakers ({len(mapping)})")
        net = build(ckpt["hyper_parameters"], num_classes)
        net.load_state_dict(state)
        return cls(net, mapping, float(spec.get("duration", 10.0)), device)

    def powerset(self, windows: np.ndarray):
        import torch

        with torch.inference_mode():
            x = torch.as_tensor(np.asarray(windows, dtype=np.float32), device=self.device)[:, None, :]
            return self.net(x)

    def speakers(self, windows: np.ndarray, soft: bool = False) -> np.ndarray:
        """(windows, frames, local speakers) activity in [0, 1]."""
        import torch

        logp = self.powerset(windows)
        probs = logp.exp() if soft else torch.nn.functional.one_hot(logp.argmax(-1), logp.shape[-1]).float()
        return (probs @ self.mapping).cpu().numpy()
