"""Words and speakers: each transcribed word goes to the speaker who holds most of its span, and segments are
split where the speaker changes."""
from __future__ import annotations

from typing import Any

from coder.pipeline.diarize.types import SINGLE_SPEAKER, Turn


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
