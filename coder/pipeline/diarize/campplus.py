"""CAM++ speaker embeddings (3D-Speaker, Apache-2.0) in plain torch: 192-d voiceprints of a stretch of speech.

The network is 3D-Speaker's ``CAMPPlus`` (a 2-D convolutional front end, then densely connected TDNN blocks with
context-aware masking, statistics pooling and a linear layer), built here with its layer names so that the
published state dict (``speech_campplus_sv_zh_en_16k-common_advanced``) loads as it is. Its input is
3D-Speaker's: Kaldi-compatible 80-band log mel filterbanks (25 ms Povey windows every 10 ms, pre-emphasis
0.97, DC offset removed, no dither) with the mean over the clip subtracted; ``fbank`` computes them with torch
alone, as torchaudio.compliance.kaldi.fbank does (tests/test_diarize_pyannote.py compares the two).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from coder.pipeline.memory import give_back

SAMPLE_RATE = 16000
WEIGHTS = Path("campplus-sv-zh-en-16k") / "campplus_cn_en_common.pt"
HUB_NAME = "iic/speech_campplus_sv_zh_en_16k-common_advanced"  # 3D-Speaker's published model on ModelScope
N_MELS = 80
FRAME, HOP, N_FFT = 400, 160, 512
EMBEDDING_SIZE = 192


class EmbeddingUnavailable(Exception):
    pass


def resolve(model: str | Path | None = None, models_dir: Path | None = None) -> Path:
    """The state dict: an explicit path (the file, or a directory holding it as the hub's snapshot does) or hub
    name, ``CODER_EMBEDDING_MODEL``, the local model store, then the published model from its hub (ModelScope,
    ``HUB_NAME``, through the modelscope package where it is installed)."""
    name = str(model or os.environ.get("CODER_EMBEDDING_MODEL") or "")
    if name and name != HUB_NAME and not _looks_like_hub_name(name):
        path = _weights_in(Path(name).expanduser())
        if path is None:
            raise EmbeddingUnavailable(f"the builtin diariser's speaker-embedding model (CAM++) is missing at "
                                       f"{name}; run `make models` or set CODER_EMBEDDING_MODEL")
        return path
    local = _weights_in(models_dir / WEIGHTS.parent) if models_dir is not None and not name else None
    if local is not None:
        return local
    hub = name or HUB_NAME
    try:
        from modelscope import snapshot_download

        found = _weights_in(Path(snapshot_download(hub)))
        reason = f"no {WEIGHTS.name} in {hub}" if found is None else ""
    except Exception as exc:  # no modelscope package, no network
        found, reason = None, "modelscope not installed" if isinstance(exc, ImportError) else type(exc).__name__
    if found is None:
        where = f"not in {models_dir / WEIGHTS.parent}, " if models_dir is not None and not name else ""
        raise EmbeddingUnavailable(f"the builtin diariser's speaker-embedding model (CAM++) is missing ({where}"
                                   f"{hub} from ModelScope: {reason}); run `make models` or set "
                                   f"CODER_EMBEDDING_MODEL")
    return found


def _weights_in(path: Path) -> Path | None:
    if path.is_dir() and (path / WEIGHTS.name).is_file():
        return path / WEIGHTS.name
    return path if path.is_file() else None


def _looks_like_hub_name(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).suffix \
        and not Path(name).expanduser().exists()


@lru_cache(maxsize=1)
def _mel_banks() -> np.ndarray:
    """Kaldi's triangular mel filters (20 Hz to Nyquist), (80, 257) with the Nyquist bin zero, as torchaudio."""
    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    low, high = mel(20.0), mel(SAMPLE_RATE / 2)
    delta = (high - low) / (N_MELS + 1)
    edges = low + delta * np.arange(N_MELS + 2)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bins = mel(SAMPLE_RATE / N_FFT * np.arange(N_FFT // 2))[None, :]
    up, down = (bins - left) / (centre - left), (right - bins) / (right - centre)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1))).astype(np.float32)


