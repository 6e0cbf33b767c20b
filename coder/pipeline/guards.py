"""Guards against Whisper's failure modes on long recordings: loops and repeated segments.

Applied to the engine's segments after their timestamps are on the
recording's clock. What a guard removes is counted, so the transcript can say
how much was cut and why.
"""
from __future__ import annotations

import re
from typing import Any

MIN_LOOP_REPEATS = 3  # a phrase said this many times in a row is a loop, not speech
MAX_LOOP_NGRAM = 12


def _norm(text: str) -> str:
    return re.sub(r"[^\w']+", "", text.lower())


def collapse_loops(words: list[dict[str, Any]], min_repeats: int = MIN_LOOP_REPEATS,
                   max_ngram: int = MAX_LOOP_NGRAM) -> tuple[list[dict[str, Any]], int]:
    """Keep one copy of any phrase (1–``max_ngram`` words) repeated ``min_repeats``+ times back to back.

    Single words need one more repeat than phrases, so that emphatic speech
    ("no, no, no") survives while "the the the the" loops do not.
    """
    keys = [_norm(w["text"]) for w in words]
    out: list[dict[str, Any]] = []
    removed = 0
    i = 0
    while i < len(words):
        collapsed = False
        for n in range(1, min(max_ngram, (len(words) - i) // min_repeats) + 1):
            phrase = keys[i:i + n]
            if not any(phrase):
                continue
            reps = 1
            while keys[i + reps * n:i + (reps + 1) * n] == phrase:
                reps += 1
            if reps >= min_repeats + (1 if n == 1 else 0):
                out.extend(words[i:i + n])
                removed += (reps - 1) * n
                i += reps * n
                collapsed = True
                break
        if not collapsed:
            out.append(words[i])
            i += 1
    return out, removed


def drop_repeated_segments(segments: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Drop runs of identical consecutive segments: a third copy or more, or a second copy of six words or more."""
    out: list[dict[str, Any]] = []
    removed, run = 0, 1
    for seg in segments:
        if out and _norm(seg["text"]) == _norm(out[-1]["text"]) and _norm(seg["text"]):
            run += 1
            if run >= 3 or len(seg["text"].split()) >= 6:
                removed += 1
                continue
        else:
            run = 1
        out.append(seg)
    return out, removed


def apply(segments: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Run every guard; returns the cleaned segments and what each guard removed."""
    cleaned, loop_words = [], 0
    for seg in segments:
        words, removed = collapse_loops(seg.get("words", []))
        if removed:
            loop_words += removed
            if not words:
                continue
            seg = {**seg, "words": words, "text": " ".join(w["text"] for w in words),
                   "end": max(words[-1]["end"], seg["start"])}
        cleaned.append(seg)
    cleaned, repeated = drop_repeated_segments(cleaned)
    return cleaned, {"loop_words_removed": loop_words, "repeated_segments_removed": repeated}
