"""Corrections to a transcript, as pure functions of its segments (the transcribe contract's ``segments``: turns
with a speaker, text and timed words). Each returns new segments and leaves its input as it was.

Timestamps: words a correction does not touch keep their times. Words it writes get times by interpolation:
the words they replace, or the gap they are inserted into, hold a span of time, and the new words share it in
proportion to their length in characters, above a floor each (a tenth of a second, or half an even share of a
shorter span). Whisper's
word probability is kept for untouched words; written words have none (they were checked by a person).

- ``replace_words``: words ``first``..``last`` of a turn become the words of a text (an empty text deletes them,
  ``first == last + 1`` inserts before word ``first``);
- ``edit_text``: a turn's text replaced by a corrected text: a word diff, so that only the words that changed
  get new times (an empty text removes the turn);
- ``split_turn``: a turn into two at a word;
- ``merge_turns``: a turn and the next into one, with the first one's speaker;
- ``move_words``: words of a turn to another speaker, splitting the turn around them;
- ``set_speaker``: a whole turn to another speaker (the role of one turn: its speaker's role);
- ``insert_turn``: a turn for speech the recogniser missed, at a time;
- ``check_turn``: mark a turn checked by a person (or not);
- ``changes``: what changed between two versions, turn by turn, for a revision's history.
"""
from __future__ import annotations

import copy
import difflib
from typing import Any

from coder.pipeline.words import words_text

MIN_WORD_S = 0.1
INSERTED_WORD_S = 0.35  # the length given to each word of an inserted turn, up to the next turn


class EditError(ValueError):
    """The correction does not fit the transcript (no such turn or word); the message says which."""


def _turn(segments: list[dict[str, Any]], index: int) -> dict[str, Any]:
    if not 0 <= index < len(segments):
        raise EditError(f"no turn {index} (the transcript has {len(segments)})")
    return segments[index]


def _words(turn: dict[str, Any]) -> list[dict[str, Any]]:
    """A turn's words; a turn without word times gets one word per whitespace-separated token, spread evenly."""
    words = turn.get("words")
    if words:
        return words
    tokens = turn.get("text", "").split()
    return spread(tokens, float(turn["start"]), float(turn["end"]), turn.get("speaker"))


def spread(tokens: list[str], start: float, end: float, speaker: str | None) -> list[dict[str, Any]]:
    """Timed words for ``tokens`` sharing [start, end] in proportion to their length (see the module's text)."""
    if not tokens:
        return []
    span = max(0.0, end - start)
    weights = [max(len(t), 1) for t in tokens]
    total = sum(weights)
    floor = min(MIN_WORD_S, span / (2 * len(tokens)))
    spare = span - floor * len(tokens)
    out, t = [], start
    for token, weight in zip(tokens, weights):
        length = floor + spare * weight / total
        out.append({"start": round(t, 3), "end": round(min(end, t + length), 3), "text": token, "speaker": speaker})
        t += length
    out[-1]["end"] = round(end, 3)
    return out


def _rebuilt(turn: dict[str, Any], words: list[dict[str, Any]]) -> dict[str, Any]:
    """The turn with these words: its text, start and end follow them."""
    out = {k: v for k, v in turn.items() if k not in ("words", "text")}
    for w in words:
        w["speaker"] = turn.get("speaker")
    out["words"] = words
    out["text"] = words_text(words) if words else ""
    if words:
        out["start"], out["end"] = words[0]["start"], words[-1]["end"]
    return out


def replace_words(segments: list[dict[str, Any]], turn: int, first: int, last: int, text: str) -> list[dict[str, Any]]:
    """Words ``first`` to ``last`` (inclusive) of a turn replaced by the words of ``text``; a turn left without
    words is removed."""
    out = copy.deepcopy(segments)
    seg = _turn(out, turn)
    words = _words(seg)
    if not (0 <= first <= len(words) and first - 1 <= last < len(words)):
        raise EditError(f"turn {turn} has no words {first}–{last} (it has {len(words)})")
    if words[first:last + 1]:
        start, end = words[first]["start"], words[last]["end"]
    else:  # an insertion between word first - 1 and word first
        start = words[first - 1]["end"] if first > 0 else seg["start"]
        end = words[first]["start"] if first < len(words) else seg["end"]
    written = spread(text.split(), float(start), float(end), seg.get("speaker"))
    kept = words[:first] + written + words[last + 1:]
    if not kept:
        del out[turn]
        return out
    out[turn] = _rebuilt(seg, kept)
    return out


def edit_text(segments: list[dict[str, Any]], turn: int, text: str) -> list[dict[str, Any]]:
    """The turn's words made those of ``text``: words the diff finds unchanged keep their times, each run of
    changed words is replaced where it stood (``replace_words``)."""
    seg = _turn(segments, turn)
    old = [w["text"].strip() for w in _words(seg)]
    new = text.split()
    if not new:
        out = copy.deepcopy(segments)
        del out[turn]
        return out
    out = segments
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a0, a1, b0, b1 in reversed(matcher.get_opcodes()):  # from the end, so earlier indices hold
        if op != "equal":
            out = replace_words(out, turn, a0, a1 - 1, " ".join(new[b0:b1]))
    return copy.deepcopy(out) if out is segments else out


