"""Resemblyzer's voice encoder, for the ``dvector`` diariser alone (voiceprints use CAM++: ``embeddings``).

The voice encoder is Resemblyzer's (a 3-layer LSTM over 40-band mel frames,
trained for speaker verification, GE2E loss). Its weights ship inside the
``resemblyzer`` package on the package index, so nothing is downloaded at run
time. coder runs the network itself rather than through Resemblyzer's
``VoiceEncoder`` so that the mel spectrogram of a whole recording is computed
once and many windows are embedded in one batch, and so that importing it
does not pull in Resemblyzer's own WebRTC VAD, which coder does not use.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from coder.pipeline.audio import SAMPLE_RATE

HOP = 160  # 10 ms mel frames
N_FFT = 400  # 25 ms window
N_MELS = 40
WINDOW_FRAMES = 160  # 1.6 s: the length the encoder was trained on
TARGET_DBFS = -30.0  # Resemblyzer's training normalisation


class EncoderUnavailable(Exception):
    pass


def weights_path() -> Path:
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable("the dvector diariser needs the 'resemblyzer' package "
                                 "(pip install resemblyzer); it carries the voice encoder's weights")
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.is_file():
        raise EncoderUnavailable(f"voice encoder weights missing at {path}; reinstall resemblyzer")
    return path


def _network():
    import torch
    from torch import nn

    class VoiceEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.clamp(torch.norm(raw, dim=1, keepdim=True), min=1e-8)

    net = VoiceEncoder()
    state = torch.load(weights_path(), map_location="cpu", weights_only=False)["model_state"]
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("similarity_")})
    return net.eval()


@lru_cache(maxsize=2)
def encoder(device: str = "cpu"):
    return _network().to(device)


def mel_frames(audio: np.ndarray) -> np.ndarray:
    """Power mel spectrogram, one row per 10 ms (not log-compressed: the encoder was trained on it)."""
    import librosa

    if len(audio) < N_FFT:
        audio = np.pad(audio, (0, N_FFT - len(audio)))
    mel = librosa.feature.melspectrogram(y=audio.astype(np.float32), sr=SAMPLE_RATE, n_fft=N_FFT,
                                         hop_length=HOP, n_mels=N_MELS)
    return mel.astype(np.float32).T


def embed_windows(audio: np.ndarray, windows: list[tuple[float, float]], device: str = "cpu",
                  batch_size: int = 256) -> np.ndarray:
    """One unit-length embedding per (start, end) window, in seconds.

    Each window is loudness-normalised to the encoder's training level, which
    for a power spectrogram is a per-window scale factor. Windows shorter than
    the encoder's 1.6 s are embedded at their own length.
    """
    import torch

    if not windows:
        return np.zeros((0, 256), dtype=np.float32)
    mel = mel_frames(audio)
    net = encoder(device)
    target = 10 ** (TARGET_DBFS / 20)
    chunks, lengths = [], []
    for start, end in windows:
        a = max(0, int(round(start * 100)))
        b = min(len(mel), max(a + 1, int(round(end * 100))))
        samples = audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        rms = float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0
        gain = (target / rms) ** 2 if rms > 1e-6 else 1.0
        chunks.append(mel[a:b] * gain)
        lengths.append(b - a)
    out = np.zeros((len(windows), 256), dtype=np.float32)
    order = np.argsort(lengths)  # equal lengths batch together without padding
    with torch.inference_mode():
        i = 0
        while i < len(order):
            n = lengths[order[i]]
            j = i
            while j < len(order) and lengths[order[j]] == n and j - i < batch_size:
                j += 1
            idx = order[i:j]
            batch = torch.from_numpy(np.stack([chunks[k] for k in idx])).to(device)
            out[idx] = net(batch).cpu().numpy()
            i = j
    return out