def fbank(samples: np.ndarray):
    """(frames, 80) log mel filterbank of a 16 kHz clip (torchaudio.compliance.kaldi.fbank's defaults, no
    dither), mean-normalised over the clip as 3D-Speaker does."""
    import torch

    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    if len(x) < FRAME:
        return torch.zeros((0, N_MELS))
    frames = x.unfold(0, FRAME, HOP)
    frames = frames - frames.mean(dim=1, keepdim=True)
    frames = frames - 0.97 * torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = frames * torch.hann_window(FRAME, periodic=False).pow(0.85)
    power = torch.fft.rfft(frames, n=N_FFT).abs().pow(2.0)
    feats = torch.clamp(power @ torch.from_numpy(_mel_banks()).T, min=torch.finfo(torch.float32).eps).log()
    return feats - feats.mean(dim=0, keepdim=True)


def build(embedding_size: int = EMBEDDING_SIZE, feat_dim: int = N_MELS, growth: int = 32, bn_size: int = 4,
          init_channels: int = 128, blocks=((12, 3, 1), (24, 3, 2), (16, 3, 2)), m_channels: int = 32):
    """3D-Speaker's CAMPPlus with its layer names (speakerlab/models/campplus/DTDNN.py and layers.py)."""
    from collections import OrderedDict

    import torch
    from torch import nn
    import torch.nn.functional as F

    def bn_relu(channels):
        return nn.Sequential(OrderedDict([("batchnorm", nn.BatchNorm1d(channels)), ("relu", nn.ReLU())]))

    class BasicResBlock(nn.Module):
        def __init__(self, in_planes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = nn.Sequential()
            if stride != 1 or in_planes != planes:
                self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False),
                                              nn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(out + self.shortcut(x))

    class FCM(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, m_channels, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(m_channels)
            self.layer1 = nn.Sequential(BasicResBlock(m_channels, m_channels, 2), BasicResBlock(m_channels, m_channels))
            self.layer2 = nn.Sequential(BasicResBlock(m_channels, m_channels, 2), BasicResBlock(m_channels, m_channels))
            self.conv2 = nn.Conv2d(m_channels, m_channels, 3, stride=(2, 1), padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(m_channels)
            self.out_channels = m_channels * (feat_dim // 8)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
            out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
            return out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3])

    class TDNNLayer(nn.Module):
        def __init__(self, cin, cout, kernel, stride):
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
            self.nonlinear = bn_relu(cout)

        def forward(self, x):
            return self.nonlinear(self.linear(x))

    class CAMLayer(nn.Module):
        """A local convolution scaled by a gate from the clip's mean and its 100-frame segments' means."""

        def __init__(self, bn_channels, cout, kernel, dilation, reduction=2):
            super().__init__()
            self.linear_local = nn.Conv1d(bn_channels, cout, kernel, padding=(kernel - 1) // 2 * dilation,
                                          dilation=dilation, bias=False)
            self.linear1 = nn.Conv1d(bn_channels, bn_channels // reduction, 1)
            self.relu = nn.ReLU()
            self.linear2 = nn.Conv1d(bn_channels // reduction, cout, 1)

        def forward(self, x):
            seg = F.avg_pool1d(x, kernel_size=100, stride=100, ceil_mode=True)
            seg = seg.unsqueeze(-1).expand(*seg.shape, 100).reshape(*seg.shape[:-1], -1)[..., :x.shape[-1]]
            context = x.mean(-1, keepdim=True) + seg
            return self.linear_local(x) * torch.sigmoid(self.linear2(self.relu(self.linear1(context))))

    class CAMDenseTDNNLayer(nn.Module):
        def __init__(self, cin, cout, bn_channels, kernel, dilation):
            super().__init__()
            self.nonlinear1 = bn_relu(cin)
            self.linear1 = nn.Conv1d(cin, bn_channels, 1, bias=False)
            self.nonlinear2 = bn_relu(bn_channels)
            self.cam_layer = CAMLayer(bn_channels, cout, kernel, dilation)

        def forward(self, x):
            return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))

    class CAMDenseTDNNBlock(nn.ModuleList):
        def __init__(self, layers, cin, kernel, dilation):
            super().__init__()
            for i in range(layers):
                self.add_module(f"tdnnd{i + 1}",
                                CAMDenseTDNNLayer(cin + i * growth, growth, bn_size * growth, kernel, dilation))

        def forward(self, x):
            for layer in self:
                x = torch.cat([x, layer(x)], dim=1)
            return x

    class TransitLayer(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.nonlinear = bn_relu(cin)
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)

        def forward(self, x):
            return self.linear(self.nonlinear(x))

    class StatsPool(nn.Module):
        def forward(self, x):
            return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)

    class DenseLayer(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)
            # 3D-Speaker's config "batchnorm_": batch norm without affine parameters, no ReLU
            self.nonlinear = nn.Sequential(OrderedDict([("batchnorm", nn.BatchNorm1d(cout, affine=False))]))

        def forward(self, x):
            return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))

    class CAMPPlus(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = FCM()
            channels = self.head.out_channels
            self.xvector = nn.Sequential(OrderedDict([("tdnn", TDNNLayer(channels, init_channels, 5, 2))]))
            channels = init_channels
            for i, (layers, kernel, dilation) in enumerate(blocks):
                self.xvector.add_module(f"block{i + 1}", CAMDenseTDNNBlock(layers, channels, kernel, dilation))
                channels += layers * growth
                self.xvector.add_module(f"transit{i + 1}", TransitLayer(channels, channels // 2))
                channels //= 2
            self.xvector.add_module("out_nonlinear", bn_relu(channels))
            self.xvector.add_module("stats", StatsPool())
            self.xvector.add_module("dense", DenseLayer(channels * 2, embedding_size))

        def forward(self, feats):
            """(batch, frames, 80) filterbanks → (batch, embedding_size)."""
            return self.xvector(self.head(feats.permute(0, 2, 1)))

    return CAMPPlus()


class SpeakerEmbedding:
    """``embed(clips)``: one unit-length voiceprint per clip of 16 kHz samples."""

    min_samples = FRAME + 8 * HOP  # the network needs a few frames after its three strides of 2
    freeze_from = 48  # clips in one call from which the frozen network pays for its tracing (about 1 s of CPU)
    # Clips per network call: the front end's activations take about 3 MB per second of clip, so a whole hour's
    # equal-length clips at once (thousands) would take many gigabytes.
    batch_size = 32

    def __init__(self, net, device: str = "cpu", frozen: bool = True):
        self.net = net.eval().to(device)
        self.device = device
        self.freeze = frozen and device == "cpu"
        self._frozen = None

    @classmethod
    def load(cls, model: str | Path | None = None, models_dir: Path | None = None, device: str = "cpu"):
        import torch

        path = resolve(model, models_dir)
        state = torch.load(path, map_location="cpu", weights_only=True)
        size = state["xvector.dense.linear.weight"].shape[0] if "xvector.dense.linear.weight" in state else None
        if size is None:
            raise EmbeddingUnavailable(f"{path} is not a CAM++ state dict")
        net = build(embedding_size=size)
        net.load_state_dict(state)
        return cls(net, device)

    def embed(self, clips: list[np.ndarray], between: Callable[[], None] | None = None) -> np.ndarray:
        """(clips, dim); clips of equal length go through the network together, ``batch_size`` at a time;
        ``between`` is called after each batch (a caller's chance to stop)."""
        import torch

        out = np.zeros((len(clips), self.net.xvector.dense.linear.out_channels), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            if len(clip) < self.min_samples:
                raise ValueError(f"a clip of {len(clip)} samples is too short to embed ({self.min_samples} at least)")
            by_length.setdefault(len(clip), []).append(i)
        if self.freeze and self._frozen is None and len(clips) >= self.freeze_from:
            self._frozen = _frozen(self.net) or self.net
        run = self._frozen or self.net
        with torch.inference_mode():
            for same in by_length.values():
                for idx in (same[i:i + self.batch_size] for i in range(0, len(same), self.batch_size)):
                    feats = torch.stack([fbank(clips[i]) for i in idx]).to(self.device)
                    emb = run(feats).cpu().numpy()
                    out[idx] = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-8)
                    del feats
                    give_back()  # the activations' heap, before the next batch (coder.pipeline.memory)
                    if between is not None:
                        between()
        return out


def _frozen(net):
    """The network traced and frozen for inference on the CPU (batch norms folded into the convolutions,
    weights packed for oneDNN): about 1.4 times less CPU per clip, the same embeddings to a cosine of 1 - 1e-6
    (docs/benchmarks.md); None where tracing fails, and the network runs as it is."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes read in CAMLayer; checked in the tests
            example = torch.randn(2, 200, N_MELS, generator=torch.Generator().manual_seed(0))  # not the global RNG
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, example,
                                                                                     check_trace=False)))
    except Exception:  # an unusual torch build: the eager network gives the same embeddings
        return None
