"""What a session's timeline shows, as plain numbers for a drawing (coder.stats.session_plot draws them; the
pipeline draws nothing itself): each speaker's speech (the IPUs of timeline.py), the overlaps, the long
silences (at least ``LONG_SILENCE_S``) and, where the measures were computed with the audio, each speaker's
vocal arousal per turn at the turn's midpoint."""
from __future__ import annotations

from dataclasses import dataclass, field

from coder.pipeline.measures.timeline import LONG_SILENCE_S, Conversation


@dataclass(frozen=True)
class TimelineParts:
    duration: float  # seconds: the session's, or the end of the last speech where that is later
    speech: list[tuple[str, float, float]]  # (speaker, start s, end s)
    overlaps: list[tuple[float, float]]
    long_silences: list[tuple[float, float]]
    arousal: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # speaker: [(time s, z)]
    speakers: list[str] = field(default_factory=list)


def timeline_parts(conv: Conversation, duration: float, turns: list[dict] | None = None) -> TimelineParts:
    """The parts of ``conv``'s timeline; ``turns`` (``measures.compute``'s) add the arousal where they carry it."""
    speech = [(sp, s.start, s.end) for sp in conv.speakers for s in conv.speech[sp]]
    duration = max(duration, max((end for _, _, end in speech), default=0.0))
    arousal: dict[str, list[tuple[float, float]]] = {}
    for t in turns or []:
        if t.get("arousal") is not None:
            arousal.setdefault(t["speaker"], []).append(((t["start"] + t["end"]) / 2, float(t["arousal"])))
    return TimelineParts(duration=duration, speech=speech,
                         overlaps=[(o.start, o.end) for o in conv.overlaps],
                         long_silences=[(s.start, s.end) for s in conv.silences if s.duration >= LONG_SILENCE_S],
                         arousal=arousal, speakers=list(conv.speakers))
