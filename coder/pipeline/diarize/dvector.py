"""The d-vector diariser (the builtin one until segmentation-3.0 and CAM++ replaced it): no account, no model hub.

Silero VAD finds the speech, Resemblyzer's voice encoder embeds 1.6 s windows, the windows are clustered into
the known (default 2) or estimated number of speakers, and a Viterbi pass over 0.1 s frames resegments the
speech, which keeps long therapy turns whole without swallowing short replies.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from coder.pipeline import vad
from coder.pipeline.diarize import embeddings, resemblyzer
from coder.pipeline.diarize.types import DEFAULT_SPEAKERS, SAMPLE_RATE, SINGLE_SPEAKER, Diarization, Turn, speaker_label

log = logging.getLogger(__name__)


@dataclass
class DvectorDiarizer:
    """VAD → windowed voice embeddings → clustering → Viterbi resegmentation."""

    vad_threshold: float = 0.3
    pad_s: float = 0.1
    window_s: float = 1.6
    step_s: float = 0.4
    frame_s: float = 0.1
    switch_penalty: float = 3.0  # in units of the per-frame log-score; higher keeps turns longer
    same_speaker_similarity: float = 0.93  # centroids closer than this are taken to be one voice
    min_share: float = 0.03  # a "speaker" with less of the speech windows than this is noise or overlap
    max_speakers: int = 8
    device: str = field(default_factory=embeddings.default_device)  # CODER_DEVICE, else CUDA if present

    def speech(self, audio: np.ndarray) -> list[tuple[float, float]]:
        duration = len(audio) / SAMPLE_RATE
        out: list[tuple[float, float]] = []
        for s, e in vad.speech_stamps(audio, SAMPLE_RATE, self.vad_threshold, 0.1, 0.1):
            s, e = max(0.0, s - self.pad_s), min(duration, e + self.pad_s)
            if out and s <= out[-1][1]:
                out[-1] = (out[-1][0], max(e, out[-1][1]))
            else:
                out.append((s, e))
        return out

    def windows(self, regions: list[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
        """Windows of ``window_s`` every ``step_s`` over each region; a shorter region is one window of its own."""
        wins = []
        for s, e in regions:
            if e - s <= self.window_s:
                wins.append((s, e))
                continue
            t = s
            while t + self.window_s < e:
                wins.append((t, t + self.window_s))
                t += self.step_s
            wins.append((e - self.window_s, e))
        return [w for w in wins if w[1] - w[0] >= 0.25]

    def __call__(self, audio: np.ndarray, num_speakers: int | None = DEFAULT_SPEAKERS) -> Diarization:
        duration = len(audio) / SAMPLE_RATE
        warnings: list[str] = []
        regions = self.speech(audio)
        wins = self.windows(regions, duration)
        if not wins:
            if regions:
                warnings.append("too little speech to tell speakers apart; all of it is given to one speaker")
                return Diarization([Turn(s, e, SINGLE_SPEAKER) for s, e in regions], {}, warnings, "dvector")
            return Diarization([], {}, ["no speech found"] if duration > 0 else ["empty recording"], "dvector")
        emb = resemblyzer.embed_windows(audio, wins, self.device)
        estimated = estimate_speakers(emb, self.max_speakers, self.min_share, self.same_speaker_similarity)
        k = estimated if num_speakers is None else num_speakers
        k = max(1, min(k, len(wins)))
        labels = cluster(emb, k)
        centroids = _centroids(emb, labels, k)
        if num_speakers is not None and num_speakers > 1:
            k, labels, centroids = self._merge_same_voice(emb, labels, centroids, warnings, num_speakers)
            if estimated > num_speakers:
                warnings.append(f"the recording seems to hold more voices than the {num_speakers} requested "
                                f"(about {estimated}); speech of the others is given to the nearest of the "
                                f"{num_speakers}")
        frames = self._resegment(wins, emb, centroids, regions, duration)
        turns = _frames_to_turns(frames, self.frame_s, regions)
        used = list(dict.fromkeys(t.speaker for t in turns))  # labels in order of first appearance
        rename = {old: speaker_label(i) for i, old in enumerate(used)}
        turns = [Turn(t.start, t.end, rename[t.speaker]) for t in turns]
        # voices on the voiceprints' scale (CAM++), not the Resemblyzer centroids clustered with
        return Diarization(turns, embeddings.turn_embeddings(audio, turns), warnings, "dvector")

    def _merge_same_voice(self, emb, labels, centroids, warnings, requested):
        """Fold clusters that are not distinct voices into their nearest neighbour (a one-speaker recording
        asked for two speakers gives one, with a warning)."""
        k = len(centroids)
        while k > 1 and not _distinct(emb, labels, k, self.min_share, self.same_speaker_similarity):
            sizes = np.bincount(labels, minlength=k)
            sims = centroids @ centroids.T
            np.fill_diagonal(sims, -1)
            small = int(np.argmin(sizes))
            if sizes[small] >= max(2, self.min_share * len(emb)):
                i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
                small, into = max(i, j), min(i, j)
            else:
                into = int(np.argmax(sims[small]))
            labels = np.where(labels == small, into, labels)
            labels = np.unique(labels, return_inverse=True)[1]
            k -= 1
            centroids = _centroids(emb, labels, k)
        if k < requested:
            warnings.append(f"only {k} distinct voice{'s' if k > 1 else ''} found where {requested} were "
                            f"requested; the speech is given to {k} speaker{'s' if k > 1 else ''}")
        return k, labels, centroids

    def _resegment(self, wins, emb, centroids, regions, duration) -> np.ndarray:
        """Speaker index per frame (-1 outside speech), by Viterbi over window-averaged similarities."""
        n = int(np.ceil(duration / self.frame_s))
        k = len(centroids)
        frames = np.full(n, -1, dtype=int)
        if k == 1:
            for s, e in regions:
                frames[int(s / self.frame_s):int(np.ceil(e / self.frame_s))] = 0
            return frames
        sims = emb @ centroids.T  # (windows, k)
        # Sharpen similarities into per-window log-posteriors, then average them over the frames each covers.
        logits = sims * 20.0
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        acc = np.zeros((n, k))
        cnt = np.zeros(n)
        for (s, e), row in zip(wins, logp):
            a, b = int(s / self.frame_s), max(int(s / self.frame_s) + 1, int(np.ceil(e / self.frame_s)))
            acc[a:b] += row
            cnt[a:b] += 1
        for s, e in regions:
            a, b = int(s / self.frame_s), min(n, int(np.ceil(e / self.frame_s)))
            idx = np.arange(a, b)
            if len(idx) == 0:
                continue
            covered = cnt[idx] > 0
            if not covered.any():
                continue
            scores = np.where(covered[:, None], acc[idx] / np.maximum(cnt[idx], 1)[:, None], np.nan)
            # frames no window covered take their neighbours' scores
            for c in range(k):
                col = scores[:, c]
                good = ~np.isnan(col)
                scores[:, c] = np.interp(np.arange(len(col)), np.flatnonzero(good), col[good])
            frames[idx] = _viterbi(scores, self.switch_penalty)
        return frames


def _viterbi(scores: np.ndarray, penalty: float) -> np.ndarray:
    n, k = scores.shape
    back = np.zeros((n, k), dtype=int)
    total = scores[0].copy()
    for t in range(1, n):
        stay = total
        best = int(np.argmax(total))
        switch = total[best] - penalty
        choose_switch = switch > stay
        back[t] = np.where(choose_switch, best, np.arange(k))
        total = np.where(choose_switch, switch, stay) + scores[t]
    path = np.empty(n, dtype=int)
    path[-1] = int(np.argmax(total))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _frames_to_turns(frames: np.ndarray, frame_s: float, regions: list[tuple[float, float]]) -> list[Turn]:
    turns: list[Turn] = []
    for s, e in regions:
        a, b = int(s / frame_s), int(np.ceil(e / frame_s))
        seg = frames[a:b]
        if len(seg) == 0:
            continue
        start = s
        for i in range(1, len(seg) + 1):
            if i == len(seg) or seg[i] != seg[i - 1]:
                end = e if i == len(seg) else (a + i) * frame_s
                if seg[i - 1] >= 0 and end > start:
                    turns.append(Turn(round(start, 3), round(end, 3), speaker_label(int(seg[i - 1]))))
                start = end
    return turns


def _centroids(emb: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    cents = np.stack([emb[labels == i].mean(axis=0) if (labels == i).any() else np.zeros(emb.shape[1])
                      for i in range(k)])
    return cents / np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-8)


def cluster(emb: np.ndarray, k: int) -> np.ndarray:
    """k-means on the unit-length embeddings (so on cosine similarity), ten seeded restarts.

    Unlike average-linkage clustering, a few outlying windows (a cough, a
    laugh) cannot take a cluster of their own while two voices share one.
    """
    if k <= 1 or len(emb) <= k:
        return np.zeros(len(emb), dtype=int) if k <= 1 else np.arange(len(emb))
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(emb).astype(int)


def _distinct(emb: np.ndarray, labels: np.ndarray, k: int, min_share: float, max_similarity: float) -> bool:
    """Every cluster holds enough of the speech and no two centroids are near-identical."""
    sizes = np.bincount(labels, minlength=k)
    if sizes.min() < max(2, min_share * len(emb)):
        return False
    cents = _centroids(emb, labels, k)
    sims = cents @ cents.T
    np.fill_diagonal(sims, -1)
    return bool(sims.max() < max_similarity)


def estimate_speakers(emb: np.ndarray, max_speakers: int = 8, min_share: float = 0.03,
                      max_similarity: float = 0.93) -> int:
    """The speaker count whose clustering has the best silhouette (cosine), among counts whose clusters are
    all distinct: each holds at least ``min_share`` of the windows (smaller ones are usually noise, laughter
    or overlapped speech) and no two centroids are more similar than ``max_similarity``. 1 when none is."""
    if len(emb) < 4:
        return 1
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    from sklearn.cluster import KMeans

    best, best_score = 1, -1.0
    for k in range(2, min(max_speakers, len(emb) - 1) + 1):
        # average linkage proposes the clusters, k-means settles them (seeded restarts overestimate the count)
        start = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(emb)
        labels = KMeans(n_clusters=k, init=_centroids(emb, start, k), n_init=1).fit_predict(emb)
        if len(np.unique(labels)) < k or not _distinct(emb, labels, k, min_share, max_similarity):
            continue
        score = silhouette_score(emb, labels, metric="cosine")
        if score > best_score:
            best, best_score = k, score
    if best == 1 and len(emb) > 2 and _distinct(emb, cluster(emb, 2), 2, min_share, max_similarity):
        best = 2  # the same test that keeps two requested speakers apart (the linkage start can isolate outliers)
    return best
