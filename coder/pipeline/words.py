"""Words and speakers: each transcribed word goes to the speaker who holds most of its span, or, where two
speakers talk at once, to the one whose voice it is; segments are split where the speaker changes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from coder.pipeline import spans
from coder.pipeline.diarize.types import SAMPLE_RATE, SINGLE_SPEAKER, Turn, overlapped

Embed = Callable[[list[np.ndarray]], np.ndarray]  # clips of 16 kHz samples → one unit-length row per clip


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


def clip_span(start: float, end: float, length: float, duration: float) -> tuple[float, float]:
    """[start, end] widened evenly on both sides to at least ``length`` seconds and shifted to lie within the
    recording (shortened only when the recording is shorter)."""
    length = min(max(end - start, length), duration)
    middle = (start + end) / 2
    a = min(max(0.0, middle - length / 2), duration - length)
    return a, a + length


def clean_speech(turns: list[Turn], speaker: str) -> list[tuple[float, float]]:
    """The stretches in which ``speaker`` talks and nobody else does."""
    return spans.minus(spans.merged((t.start, t.end) for t in turns if t.speaker == speaker),
                       spans.merged((t.start, t.end) for t in turns if t.speaker != speaker))


@dataclass
class OverlapVoices:
    """Decides who said a word spoken while two speakers talk at once, from the CAM++ embedding of the word's span
    (widened to ``clip_s``) and each candidate's voice, the centroid of embeddings of their clean speech.

    A mix of two voices does not land midway between them: one voice dominates the embedding (on the scripted
    sessions, equal mixes of two voices sat up to 0.47 towards one of them on the difference of their cosine
    similarities). So the word goes to A rather than B when its embedding leans further towards A than mixes of
    A's and B's clean speech, clips of the same length summed, do. Only words in overlapped speech are embedded,
    and a speaker's voice only when a word needs it."""

    samples: np.ndarray
    embed: Embed
    clip_s: float = 1.5  # a word's clip (chosen on the scripted sessions: bench/attribution.py)
    piece_s: float = 2.0  # clean speech is embedded in pieces of this length ...
    voice_s: float = 30.0  # ... up to this much per speaker, the longest stretches first
    min_voice_s: float = 0.5  # a speaker with less clean speech has no voice to compare against
    mixes: int = 8  # pairs of clean clips mixed to find where an even mix of two voices lands
    batch: int = 32  # clips through the network at once (memory stays small on long sessions)
    _voices: dict[str, np.ndarray | None] = field(default_factory=dict, init=False, repr=False)
    _pieces: dict[str, list[tuple[float, float]]] = field(default_factory=dict, init=False, repr=False)
    _even: dict[tuple[str, str], float] = field(default_factory=dict, init=False, repr=False)
    counts: dict[str, int] = field(default_factory=lambda: {"in_overlap": 0, "by_voice": 0}, init=False)

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def _clip(self, a: float, b: float) -> np.ndarray:
        return self.samples[int(round(a * SAMPLE_RATE)):int(round(b * SAMPLE_RATE))]

    def voice(self, turns: list[Turn], speaker: str) -> np.ndarray | None:
        if speaker not in self._voices:
            stretches = sorted(clean_speech(turns, speaker), key=lambda s: s[0] - s[1])
            pieces: list[tuple[float, float]] = []
            total = 0.0
            for a, b in stretches:
                if total >= self.voice_s:
                    break
                if b - a < self.piece_s:
                    pieces.append((a, b))
                    total += b - a
                    continue
                for i in range(int((b - a) // self.piece_s)):
                    if total >= self.voice_s:
                        break
                    pieces.append((a + i * self.piece_s, a + (i + 1) * self.piece_s))
                    total += self.piece_s
            pieces = [p for p in pieces if p[1] - p[0] >= self.min_voice_s]
            self._pieces[speaker] = pieces
            if not pieces:
                self._voices[speaker] = None
            else:
                vectors = self.embed([self._clip(a, b) for a, b in pieces])
                weights = np.array([b - a for a, b in pieces])
                centroid = (vectors * weights[:, None]).sum(axis=0)
                self._voices[speaker] = centroid / max(float(np.linalg.norm(centroid)), 1e-8)
        return self._voices[speaker]

    def even_mix(self, first: str, second: str) -> float:
        """Where mixes of the two voices' clean speech land on (similarity to ``first``) − (to ``second``);
        0 when either has no clean clip of ``clip_s``. Voices are known (``voice``) before this is asked."""
        if (first, second) not in self._even:
            ones = [(a, a + self.clip_s) for a, b in self._pieces[first] if b - a >= self.clip_s]
            twos = [(a, a + self.clip_s) for a, b in self._pieces[second] if b - a >= self.clip_s]
            n = min(self.mixes, max(len(ones), len(twos))) if ones and twos else 0
            if not n:
                self._even[(first, second)] = 0.0
            else:
                clips = [self._clip(*ones[i % len(ones)]) + self._clip(*twos[i % len(twos)]) for i in range(n)]
                axis = self._voices[first] - self._voices[second]
                self._even[(first, second)] = float(np.median(self.embed(clips) @ axis))
        return self._even[(first, second)]

    def speakers_of(self, words: list[tuple[float, float, frozenset[str]]], turns: list[Turn]) -> list[str | None]:
        """For each (start, end, candidates) the candidate whose voice the word's clip leans to, or None where a
        candidate has no clean speech to compare against. The clips go through the network ``batch`` at a time."""
        voices = [{s: self.voice(turns, s) for s in sorted(who)} for _a, _b, who in words]
        wanted = [i for i, v in enumerate(voices) if all(x is not None for x in v.values())
                  and self.duration >= self.min_voice_s]
        out: list[str | None] = [None] * len(words)
        if not wanted:
            return out
        where_clips = [clip_span(words[i][0], words[i][1], self.clip_s, self.duration) for i in wanted]
        vectors = np.concatenate([self.embed([self._clip(*span) for span in where_clips[k:k + self.batch]])
                                  for k in range(0, len(where_clips), self.batch)])
        for i, vector in zip(wanted, vectors):
            candidates = voices[i]
            if len(candidates) == 2:
                first, second = candidates
                lean = float(vector @ (candidates[first] - candidates[second])) - self.even_mix(first, second)
                out[i] = first if lean > 0 else second
            else:  # three or more at once: the nearest voice
                out[i] = max(candidates, key=lambda s: float(vector @ candidates[s]))
        self.counts["by_voice"] += len(wanted)
        return out


def in_overlap(overlaps: list[tuple[float, float, frozenset[str]]], start: float, end: float
               ) -> frozenset[str] | None:
    """The speakers of the overlapped stretch holding most of [start, end], when overlapped speech holds at
    least half of it (a word without length: when its time lies in one); None otherwise."""
    best, most, total = None, 0.0, 0.0
    for a, b, who in overlaps:  # sorted; few, so a scan
        if a > end:
            break
        if end == start:
            if a <= start <= b:
                return who
            continue
        held = _overlap(start, end, a, b)
        total += held
        if held > most:
            best, most = who, held
    return best if end > start and total >= (end - start) / 2 else None


def attribute_words(segments: list[dict[str, Any]], turns: list[Turn],
                    voices: OverlapVoices | None = None) -> list[dict[str, Any]]:
    """Give every word a speaker and split segments where the speaker changes.

    A word that straddles a turn change goes to the speaker who holds most of
    it. A word in overlapped speech (two speakers' turns at once over at
    least half of it) goes, given ``voices``, to the speaker whose voice it
    is; without them, to the turn covering more of the word. A segment
    without word timings takes the speaker holding most of it.
    """
    turns = sorted(turns, key=lambda t: (t.start, t.end))
    labels = [[speaker_at(turns, w["start"], w["end"]) or SINGLE_SPEAKER for w in seg.get("words") or []]
              for seg in segments]
    overlaps = overlapped(turns)
    if voices is not None and overlaps:
        where = [(i, j, who) for i, seg in enumerate(segments) for j, w in enumerate(seg.get("words") or [])
                 if (who := in_overlap(overlaps, w["start"], w["end"])) is not None]
        voices.counts["in_overlap"] += len(where)
        if where:
            decided = voices.speakers_of([(segments[i]["words"][j]["start"], segments[i]["words"][j]["end"], who)
                                          for i, j, who in where], turns)
            for (i, j, _who), speaker in zip(where, decided):
                if speaker is not None:
                    labels[i][j] = speaker
    out: list[dict[str, Any]] = []
    for seg, own in zip(segments, labels):
        words = seg.get("words") or []
        if not words:
            out.append({**seg, "speaker": speaker_at(turns, seg["start"], seg["end"]) or SINGLE_SPEAKER})
            continue
        labelled = [{**w, "speaker": s} for w, s in zip(words, own)]
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
