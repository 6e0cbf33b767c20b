"""Session process measures from a transcript document (CONTRACTS.md §1) and, where given, its recording.

Pure: no storage. ``compute`` gives talk, turn-taking and question measures per speaker or role for the
session and for any time ranges (rating units), and with the audio also F0, intensity, vocal arousal per
turn and the dyad's vocal synchrony. The definitions are in the modules' docstrings and docs/measures.md;
``DEFINITIONS_VERSION`` changes whenever one of them does, so stored figures say which definitions they used.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from coder.pipeline.formats import corrected
from coder.pipeline.measures import synchrony as synchrony_module
from coder.pipeline.measures.picture import TimelineParts, timeline_parts as _parts
from coder.pipeline.measures.questions import questions as find_questions
from coder.pipeline.measures.talk import measures as range_measures
from coder.pipeline.measures.timeline import Conversation, build
from coder.pipeline.measures.voice import f0_track, speaker_voice, turn_arousal

DEFINITIONS_VERSION = 1
GROUPINGS = ("role", "speaker")


def labeller(doc: dict[str, Any], by: str = "role") -> Callable[[str], str]:
    """Maps a diarised speaker to what is counted: their role ("therapist", "client"; the speaker where none)
    or the speaker itself."""
    if by == "speaker":
        return str
    if by != "role":
        raise ValueError(f"measures are grouped by one of {', '.join(GROUPINGS)}, not {by!r}")
    roles = {sp: (info or {}).get("role") for sp, info in (doc.get("speakers") or {}).items()}
    return lambda sp: roles.get(sp) or sp


def word_times(segments: list[dict[str, Any]], label: Callable[[str], str]) -> dict[str, list[float]]:
    """Each label's word midpoints: from word timings, else the segment's tokens at the segment's midpoint."""
    out: dict[str, list[float]] = defaultdict(list)
    for seg in segments:
        if seg.get("speaker") is None:
            continue
        who = label(seg["speaker"])
        if seg.get("words"):
            out[who] += [(float(w["start"]) + float(w["end"])) / 2 for w in seg["words"]]
        else:
            out[who] += [(float(seg["start"]) + float(seg["end"])) / 2] * len((seg.get("text") or "").split())
    return out


