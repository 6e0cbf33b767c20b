"""The builtin diariser: segmentation-3.0 over sliding windows, CAM++ voiceprints, clustering across windows.

1. pyannote's segmentation-3.0 (``segmentation``) runs over 10 s windows; in each it says, every 17 ms, which
   of up to three local speakers talk, two at once where they overlap.
2. Each local speaker of a window is cut into parts: at pauses, where another speaker starts or stops talking
   over it (on similar voices segmentation-3.0 may carry one local speaker from the first voice through an
   interruption into the second) and into stretches of at most 2 s. Each part with enough clean speech (no one
   else talking) is embedded with CAM++ (``campplus``), once: by the window whose middle holds it.
3. The embeddings are clustered across windows (average linkage on cosine distance) into the requested count,
   or into the count whose clusters are best apart (mean silhouette), and clusters that are one voice (as alike
   across as within) are joined. Within a window, parts that talk at the same time go to distinct global
   speakers (Hungarian assignment against the cluster centroids); parts not embedded take the speaker their
   speech has in the neighbouring windows.
4. The windows' frames are averaged per global speaker; each frame keeps as many speakers as the windows
   counted there (rounded mean), so overlapped speech gives overlapping turns.

No account, no model hub, no torchaudio: the weights come from the local model store (``make models``) or the
paths in ``CODER_SEGMENTATION_MODEL`` and ``CODER_EMBEDDING_MODEL``. docs/diarization.md has the details.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from coder.pipeline.diarize import campplus, embeddings, segmentation
from coder.pipeline.diarize.types import (DEFAULT_SPEAKERS, SAMPLE_RATE, Diarization, DiarizationStopped,
                                         DiarizerUnavailable, Turn, speaker_label)
from coder.pipeline.memory import give_back
from coder.pipeline.modelstore import store_with

log = logging.getLogger(__name__)

TOO_LITTLE = "too little speech to tell speakers apart; all of it is given to one speaker"


def models_dir() -> Path:
    """The first model store holding both models (``modelstore.store_with``)."""
    return store_with(Path("pyannote-segmentation-3.0") / segmentation.CHECKPOINT, campplus.WEIGHTS)


def check_available(segmentation_model: str | None = None, embedding_model: str | None = None) -> None:
    """Raise ``DiarizerUnavailable`` (one line: the provisioning command and the variables) without loading."""
    store = models_dir()
    problems = []
    try:
        path = segmentation.resolve(segmentation_model, store) if (
            segmentation_model or _has_local_segmentation(store)) else None
        if path is None:
            raise segmentation.SegmentationUnavailable("missing")
    except segmentation.SegmentationUnavailable:
        problems.append("segmentation-3.0")
    try:
        campplus.resolve(embedding_model, store)
    except campplus.EmbeddingUnavailable:
        problems.append("CAM++")
    if problems:
        raise DiarizerUnavailable(
            f"the builtin diariser's weights are missing ({' and '.join(problems)} not in {store}); run "
            f"`make models` (scripts/provision-models.sh) or set CODER_SEGMENTATION_MODEL and "
            f"CODER_EMBEDDING_MODEL")


def _has_local_segmentation(store: Path) -> bool:
    import os

    return bool(os.environ.get("CODER_SEGMENTATION_MODEL")) or (
        store / "pyannote-segmentation-3.0" / segmentation.CHECKPOINT).is_file()


@lru_cache(maxsize=2)
def load_models(segmentation_model: str | None, embedding_model: str | None, device: str):
    store = models_dir()
    try:
        seg = segmentation.Segmentation.load(segmentation_model, store, device)
        emb = campplus.SpeakerEmbedding.load(embedding_model, store, device)
    except (segmentation.SegmentationUnavailable, campplus.EmbeddingUnavailable) as exc:
        raise DiarizerUnavailable(str(exc)) from None
    return seg, emb


@dataclass
class BuiltinDiarizer:
    """segmentation-3.0 windows → CAM++ per local speaker → clustering → overlapping turns."""

    step_s: float = 5.0  # between the 10 s windows
    min_embed_s: float = 0.6  # a local speaker with less clean speech in a window is not embedded there
    max_embed_s: float = 3.0  # the most of a window's speech one embedding takes (speed)
    # Tuned on the scripted sessions and the two-speaker AMI excerpts (docs/diarization.md): at 0.80 two similar
    # synthetic voices become one; at 0.85 one far-field voice (AMI trn03's) already counts as two.
    same_voice_ratio: float = 0.85  # clusters as alike across as this share of within are one voice
    min_cluster_share: float = 0.05  # a cluster with less of the embedded speech is folded into its neighbour
    distinct_similarity: float = 0.3  # ... unless its centroid is less alike than this to every larger one
    split_gap_s: float = 0.5  # a local speaker's speech is embedded and assigned apart on either side of such a pause
    max_part_s: float = 2.0  # a local speaker's longer stretches are cut into parts this long (0: not cut)
    embed_once: bool = True  # a part is embedded only in the window whose middle stretch holds its middle
    min_gap_s: float = 0.8  # pauses shorter than this inside one speaker's speech are bridged (references are turns)
    min_turn_s: float = 0.1  # shorter turns are dropped
    max_speakers: int = 8
    # how alike two embeddings of one voice are, where no cluster has two to tell (a few seconds of speech): CAM++
    # gives 0.7-0.85 on close speech, 0.2-0.3 across two voices
    one_voice_similarity: float = 0.7
    min_cluster_embeddings: int = 8  # the estimated count allows this many embeddings per speaker at least
    voiceprint_s: float = 60.0  # speech per speaker for the voice embedding roles and voiceprints compare
    segmentation_model: str | None = None
    embedding_model: str | None = None
    batch_size: int = 8
    embed_chunk: int = 256  # clips cut out and embedded at a time (memory: 256 × 3 s is 49 MB)
    device: str = field(default_factory=embeddings.default_device)
    # set from another thread (coder.pipeline.transcribe.diarize_beside): the run stops between two network batches
    stop: threading.Event | None = None

    def __call__(self, audio: np.ndarray, num_speakers: int | None = DEFAULT_SPEAKERS) -> Diarization:
        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        if duration == 0:
            return Diarization([], {}, ["empty recording"])
        seg, emb = load_models(self.segmentation_model, self.embedding_model, self.device)
        starts, activity = self.segment(seg, audio)
        if activity.sum() == 0:
            return Diarization([], {}, ["no speech found"])
        step = seg.geometry.step
        activity = self.split(activity, step)
        keys, vectors, weights = self.embed(emb, audio, starts, activity, step)
        warnings: list[str] = []
        if len(keys) == 0:
            warnings.append(TOO_LITTLE)
            assign = {(w, k): 0 for w in range(len(starts)) for k in range(activity.shape[2])}
            centroids = np.zeros((1, 1), dtype=np.float32)
        else:
            labels, k = self.cluster(vectors, weights, num_speakers, warnings)
            centroids = _centroids(vectors, labels, k)
            assign = self.assign(keys, vectors, centroids, activity)
        frames = self.reconstruct(starts, activity, assign, len(centroids), step, duration)
        turns = self.turns(frames, step, duration)
        used = list(dict.fromkeys(t.speaker for t in sorted(turns, key=lambda t: (t.start, t.end))))
        rename = {old: speaker_label(i) for i, old in enumerate(used)}
        turns = sorted((Turn(t.start, t.end, rename[t.speaker]) for t in turns), key=lambda t: (t.start, t.end))
        return Diarization(turns, self.voices(audio, turns), warnings)

    # -- 1. segmentation -------------------------------------------------------------------------------

    def segment(self, seg: segmentation.Segmentation, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window starts (s) and the local speakers' hard activity, (windows, frames, 3)."""
        win = seg.window_samples
        hop = int(round(self.step_s * SAMPLE_RATE))
        starts = list(range(0, max(1, len(audio) - win + hop), hop))
        if starts[-1] + win < len(audio):
            starts.append(len(audio) - win)
        out = []
        for i in range(0, len(starts), self.batch_size):
            batch = np.zeros((len(starts[i:i + self.batch_size]), win), dtype=np.float32)
            for j, s in enumerate(starts[i:i + self.batch_size]):
                chunk = audio[s:s + win]
                batch[j, :len(chunk)] = chunk
            out.append(seg.speakers(batch))
            self._between_batches()
        return np.array(starts) / SAMPLE_RATE, np.concatenate(out)

    def split(self, activity: np.ndarray, step: float) -> np.ndarray:
        """Each local speaker's speech cut at pauses of ``split_gap_s`` or more, where another local speaker
        starts or stops talking over it, and into stretches of at most ``max_part_s``; each part a local speaker
        of its own, (windows, frames, parts): segmentation-3.0 sometimes keeps two similar voices that take turns,
        or one that interrupts the other, as one local speaker, and a part is more likely one voice."""
        gap = max(1, int(round(self.split_gap_s / step)))
        windows, frames, local = activity.shape
        parts: list[list[np.ndarray]] = []
        for w in range(windows):
            mine = []
            over = activity[w].sum(axis=1) >= 2
            for k in range(local):
                on = np.flatnonzero(activity[w, :, k] > 0)
                if len(on) == 0:
                    continue
                cuts = np.flatnonzero((np.diff(on) > gap) | (np.diff(over[on]) != 0)) + 1
                runs = np.split(on, cuts)
                if self.max_part_s:
                    longest = max(1, int(round(self.max_part_s / step)))
                    runs = [piece for run in runs for piece in np.array_split(run, -(-len(run) // longest))]
                for run in runs:
                    col = np.zeros(frames, dtype=activity.dtype)
                    col[run[0]:run[-1] + 1] = activity[w, run[0]:run[-1] + 1, k]
                    mine.append(col)
            parts.append(mine)
        out = np.zeros((windows, frames, max(1, max(len(m) for m in parts))), dtype=activity.dtype)
        for w, mine in enumerate(parts):
            for j, col in enumerate(mine):
                out[w, :, j] = col
        return out

    def _between_batches(self) -> None:
        give_back()  # freed heap back to the system (coder.pipeline.memory)
        self._check_stop()

    def _check_stop(self) -> None:
        """Between CAM++'s batches (which hand the heap back themselves)."""
        if self.stop is not None and self.stop.is_set():
            raise DiarizationStopped("the diariser was stopped")

    # -- 2. embeddings ---------------------------------------------------------------------------------

    def embed(self, emb: campplus.SpeakerEmbedding, audio: np.ndarray, starts: np.ndarray, activity: np.ndarray,
              step: float):
        """CAM++ embeddings of the parts with enough clean speech (no other part talking), each in the window
        whose middle stretch holds its middle (``embed_once``): keys (window, part), vectors, seconds.
        Clips are embedded ``embed_chunk`` at a time, so a long session never holds all its clips at once."""
        keys, clips, seconds, vectors = [], [], [], []
        frame = int(round(step * SAMPLE_RATE))
        alone = activity.sum(axis=2) == 1
        half = segmentation.geometry().receptive / 2
        centres = starts + activity.shape[1] * step / 2
        bounds = np.concatenate([[-np.inf], (centres[1:] + centres[:-1]) / 2, [np.inf]])
        for w, start in enumerate(starts):
            a0 = int(round(start * SAMPLE_RATE))
            for k in range(activity.shape[2]):
                active = activity[w, :, k] > 0
                mask = active & alone[w]
                if mask.sum() * step < self.min_embed_s:
                    continue
                if self.embed_once:
                    on = np.flatnonzero(active)
                    middle = start + half + (on[0] + on[-1]) / 2 * step
                    if not bounds[w] <= middle < bounds[w + 1]:
                        continue  # the next or previous window embeds this speech; assigned from there
                idx = np.flatnonzero(mask)[: int(self.max_embed_s / step)]
                clip = np.concatenate([audio[a0 + j * frame:a0 + (j + 1) * frame] for j in idx])
                if len(clip) < emb.min_samples:
                    continue
                keys.append((w, k))
                clips.append(clip)
                seconds.append(len(clip) / SAMPLE_RATE)
                if len(clips) >= self.embed_chunk:
                    vectors.append(emb.embed(clips, between=self._check_stop))
                    clips = []
        if clips:
            vectors.append(emb.embed(clips, between=self._check_stop))
        if not keys:
            return [], np.zeros((0, 1), dtype=np.float32), np.zeros(0)
        return keys, np.concatenate(vectors), np.array(seconds)

    # -- 3. clustering ---------------------------------------------------------------------------------

    def cluster(self, vectors: np.ndarray, weights: np.ndarray, num_speakers: int | None,
                warnings: list[str]) -> tuple[np.ndarray, int]:
        """A global speaker per embedding: the requested count (fewer where the voices are not distinct), or the
        estimated one: the cut best apart (``_estimate``), its clusters joined where they are one voice."""
        estimated_labels = self._merge(vectors, self._estimate(vectors, weights))
        estimated = int(estimated_labels.max()) + 1
        if num_speakers is None:
            return estimated_labels, estimated
        labels = self._merge(vectors, self._cut(vectors, weights, num_speakers))
        k = int(labels.max()) + 1
        if k < num_speakers and len(vectors) >= 2:
            warnings.append(f"only {k} distinct voice{'s' if k > 1 else ''} found where {num_speakers} were "
                            f"requested; the speech is given to {k} speaker{'s' if k > 1 else ''}")
        if estimated > num_speakers:
            warnings.append(f"the recording seems to hold more voices than the {num_speakers} requested "
                            f"(about {estimated}); speech of the others is given to the nearest of the "
                            f"{num_speakers}")
        return labels, k

    def _estimate(self, vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The cut of the tree, from two clusters up to ``max_speakers``, whose clusters are best apart (the mean
        silhouette on cosine distance; Rousseeuw 1987): a finer cut of one voice only splits it where its
        embeddings happen to differ, and scores low."""
        from sklearn.metrics import silhouette_score

        most = min(self.max_speakers, max(2, len(vectors) // self.min_cluster_embeddings))
        best, chosen = -np.inf, None
        for m in range(2, most + 1):
            labels = self._cut(vectors, weights, m)
            if not 1 <= labels.max() < len(vectors) - 1:  # the silhouette needs 2 to n - 1 clusters
                continue
            score = silhouette_score(vectors, labels, metric="cosine")
            if score > best:
                best, chosen = score, labels
        return chosen if chosen is not None else self._cut(vectors, weights, 2)  # too few to score: the merge decides

    def _merge(self, vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Clusters joined, closest first, while two are one voice: their members as alike across the two as
        within each (``same_voice_ratio`` of it; how alike one voice's embeddings are varies with the recording,
        far-field speech far less than close-talk)."""
        sims = vectors @ vectors.T
        k = int(labels.max()) + 1 if len(labels) else 0
        while k > 1:
            within = np.array([_mean_off_diagonal(sims[np.ix_(labels == i, labels == i)]) for i in range(k)])
            typical = np.nanmedian(within) if np.isfinite(within).any() else self.one_voice_similarity
            within = np.where(np.isfinite(within), within, typical)
            best, pair = -np.inf, None
            for i in range(k):
                for j in range(i + 1, k):
                    across = sims[np.ix_(labels == i, labels == j)].mean()
                    ratio = across / max(min(within[i], within[j]), 1e-3)
                    if ratio > best:
                        best, pair = ratio, (i, j)
            if best < self.same_voice_ratio:
                break
            i, j = pair
            labels = np.unique(np.where(labels == j, i, labels), return_inverse=True)[1]
            k -= 1
        return labels

    def _cut(self, vectors: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
        """Average-linkage clusters, k of them; clusters holding less than ``min_cluster_share`` of the embedded
        speech are folded into the nearest large one, unless they are unlike every large one (a voice that speaks
        little, not a stray piece of one)."""
        n = len(vectors)
        if n == 1 or k == 1:
            return np.zeros(n, dtype=int)
        from scipy.cluster.hierarchy import fcluster, linkage

        tree = linkage(vectors, method="average", metric="cosine")
        small = max(self.min_cluster_share * weights.sum(), 0.0)
        for m in range(min(k, n), min(n, k + 20) + 1):
            raw = fcluster(tree, t=m, criterion="maxclust") - 1
            raw = np.unique(raw, return_inverse=True)[1]
            mass = np.bincount(raw, weights=weights)
            large = np.flatnonzero(mass >= small)
            if len(large) == 0:
                return np.zeros(n, dtype=int)
            cents = _centroids(vectors, raw, int(raw.max()) + 1)
            alike = (cents @ cents[large].T).max(axis=1)
            large = np.flatnonzero((mass >= small) | (alike < self.distinct_similarity))
            if len(large) >= k:
                break
        large = large[np.argsort(-mass[large])][:k]
        cents = _centroids(vectors, raw, int(raw.max()) + 1)[large]
        labels = np.array([int(np.where(large == r)[0][0]) if r in large else int(np.argmax(cents @ v))
                           for r, v in zip(raw, vectors)])
        return np.unique(labels, return_inverse=True)[1]

    def assign(self, keys, vectors, centroids, activity) -> dict[tuple[int, int], int]:
        """(window, local speaker) → global speaker; local speakers of one window that talk at the same time go to
        distinct ones."""
        from scipy.optimize import linear_sum_assignment

        assign: dict[tuple[int, int], int] = {}
        by_window: dict[int, list[int]] = {}
        for i, (w, _) in enumerate(keys):
            by_window.setdefault(w, []).append(i)
        k = len(centroids)
        active = activity > 0
        for w, rows in by_window.items():
            sims = vectors[rows] @ centroids.T
            together = _together(active[w], [keys[r][1] for r in rows])
            for group in _groups(together):
                if len(group) <= k and len(group) > 1:
                    r, c = linear_sum_assignment(-sims[group])
                    for a, b in zip(r, c):
                        assign[keys[rows[group[a]]]] = int(b)
                else:
                    for a in group:
                        assign[keys[rows[a]]] = int(np.argmax(sims[a]))
        # parts not embedded (too little clean speech, or embedded in the neighbouring window): the global speaker
        # they overlap most in the neighbouring windows
        windows, frames, local = activity.shape
        for w in range(windows):
            for j in range(local):
                if (w, j) in assign or not active[w, :, j].any():
                    continue
                taken = {assign[(w, i)] for i in range(local)
                         if (w, i) in assign and (active[w, :, i] & active[w, :, j]).any()}
                free = [g for g in range(k) if g not in taken] or list(range(k))
                assign[(w, j)] = free[0] if len(free) == 1 else self._by_neighbours(w, j, activity, assign, free)
        return assign

    def _by_neighbours(self, w, j, activity, assign, free) -> int:
        votes = np.zeros(max(free) + 1)
        frames = activity.shape[1]
        hop = self.step_s / (segmentation.geometry().step)
        for v in (w - 1, w + 1):
            if not 0 <= v < len(activity):
                continue
            shift = int(round((v - w) * hop))
            mine = activity[w, :, j] > 0
            for i in range(activity.shape[2]):
                g = assign.get((v, i))
                if g is None or g not in free:
                    continue
                theirs = np.zeros(frames, dtype=bool)
                src = activity[v, :, i] > 0
                if shift >= 0:
                    theirs[shift:] = src[:frames - shift] if shift < frames else False
                else:
                    theirs[:frames + shift] = src[-shift:]
                votes[g] += (mine & theirs).sum()
        return int(free[int(np.argmax(votes[free]))])

    # -- 4. reconstruction -----------------------------------------------------------------------------

    def reconstruct(self, starts, activity, assign, k, step, duration) -> np.ndarray:
        """(frames, speakers) of the whole recording: each frame keeps the ``count`` most active speakers."""
        n = int(np.ceil(duration / step)) + 1
        score = np.zeros((n, k))
        count = np.zeros(n)
        cover = np.zeros(n)
        windows, frames, local = activity.shape
        for w, start in enumerate(starts):
            first = int(round(start / step))
            a, b = first, min(n, first + frames)
            span = b - a
            cover[a:b] += 1
            count[a:b] += activity[w, :span].sum(axis=1)
            for j in range(local):
                g = assign.get((w, j))
                if g is not None:
                    score[a:b, g] += activity[w, :span, j]
        cover = np.maximum(cover, 1)
        score /= cover[:, None]
        count = np.minimum(np.rint(count / cover), k).astype(int)
        out = np.zeros((n, k), dtype=bool)
        order = np.argsort(-score, axis=1)
        for c in range(1, k + 1):
            rows = np.flatnonzero(count >= c)
            picked = order[rows, c - 1]
            out[rows, picked] = score[rows, picked] > 0
        return out

    def turns(self, frames: np.ndarray, step: float, duration: float) -> list[Turn]:
        half = segmentation.geometry().receptive / 2
        turns = []
        for g in range(frames.shape[1]):
            col = frames[:, g]
            runs = []
            i = 0
            while i < len(col):
                if not col[i]:
                    i += 1
                    continue
                j = i
                while j < len(col) and col[j]:
                    j += 1
                start, end = i * step + half - step / 2, j * step + half - step / 2
                if runs and start - runs[-1][1] < self.min_gap_s:
                    runs[-1] = (runs[-1][0], end)
                else:
                    runs.append((start, end))
                i = j
            for s, e in runs:
                s, e = max(0.0, s), min(duration, e)
                if e - s >= self.min_turn_s:
                    turns.append(Turn(round(s, 3), round(e, 3), speaker_label(g)))
        return turns

    def voices(self, audio: np.ndarray, turns: list[Turn]) -> dict[str, np.ndarray]:
        """Each speaker's voiceprint (CAM++, coder.pipeline.diarize.embeddings) from their longest turns up to
        ``voiceprint_s``."""
        chosen: list[Turn] = []
        for label in sorted({t.speaker for t in turns}):
            total = 0.0
            for t in sorted((t for t in turns if t.speaker == label), key=lambda t: t.start - t.end):
                if total >= self.voiceprint_s:
                    break
                chosen.append(t)
                total += t.end - t.start
        net = load_models(self.segmentation_model, self.embedding_model, self.device)[1]
        return embeddings.turn_embeddings(audio, chosen, net=net)


def _mean_off_diagonal(block: np.ndarray) -> float:
    n = len(block)
    return float((block.sum() - np.trace(block)) / (n * (n - 1))) if n > 1 else float("nan")


def _together(active: np.ndarray, locals_: list[int]) -> np.ndarray:
    """Which of these local speakers of one window talk at the same moment, (n, n)."""
    cols = active[:, locals_].astype(np.int32)
    return (cols.T @ cols) > 0


def _groups(together: np.ndarray) -> list[list[int]]:
    """Connected groups of local speakers that talk together (each alone where it overlaps no one)."""
    n = len(together)
    seen, groups = set(), []
    for i in range(n):
        if i in seen:
            continue
        stack, group = [i], []
        seen.add(i)
        while stack:
            a = stack.pop()
            group.append(a)
            for b in np.flatnonzero(together[a]):
                if int(b) not in seen:
                    seen.add(int(b))
                    stack.append(int(b))
        groups.append(sorted(group))
    return groups


def _centroids(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    cents = np.stack([vectors[labels == i].mean(axis=0) if (labels == i).any() else np.zeros(vectors.shape[1])
                      for i in range(k)])
    return cents / np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-8)
