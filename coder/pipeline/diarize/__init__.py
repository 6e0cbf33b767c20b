"""Speaker diarisation: who spoke when, and which word each speaker said.

Backends share one interface, ``Diarizer.__call__(audio, num_speakers) ->
Diarization`` (speaker turns, per-speaker voice embeddings, warnings):

- ``builtin`` (the default) needs no account and no model hub: Silero VAD
  finds the speech, Resemblyzer's voice encoder embeds 1.6 s windows, the
  windows are clustered into the known (default 2) or estimated number of
  speakers, and a Viterbi pass over 0.1 s frames resegments the speech, which
  keeps long therapy turns whole without swallowing short replies.
- ``pyannote`` runs a pyannote.audio pipeline loaded from a local directory
  or by name with a token (optional extra, see ``coder.diarize_pyannote``).
- ``none`` labels everything as one speaker.

``attribute_words`` then gives each transcribed word the speaker who holds
most of its span and splits segments where the speaker changes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from coder.pipeline import vad

log = logging.getLogger(__name__)

DIARIZERS = ("builtin", "pyannote", "none")
DEFAULT_SPEAKERS = 2  # a therapy dyad
SINGLE_SPEAKER = "SPEAKER_00"
SAMPLE_RATE = 16000


class DiarizerUnavailable(Exception):
    pass


@dataclass
class Turn:
    start: float
    end: float
    speaker: str


@dataclass
class Diarization:
    turns: list[Turn]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # mean voice embedding per speaker
    warnings: list[str] = field(default_factory=list)
    source: str = "builtin"  # builtin | pyannote | none | rttm

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})

    def record(self, method: str, num_speakers: int | None) -> dict[str, Any]:
        """The transcript document's ``diarization`` object."""
        return {
            "method": method,
            "num_speakers": num_speakers,  # requested; null: estimated
            "speakers_found": len(self.speakers),
            "warnings": self.warnings,
            "turns": [[round(t.start, 3), round(t.end, 3), t.speaker] for t in self.turns],
            "embeddings": {k: [round(float(x), 5) for x in v] for k, v in self.embeddings.items()},
        }


def _default_device() -> str:
    from coder.pipeline.diarize.embeddings import default_device

    return default_device()


def turn_embeddings(samples: np.ndarray, turns: list[Turn]) -> dict[str, np.ndarray]:
    """Each speaker's voice embedding over their turns (speakers with too little speech are left out)."""
    from coder.pipeline.diarize import embeddings as embed

    out = {}
    for label in sorted({t.speaker for t in turns}):
        try:
            out[label] = embed.voiceprint(samples, [(t.start, t.end) for t in turns if t.speaker == label])
        except ValueError:
            pass
    return out


def speaker_label(i: int) -> str:
    return f"SPEAKER_{i:02d}"


# --- the builtin diariser ---------------------------------------------------------------------------------

@dataclass
class BuiltinDiarizer:
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
    device: str = field(default_factory=_default_device)  # CODER_DEVICE, else CUDA if present

    def speech(self, audio: np.ndarray) -> list[tuple[float, float]]:
        duration = len(audio) / SAMPLE_RATE
        out: list[tuple[float, float]] = []
        for s, e in vad._stamps(audio, SAMPLE_RATE, self.vad_threshold, 0.1, 0.1):
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
        from coder.pipeline.diarize import embeddings as embed

        duration = len(audio) / SAMPLE_RATE
        warnings: list[str] = []
        regions = self.speech(audio)
        wins = self.windows(regions, duration)
        if not wins:
            if regions:
                warnings.append("too little speech to tell speakers apart; all of it is given to one speaker")
                return Diarization([Turn(s, e, SINGLE_SPEAKER) for s, e in regions], {}, warnings)
            return Diarization([], {}, ["no speech found"] if duration > 0 else ["empty recording"])
        emb = embed.embed_windows(audio, wins, self.device)
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
        embeddings = {rename[speaker_label(i)]: centroids[i] for i in range(len(centroids))
                      if speaker_label(i) in rename}
        return Diarization(turns, embeddings, warnings)

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