def speech_of(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Who speaks when, and from where. The segments, unless the document has diariser turns (or a user's RTTM)
    in which two speakers overlap and nobody has corrected the transcript since: only such turns hold the
    overlapping speech that the segments (each word given to one speaker) cannot. Turns without overlaps add
    nothing and their ends are padded: the builtin diariser's made the switching pauses 0.26-0.29 s short on the
    scripted sessions, the segments' were 0.04 s short to 0.14 s long (docs/benchmarks.md)."""
    turns = (doc.get("diarization") or {}).get("turns")
    if turns and not corrected(doc):
        try:
            spans = [{"start": t[0], "end": t[1], "speaker": t[2]} for t in turns]
        except (IndexError, KeyError, TypeError):
            raise MeasuresError("the diarization's turns must be [start, end, speaker] lists") from None
        check(spans, [], None, "diarization turn")
        if _overlapping(spans):
            return spans, "diarization"
    return doc.get("segments") or [], "segments"


def _overlapping(spans: list[dict[str, Any]]) -> bool:
    """Whether two different speakers' spans overlap."""
    latest: dict[str, float] = {}  # the furthest end of each speaker's spans so far, in start order
    for span in sorted(spans, key=lambda s: float(s["start"])):
        start = float(span["start"])
        if any(end > start for who, end in latest.items() if who != span["speaker"]):
            return True
        latest[span["speaker"]] = max(latest.get(span["speaker"], start), float(span["end"]))
    return False


def session_span(doc: dict[str, Any]) -> tuple[float, float]:
    ends = [float(s["end"]) for s in doc.get("segments") or []]
    return 0.0, float(doc.get("duration") or max(ends, default=0.0))


def compute(doc: dict[str, Any], audio: np.ndarray | None = None, rate: int = 16000,
            ranges: Iterable[tuple[float, float]] = (), by: str = "role", estimator: str = "praat",
            surrogates: int = synchrony_module.SURROGATES) -> dict[str, Any]:
    """All measures of one transcript document: the session's, each range's, and the turns'.

    ``audio``: the recording as mono samples at ``rate`` (voice measures are left out without it).
    """
    segments = doc.get("segments") or []
    ranges = [(float(a), float(b)) for a, b in ranges]
    check(segments, ranges, audio)
    speech, source = speech_of(doc)
    label = labeller(doc, by)
    conv = build(speech, label)
    words = word_times(segments, label)
    questions = find_questions(segments, label)
    spans = [session_span(doc), *ranges]
    results = [range_measures(conv, words, questions, a, b) for a, b in spans]
    turns = [{"speaker": t.speaker, "start": t.start, "end": t.end} for t in conv.turns]
    out: dict[str, Any] = {"definitions_version": DEFINITIONS_VERSION, "by": by,
                           "revision": (doc.get("review") or {}).get("revision", 0), "speech_from": source}
    if audio is not None:
        track = f0_track(audio, rate, estimator, [span for spans in conv.solo.values() for span in spans])
        turns = turn_arousal(conv, track)
        for (a, b), result in zip(spans, results):
            voice = speaker_voice(conv, track, audio, rate, a, b)
            for sp, row in result["speakers"].items():
                row.update(voice[sp])
                values = [t["arousal"] for t in turns if t["speaker"] == sp and t["arousal"] is not None
                          and a <= t["start"] < b]
                row["arousal_mean"] = statistics.fmean(values) if values else None
        out["estimator"] = estimator
        out["synchrony"] = dyad(conv, turns, surrogates)
    out["session"] = results[0]
    out["units"] = results[1:]
    out["turns"] = turns
    return out


def timeline_parts(doc: dict[str, Any], result: dict[str, Any] | None = None) -> TimelineParts:
    """What the session timeline shows (picture.timeline_parts): speech, overlaps and long silences from
    ``doc``, and the arousal per turn from ``result`` (``compute``'s, with the audio) where given."""
    speech, _source = speech_of(doc)
    by = (result or {}).get("by", "role")
    conv = build(speech, labeller(doc, by))
    return _parts(conv, session_span(doc)[1], (result or {}).get("turns"))


class MeasuresError(ValueError):
    """Input the measures cannot be computed from; the message says which part and why."""


def check(segments: list[dict[str, Any]], ranges: list[tuple[float, float]], audio, what: str = "segment") -> None:
    for i, seg in enumerate(segments):
        try:
            start, end = float(seg["start"]), float(seg["end"])
        except (KeyError, TypeError, ValueError):
            raise MeasuresError(f"{what} {i}: needs a numeric start and end (seconds)") from None
        if not (np.isfinite(start) and np.isfinite(end)) or end < start or start < 0:
            raise MeasuresError(f"{what} {i}: start {start} and end {end} are not a time span")
        for j, word in enumerate(seg.get("words") or []):
            try:
                float(word["start"]), float(word["end"])
            except (KeyError, TypeError, ValueError):
                raise MeasuresError(f"segment {i}, word {j}: needs a numeric start and end (seconds)") from None
    for a, b in ranges:
        if not b > a:
            raise MeasuresError(f"range {a}-{b}: the end must come after the start")
    if audio is not None and np.ndim(audio) != 1:
        raise MeasuresError(f"the audio must be mono samples (one dimension), not of shape {np.shape(audio)}")


def dyad(conv: Conversation, turns: list[dict], surrogates: int) -> dict | None:
    """Synchrony between the two speakers (therapist and client where the roles are known); None unless two."""
    if len(conv.speakers) != 2:
        return None
    a, b = ("therapist", "client") if set(conv.speakers) == {"therapist", "client"} else conv.speakers
    return synchrony_module.dyad_synchrony(turns, a, b, surrogates=surrogates)
