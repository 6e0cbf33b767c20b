"""Voiceprints: the CAM++ embedding of a speaker's speech, which roles and therapist voiceprints compare.

Every diariser hands back its speakers' voices on this one scale (CAM++, 192-d, unit length), whatever it
clustered with, so that a voiceprint enrolled from one session can be compared with any other session.
Voiceprints made before by Resemblyzer (256-d) are told apart by their length (``model_of``) and never
compared with CAM++ ones (``check_comparable``): bench/voices.py measured CAM++ far better at telling
voices apart (docs/diarization.md, "Therapist voiceprints").
"""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from coder.pipeline.audio import SAMPLE_RATE
from coder.pipeline.spans import merged, minus

MODEL = "CAM++"
DIMENSION = 192
MODELS_BY_DIMENSION = {192: "CAM++", 256: "Resemblyzer"}  # Resemblyzer: coder's voiceprints before CAM++
PIECE_S = 6.0  # a speaker's speech is embedded in pieces of this length, and the pieces averaged
MIN_SPEECH_S = 0.5


class EncoderUnavailable(Exception):
    pass


class VoiceModelMismatch(ValueError):
    pass


def default_device() -> str:
    """``CODER_DEVICE`` (cpu or cuda) if set, else CUDA where PyTorch sees a GPU."""
    import torch

    return os.environ.get("CODER_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")


@lru_cache(maxsize=2)
def encoder(model: str | None = None, device: str = "cpu"):
    """The CAM++ network (``campplus.SpeakerEmbedding``): ``model``, ``CODER_EMBEDDING_MODEL`` or the model store."""
    from coder.pipeline.diarize import campplus

    try:
        return campplus.SpeakerEmbedding.load(model, _store(), device)
    except campplus.EmbeddingUnavailable as exc:
        raise EncoderUnavailable(f"voiceprints need the CAM++ weights: {exc}") from None


def _store():
    """The first model store holding CAM++ (``modelstore.store_with``, as the builtin diariser looks)."""
    from coder.pipeline.diarize import campplus
    from coder.pipeline.modelstore import store_with

    return store_with(campplus.WEIGHTS)


def model_of(vector) -> str:
    """Which network made a stored voice vector, told by its length."""
    return MODELS_BY_DIMENSION.get(len(vector), f"an unknown model ({len(vector)}-d)")


def check_comparable(voiceprint, voices: dict[str, np.ndarray]) -> None:
    """Raise ``VoiceModelMismatch`` when a voiceprint and the speakers' voices come from different networks."""
    theirs = {model_of(v) for v in voices.values()}
    mine = model_of(voiceprint)
    if theirs - {mine}:
        raise VoiceModelMismatch(
            f"the voiceprint was made by {mine} and the speakers' voices by {', '.join(sorted(theirs))}; voices "
            f"from different models cannot be compared (re-enrol the therapist, or re-run the session)")


def embed_speech(audio: np.ndarray, regions: list[tuple[float, float]], model: str | None = None,
                 device: str | None = None, net=None) -> np.ndarray:
    """One unit-length CAM++ voiceprint of the speech in ``regions`` (seconds): the regions joined, cut into
    ``PIECE_S`` pieces (a short last piece joins the one before), each embedded, the mean normalised."""
    clips = [audio[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)] for a, b in regions if b > a]
    speech = np.concatenate(clips) if clips else np.zeros(0, dtype=np.float32)
    if len(speech) < MIN_SPEECH_S * SAMPLE_RATE:
        raise ValueError("too little speech for a voiceprint (at least half a second is needed)")
    net = net or encoder(model, device or default_device())
    piece = int(PIECE_S * SAMPLE_RATE)
    cuts = list(range(0, len(speech), piece))
    if len(cuts) > 1 and len(speech) - cuts[-1] < piece // 2:
        cuts.pop()
    pieces = [speech[a:b] for a, b in zip(cuts, cuts[1:] + [len(speech)])]
    mean = net.embed(pieces).mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-8)


def voiceprint(audio: np.ndarray, regions: list[tuple[float, float]] | None = None, device: str | None = None,
               net=None) -> np.ndarray:
    """A speaker's voiceprint over ``regions`` (the whole clip if none), unit length."""
    if regions is None:
        regions = [(0.0, len(audio) / SAMPLE_RATE)]
    return embed_speech(np.asarray(audio, dtype=np.float32), regions, device=device, net=net)


def turn_embeddings(samples: np.ndarray, turns: list, net=None) -> dict[str, np.ndarray]:
    """Each speaker's voiceprint over their turns (``Turn``s of coder.pipeline.diarize), overlapped speech left
    out where enough remains; speakers with too little speech are left out."""
    out = {}
    for label in sorted({t.speaker for t in turns}):
        own = merged((t.start, t.end) for t in turns if t.speaker == label)
        alone = minus(own, merged((t.start, t.end) for t in turns if t.speaker != label))
        regions = alone if sum(b - a for a, b in alone) >= MIN_SPEECH_S else own
        try:
            out[label] = voiceprint(samples, regions, net=net)
        except ValueError:
            pass
    return out