def check_turn(segments: list[dict[str, Any]], turn: int, checked: bool = True) -> list[dict[str, Any]]:
    """The turn marked as checked against the audio by a person (``checked: false`` takes the mark away)."""
    out = copy.deepcopy(segments)
    seg = _turn(out, turn)
    if checked:
        seg["checked"] = True
    else:
        seg.pop("checked", None)
    return out


def split_turn(segments: list[dict[str, Any]], turn: int, at: int) -> list[dict[str, Any]]:
    """The turn split in two before word ``at`` (both parts keep the speaker)."""
    out = copy.deepcopy(segments)
    seg = _turn(out, turn)
    words = _words(seg)
    if not 0 < at < len(words):
        raise EditError(f"turn {turn} cannot be split before word {at}: it has {len(words)} words")
    out[turn:turn + 1] = [_rebuilt(seg, words[:at]), _rebuilt(seg, words[at:])]
    return out


def merge_turns(segments: list[dict[str, Any]], turn: int) -> list[dict[str, Any]]:
    """The turn and the one after it made one, with the first one's speaker."""
    out = copy.deepcopy(segments)
    first, second = _turn(out, turn), _turn(out, turn + 1)
    out[turn:turn + 2] = [_rebuilt(first, _words(first) + _words(second))]
    return out


def set_speaker(segments: list[dict[str, Any]], turn: int, speaker: str) -> list[dict[str, Any]]:
    """The whole turn given to ``speaker``."""
    out = copy.deepcopy(segments)
    seg = _turn(out, turn)
    seg["speaker"] = speaker
    out[turn] = _rebuilt(seg, _words(seg))
    return out


def move_words(segments: list[dict[str, Any]], turn: int, first: int, last: int, speaker: str) -> list[dict[str, Any]]:
    """Words ``first`` to ``last`` of a turn given to ``speaker``: the turn is split around them (into up to
    three turns), the moved words keeping their times."""
    out = copy.deepcopy(segments)
    seg = _turn(out, turn)
    words = _words(seg)
    if not 0 <= first <= last < len(words):
        raise EditError(f"turn {turn} has no words {first}–{last} (it has {len(words)})")
    moved = dict(seg, speaker=speaker)
    parts = [(seg, words[:first]), (moved, words[first:last + 1]), (seg, words[last + 1:])]
    out[turn:turn + 1] = [_rebuilt(template, part) for template, part in parts if part]
    return out


def insert_turn(segments: list[dict[str, Any]], at_s: float, speaker: str, text: str,
                end_s: float | None = None) -> list[dict[str, Any]]:
    """A new turn of ``speaker`` saying ``text`` from ``at_s`` (to ``end_s``, else a third of a second a word,
    up to the next turn's start), placed among the turns by its start."""
    tokens = text.split()
    if not tokens:
        raise EditError("an inserted turn needs words")
    out = copy.deepcopy(segments)
    position = next((i for i, s in enumerate(out) if float(s["start"]) > at_s), len(out))
    if end_s is None:
        end_s = at_s + INSERTED_WORD_S * len(tokens)
        if position < len(out):
            end_s = min(end_s, float(out[position]["start"]))
        end_s = max(end_s, at_s + MIN_WORD_S * len(tokens))
    if end_s <= at_s:
        raise EditError("an inserted turn must end after it starts")
    new = {"start": round(at_s, 3), "end": round(end_s, 3), "speaker": speaker}
    out.insert(position, _rebuilt(new, spread(tokens, at_s, end_s, speaker)))
    return out


def changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What changed, turn by turn: ``{"op": "changed"|"added"|"removed", "before": {"turn", "speaker", "text",
    "start", "checked" (only when checked)}, "after": {...}}`` (the side that does not exist is None), from a diff
    of (speaker, text, checked) triples."""
    def key(seg):
        return seg.get("speaker"), seg.get("text", "").strip(), bool(seg.get("checked"))

    def side(segs, i):
        out = {"turn": i, "speaker": segs[i].get("speaker"), "text": segs[i].get("text", "").strip(),
               "start": segs[i].get("start")}
        return {**out, "checked": True} if segs[i].get("checked") else out

    out = []
    matcher = difflib.SequenceMatcher(a=[key(s) for s in before], b=[key(s) for s in after], autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        for k in range(max(a1 - a0, b1 - b0)):
            old = side(before, a0 + k) if a0 + k < a1 else None
            new = side(after, b0 + k) if b0 + k < b1 else None
            out.append({"op": "changed" if old and new else ("added" if new else "removed"), "before": old,
                        "after": new})
    return out