# --- one microphone per person --------------------------------------------------------------------------

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
    regions = BuiltinDiarizer(vad_threshold=vad_threshold, pad_s=pad_s).speech(mix)
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


# --- words and speakers ----------------------------------------------------------------------------------

def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def speaker_at(turns: list[Turn], start: float, end: float) -> str | None:
    """The speaker holding most of [start, end]; the nearest turn's speaker when none overlaps it."""
    if not turns:
        return None
    best, best_overlap = None, 0.0
    for t in turns:
        if t.start > end:
            break
        ov = _overlap(start, end, t.start, t.end)
        if ov > best_overlap:
            best, best_overlap = t.speaker, ov
    if best is not None:
        return best
    mid = (start + end) / 2
    return min(turns, key=lambda t: 0.0 if t.start <= mid <= t.end else min(abs(mid - t.start), abs(mid - t.end))).speaker


def attribute_words(segments: list[dict[str, Any]], turns: list[Turn]) -> list[dict[str, Any]]:
    """Give every word a speaker and split segments where the speaker changes.

    A word that straddles a turn change goes to the speaker who holds most of
    it; in overlapped speech, to the turn covering more of the word. A segment
    without word timings takes the speaker holding most of it.
    """
    turns = sorted(turns, key=lambda t: (t.start, t.end))
    out: list[dict[str, Any]] = []
    for seg in segments:
        words = seg.get("words") or []
        if not words:
            out.append({**seg, "speaker": speaker_at(turns, seg["start"], seg["end"]) or SINGLE_SPEAKER})
            continue
        labelled = [{**w, "speaker": speaker_at(turns, w["start"], w["end"]) or SINGLE_SPEAKER} for w in words]
        rest = {k: v for k, v in seg.items() if k not in ("words", "text", "start", "end", "speaker")}
        run: list[dict[str, Any]] = []
        for w in labelled + [None]:
            if run and (w is None or w["speaker"] != run[-1]["speaker"]):
                out.append({**rest, "start": run[0]["start"], "end": run[-1]["end"], "speaker": run[0]["speaker"],
                            "text": seg["text"].strip() if len(run) == len(words) else words_text(run),
                            "words": run})
                run = []
            if w is not None:
                run.append(w)
    return out


def words_text(words: list[dict[str, Any]]) -> str:
    """Whisper's words carry their leading space; words from elsewhere may not."""
    if any(w["text"].startswith(" ") for w in words[1:]):
        return "".join(w["text"] for w in words).strip()
    return " ".join(w["text"].strip() for w in words)


# --- the interface the pipeline uses ---------------------------------------------------------------------

def check_available(method: str, **options: Any) -> None:
    """Raise before any work is done when ``method`` cannot run here."""
    if method not in DIARIZERS:
        raise ValueError(f"unknown diarizer {method!r}; choose one of {', '.join(DIARIZERS)}")
    if method == "builtin":
        from coder.pipeline.diarize.embeddings import weights_path

        try:
            weights_path()
        except Exception as exc:
            raise DiarizerUnavailable(str(exc)) from None
    if method == "pyannote":
        from coder.pipeline.diarize.pyannote import check_available as check_pyannote

        check_pyannote(**options)


def make_diarizer(method: str, **options: Any) -> Callable[..., Diarization]:
    if method == "builtin":
        return BuiltinDiarizer(**{k: v for k, v in options.items() if v is not None})
    if method == "pyannote":
        from coder.pipeline.diarize.pyannote import PyannoteDiarizer

        return PyannoteDiarizer(**options)
    if method == "none":
        return _single_speaker
    raise ValueError(f"unknown diarizer {method!r}; choose one of {', '.join(DIARIZERS)}")


def _single_speaker(audio: np.ndarray, num_speakers: int | None = None) -> Diarization:
    duration = len(audio) / SAMPLE_RATE
    return Diarization([Turn(0.0, round(duration, 3), SINGLE_SPEAKER)] if duration > 0 else [], {}, [], "none")
