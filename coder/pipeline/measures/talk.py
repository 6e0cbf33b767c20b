"""Talk, turn-taking and question measures of a time range (a rating unit or the whole session).

Events belong to the range that holds their start (a turn, a switch, a silence, an overlap, an intrusion, a
question, a word by its midpoint); amounts of time (speaking, overlapping, silent) are clipped to the range.
A turn that starts in the range counts with its whole length. Per speaker (or role: see ``measures``):

- ``speaking_time_s`` = Σ clipped length of the speaker's IPUs (overlapped time counts for each speaker)
- ``speaking_share`` = speaking_time_s / Σ over speakers of speaking_time_s
- ``words``: words (word timings, else the segment's whitespace tokens at its midpoint) in the range
- ``speech_rate_wpm`` = words / (speaking_time_s / 60): words per minute of the speaker's own speech
- ``turns``, ``turn_length_mean_s``, ``turn_length_median_s``: the speaker's turns (timeline.Turn) and their
  length end - start
- ``switching_pause_*``: offsets >= 0 of the switches *into* the speaker's turns (their response latency):
  n, mean, median; ``floor_transfer_offset_mean_s`` the mean over all switches into their turns (overlapped
  switches negative)
- ``overlap_time_s``: clipped time the speaker speaks while someone else does too
- ``interruptions_made`` / ``interrupted``, ``backchannels_made`` / ``backchannels_received``,
  ``overlaps_made`` (timeline.Intrusion kinds)
- ``questions``, ``questions_per_10_min`` = questions / (range length in minutes) × 10 (questions.py)

For the range as a whole: speech and silence time, silences (gaps and pauses), long silences (>=
``LONG_SILENCE_S``, count and total), overlap episodes (count, total), switches, interruptions and
back-channels with who did it to whom.
"""
from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from coder.pipeline.measures.questions import Question
from coder.pipeline.measures.timeline import LONG_SILENCE_S, Conversation
from coder.pipeline.spans import merged, overlap_seconds


def _within(t: float, start: float, end: float) -> bool:
    return start <= t < end


def _clip(spans, start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


def _mean(xs):
    return statistics.fmean(xs) if xs else None


def _median(xs):
    return statistics.median(xs) if xs else None


def _pairs(items) -> dict[str, dict[str, int]]:
    """{who: {over whom: count}}."""
    out: dict[str, dict[str, int]] = {}
    for (a, b), n in sorted(Counter((x.speaker, x.other) for x in items).items()):
        out.setdefault(a, {})[b] = n
    return out


def measures(conv: Conversation, words: dict[str, list[float]], questions: list[Question],
             start: float, end: float) -> dict[str, Any]:
    """The module's measures for [start, end); ``words`` maps a speaker to their words' midpoints."""
    length = end - start
    speakers: dict[str, dict[str, Any]] = {}
    turns = [t for t in conv.turns if _within(t.start, start, end)]
    switches = [s for s in conv.transitions if _within(s.time, start, end)]
    intrusions = [x for x in conv.intrusions if _within(x.start, start, end)]
    overlap_spans = [(o.start, o.end) for o in conv.overlaps]
    speaking = {sp: _clip([(s.start, s.end) for s in conv.speech[sp]], start, end) for sp in conv.speakers}
    total_speaking = sum(speaking.values())
    for sp in conv.speakers:
        own = [t.duration for t in turns if t.speaker == sp]
        into = [s.offset for s in switches if s.next == sp]
        pauses = [x for x in into if x >= 0]
        n_words = sum(1 for w in words.get(sp, []) if _within(w, start, end))
        n_questions = sum(1 for q in questions if q.speaker == sp and _within(q.time, start, end))
        mine = [(s.start, s.end) for s in conv.speech[sp]]
        speakers[sp] = {
            "speaking_time_s": speaking[sp],
            "speaking_share": speaking[sp] / total_speaking if total_speaking > 0 else None,
            "words": n_words,
            "speech_rate_wpm": n_words / (speaking[sp] / 60) if speaking[sp] > 0 else None,
            "turns": len(own),
            "turn_length_mean_s": _mean(own),
            "turn_length_median_s": _median(own),
            "switching_pause_n": len(pauses),
            "switching_pause_mean_s": _mean(pauses),
            "switching_pause_median_s": _median(pauses),
            "floor_transfer_offset_mean_s": _mean(into),
            "overlap_time_s": overlap_seconds(mine, overlap_spans, start, end),
            "interruptions_made": sum(1 for x in intrusions if x.kind == "interruption" and x.speaker == sp),
            "interrupted": sum(1 for x in intrusions if x.kind == "interruption" and x.other == sp),
            "backchannels_made": sum(1 for x in intrusions if x.kind == "backchannel" and x.speaker == sp),
            "backchannels_received": sum(1 for x in intrusions if x.kind == "backchannel" and x.other == sp),
            "overlaps_made": sum(1 for x in intrusions if x.kind == "overlap" and x.speaker == sp),
            "questions": n_questions,
            "questions_per_10_min": n_questions / (length / 600) if length > 0 else None,
        }
    silences = [s for s in conv.silences if _within(s.start, start, end)]
    long = [s for s in silences if s.duration >= LONG_SILENCE_S]
    overlaps = [o for o in conv.overlaps if _within(o.start, start, end)]
    offsets = [s.offset for s in switches]
    gaps = [x for x in offsets if x >= 0]
    speech_union = _clip(merged([(s.start, s.end) for items in conv.speech.values() for s in items]), start, end)
    return {
        "start": start,
        "end": end,
        "duration_s": length,
        "speakers": speakers,
        "speech_time_s": speech_union,
        "silence_time_s": _clip([(s.start, s.end) for s in conv.silences], start, end),
        "silences": len(silences),
        "gaps": sum(1 for s in silences if s.kind == "gap"),
        "pauses": sum(1 for s in silences if s.kind == "pause"),
        "long_silence_threshold_s": LONG_SILENCE_S,
        "long_silences": len(long),
        "long_silence_time_s": sum(s.duration for s in long),
        "long_gaps": sum(1 for s in long if s.kind == "gap"),
        "long_pauses": sum(1 for s in long if s.kind == "pause"),
        "overlaps": len(overlaps),
        "overlap_time_s": _clip(overlap_spans, start, end),
        "switches": len(switches),
        "overlapped_switches": sum(1 for x in offsets if x < 0),
        "switching_pause_mean_s": _mean(gaps),
        "switching_pause_median_s": _median(gaps),
        "floor_transfer_offset_mean_s": _mean(offsets),
        "interruptions": sum(1 for x in intrusions if x.kind == "interruption"),
        "backchannels": sum(1 for x in intrusions if x.kind == "backchannel"),
        "interruptions_by": _pairs(x for x in intrusions if x.kind == "interruption"),
        "backchannels_by": _pairs(x for x in intrusions if x.kind == "backchannel"),
    }


