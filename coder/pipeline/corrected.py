"""A corrected transcript read back from a file (``coder.pipeline.interchange``: VTT, EAF, DOCX) made into
segments, against the revision it was corrected from, keeping what the file did not change.

- Speakers: a file names them by display name, role or label (``interchange.speaker_of``); any other name is
  an error.
- Starts: a file turn that starts where the next unused current turn starts (within the file's resolution: a
  millisecond, or the second of a DOCX ``[hh:mm:ss]``) takes that turn's exact start. Where its speaker and text
  (and, from EAF, its words) are those of that turn, the current turn is kept as it is.
- Words of any other turn: its text is diffed, word by word, against the words already timed in its span (the
  file's own, from EAF word tiers, else the current revision's whose middle lies in the span). Words the diff
  finds unchanged keep their times and probability; words written in place of others share those words' span,
  inserted words the gap they go into, in proportion to their length (``edits.spread``). A DOCX turn, which has
  no end of its own, spans up to the next turn's start; words added at its end take at most
  ``edits.INSERTED_WORD_S`` each.
- A turn's span: its start and end as the file gives them, grown to hold its words; a DOCX turn starts and ends
  with its words. Every word carries its turn's speaker. A turn left without words is dropped.
"""
from __future__ import annotations

import copy
import difflib
from typing import Any

from coder.pipeline import edits, interchange
from coder.pipeline.interchange import FileTurn, InterchangeError
from coder.pipeline.words import words_text

TOLERANCE = 0.0015  # times written to the millisecond read back within this
LATE_S = 1.0  # how far past the recording's end a time may lie (decoders differ in the last frame)


def _start(seg: dict[str, Any]) -> float:
    return float(seg["start"])


def _check_times(turns: list[FileTurn], end_of_recording: float | None) -> None:
    for t in turns:
        if t.end is not None and t.end < t.start:
            raise InterchangeError(f"{t.where}: the turn ends ({t.end:.3f} s) before it starts ({t.start:.3f} s)")
        last = t.start if t.end is None else t.end
        if end_of_recording is not None and last > end_of_recording + LATE_S:
            raise InterchangeError(f"{t.where}: {interchange.clock(last)} is past the recording's end "
                                   f"({interchange.clock(end_of_recording)})")


def _matches(turns: list[FileTurn], current: list[dict[str, Any]]) -> list[int | None]:
    """For each file turn, the index of the current turn whose start it names (each used once, in order)."""
    out: list[int | None] = []
    next_free = 0
    for t in turns:
        found = None
        for i in range(next_free, len(current)):
            offset = _start(current[i]) - t.start
            if offset >= max(t.resolution, TOLERANCE):
                break
            if offset >= -TOLERANCE:
                found = i
                break
        out.append(found)
        if found is not None:
            next_free = found + 1
    return out


def _word_key(word: dict[str, Any]) -> tuple[str, int, int]:
    return word["text"].strip(), round(float(word["start"]) * 1000), round(float(word["end"]) * 1000)


def _same_words(file_words: list[dict[str, Any]], seg: dict[str, Any]) -> bool:
    held = interchange.word_spans(seg, round(_start(seg) * 1000), round(float(seg["end"]) * 1000))
    return len(held) == len(file_words) and all(
        w["text"].strip() == text and abs(w["start"] - a / 1000) <= TOLERANCE and abs(w["end"] - b / 1000) <= TOLERANCE
        for w, (a, b, text) in zip(file_words, held))


def _timed(text: str, reference: list[dict[str, Any]], start: float, end: float, open_end: bool,
           speaker: str) -> list[dict[str, Any]]:
    """The words of ``text``, timed from ``reference`` where the diff finds them unchanged (see the module)."""
    reference = sorted(reference, key=lambda w: (float(w["start"]), float(w["end"])))
    old = [w["text"].strip() for w in reference]
    new = text.split()
    words: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            words += [{**copy.deepcopy(w), "speaker": speaker} for w in reference[a0:a1]]
            continue
        if op == "delete":
            continue
        tokens = new[b0:b1]
        low = float(words[-1]["end"]) if words else start
        if op == "replace":
            a, b = max(float(reference[a0]["start"]), low), float(reference[a1 - 1]["end"])
        else:  # insert, before reference word a0
            a = low
            b = float(reference[a0]["start"]) if a0 < len(reference) else end
            if a0 == len(reference) and open_end:  # not the whole pause up to the next turn
                most = a + edits.INSERTED_WORD_S * len(tokens)
                b = min(b, most) if b > a else most
        words += edits.spread(tokens, a, max(a, b), speaker)
    for before, word in zip(words, words[1:]):  # starts in order, as a transcript's words must be
        word["start"] = max(float(word["start"]), float(before["start"]))
        word["end"] = max(float(word["end"]), float(word["start"]))
    return words


def segments_from(turns: list[FileTurn], speakers: dict[str, dict[str, Any]], current: list[dict[str, Any]],
                  end_of_recording: float | None = None) -> list[dict[str, Any]]:
    """New segments from a file's turns (in time order), the transcript's ``speakers`` ({label: {"name",
    "role"}}) and its current segments; InterchangeError when the file has no turn with words, names an unknown
    speaker or a time out of range."""
    turns = [t for t in turns if t.text.split()]
    if not turns:
        raise InterchangeError("the file holds no turns with text")
    _check_times(turns, end_of_recording)
    lookup = interchange.speaker_lookup(speakers)
    labels = [interchange.speaker_of(t, lookup, speakers) for t in turns]
    current = sorted(current, key=_start)
    matched = _matches(turns, current)
    starts = [_start(current[i]) if i is not None else t.start for t, i in zip(turns, matched)]
    last_end = max([float(end_of_recording or 0.0)] + [float(s["end"]) for s in current])
    timed_words = [w for seg in current for w in (seg.get("words") or [])]
    by_time = {_word_key(w): w for w in timed_words}
    out = []
    for k, (t, i, label, start) in enumerate(zip(turns, matched, labels, starts)):
        seg = current[i] if i is not None else None
        open_end = t.end is None
        if open_end:
            end = max(start, starts[k + 1] if k + 1 < len(turns) else max(last_end, start))
        else:
            end = float(seg["end"]) if seg is not None and abs(float(seg["end"]) - t.end) <= TOLERANCE else t.end
        if seg is not None and seg["speaker"] == label and seg.get("text", "").split() == t.text.split() and \
                (open_end or end == float(seg["end"])) and (t.words is None or _same_words(t.words, seg)):
            out.append(copy.deepcopy(seg))
            continue
        if t.words is not None:  # the file's words; those it left as they were keep their probability
            reference = [by_time.get(_word_key(w), w) for w in t.words]
        else:
            reference = [w for w in timed_words if start <= (float(w["start"]) + float(w["end"])) / 2 <= end]
        words = _timed(t.text, reference, start, end, open_end, label)
        extra = {key: v for key, v in (seg or {}).items() if key not in ("start", "end", "speaker", "text", "words")}
        out.append({**extra, "start": round(float(words[0]["start"]) if open_end else min(start, words[0]["start"]), 3),
                    "end": round(float(words[-1]["end"]) if open_end else max(end, words[-1]["end"]), 3),
                    "speaker": label, "text": words_text(words), "words": words})
    return sorted(out, key=_start)
