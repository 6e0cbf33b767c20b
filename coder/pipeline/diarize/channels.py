"""Diarisation of a recording with one microphone per person: the channels say who speaks."""
from __future__ import annotations

import numpy as np

from coder.pipeline.diarize.dvector import DvectorDiarizer
from coder.pipeline.diarize.embeddings import turn_embeddings
from coder.pipeline.diarize.types import SAMPLE_RATE, Diarization, Turn, speaker_label


def diarize_channels(channels: np.ndarray, frame_s: float = 0.1, dominance_db: float = 6.0,
                     min_turn_s: float = 0.3, vad_threshold: float = 0.3, pad_s: float = 0.1) -> Diarization:
    """Speaker turns of a recording with one speaker per channel (``channels``: shape (n, samples)).

    Speech is found on the mix; each 0.1 s frame of it goes to the loudest
    channel (loudness averaged over 0.5 s), and to every channel within
    ``dominance_db`` of it (overlapped speech: both people talking). Each mic also picks up the other person
    more quietly, which is why a channel must be close to the loudest, not
    merely active. Runs shorter than ``min_turn_s`` are absorbed by their
    neighbours. Channel i is SPEAKER_0i.
    """
    n, length = channels.shape
    mix = channels.mean(axis=0)
    duration = length / SAMPLE_RATE
    regions = DvectorDiarizer(vad_threshold=vad_threshold, pad_s=pad_s).speech(mix)
    hop = int(frame_s * SAMPLE_RATE)
    frames = length // hop
    if not regions or frames == 0:
        return Diarization([], {}, ["no speech found"] if length else ["empty recording"], "channels")
    energy = (channels[:, : frames * hop].reshape(n, frames, hop) ** 2).mean(axis=2)
    # Loudness over 0.5 s rather than per frame: syllables and pauses make two overlapping voices take turns
    # being loudest from one frame to the next.
    kernel = np.ones(5) / 5
    energy = np.stack([np.convolve(row, kernel, mode="same") for row in energy]) + 1e-12
    db = 10 * np.log10(energy)
    active = np.zeros((n, frames), dtype=bool)
    for s, e in regions:
        a, b = int(s / frame_s), min(frames, int(np.ceil(e / frame_s)))
        active[:, a:b] = db[:, a:b] >= db[:, a:b].max(axis=0) - dominance_db
    turns: list[Turn] = []
    min_frames = max(1, int(round(min_turn_s / frame_s)))
    for c in range(n):
        row = active[c].copy()
        # close short gaps, then drop short runs
        for value in (False, True):
            i = 0
            while i < frames:
                j = i
                while j < frames and row[j] == row[i]:
                    j += 1
                if row[i] == value and j - i < min_frames and i > 0 and j < frames:
                    row[i:j] = not value
                i = j
        i = 0
        while i < frames:
            if row[i]:
                j = i
                while j < frames and row[j]:
                    j += 1
                turns.append(Turn(round(i * frame_s, 3), round(min(j * frame_s, duration), 3), speaker_label(c)))
                i = j
            else:
                i += 1
    turns.sort(key=lambda t: (t.start, t.end))
    embeddings = {}
    for c in range(n):  # each voice from its own microphone
        embeddings.update(turn_embeddings(channels[c], [t for t in turns if t.speaker == speaker_label(c)]))
    warnings = [f"channel {c + 1} holds no speech of its own" for c in range(n)
                if not any(t.speaker == speaker_label(c) for t in turns)]
    return Diarization(turns, embeddings, warnings, "channels")
