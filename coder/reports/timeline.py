"""A session's timeline (docs/measures.md, Pictures): the picture of coder.stats.session_plot drawn from a
transcript document and its measures, with what a reader of the page gets instead of the picture: a caption
that says what it shows in words, and the moments in it (long silences, overlaps) to jump to."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from coder.pipeline.measures import TimelineParts, timeline_parts
from coder.reports.trajectories import measures_for
from coder.stats import session_plot
from coder.study.models import Recording
from coder.study.speakers import transcript_document


@dataclass
class Timeline(session_plot.Picture):
    """The picture (its ``label`` the caption), what it was drawn from, and the moments in it."""
    parts: TimelineParts | None = None
    moments: list[dict[str, Any]] = field(default_factory=list)  # {"at": s, "until": s, "what", "clock"}


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _count(spans: list[tuple[float, float]], what: str) -> str:
    return f"{len(spans)} {what}{'' if len(spans) == 1 else 's'} ({sum(b - a for a, b in spans):.1f} s)"


def caption(parts: TimelineParts, result: dict[str, Any] | None) -> str:
    """The picture in words: each speaker's share of the speaking time and turns, the overlaps, the long
    silences, and whether the arousal is drawn."""
    words = [f"Session timeline, {parts.duration / 60:.1f} minutes."]
    speakers = ((result or {}).get("session") or {}).get("speakers") or {}
    shares = []
    for name in session_plot.lane_order(parts.speakers):
        row = speakers.get(name) or {}
        share = row.get("speaking_share")
        shares.append(f"{name} {share * 100:.0f} % of the speaking time in {row.get('turns', 0)} turns"
                      if share is not None else name)
    if shares:
        words.append("Speaking: " + "; ".join(shares) + ".")
    words.append(f"{_count(parts.overlaps, 'overlap')}, {_count(parts.long_silences, 'long silence')}.")
    if parts.arousal:
        words.append("Below: each speaker's vocal arousal per turn (z).")
    else:
        words.append("Vocal arousal is not drawn: it needs the voice measures.")
    return " ".join(words)


def moments(parts: TimelineParts) -> list[dict[str, Any]]:
    """The long silences and the overlaps, in time order."""
    out = [{"at": a, "until": b, "what": f"long silence, {b - a:.1f} s"} for a, b in parts.long_silences]
    out += [{"at": a, "until": b, "what": f"overlap, {b - a:.1f} s"} for a, b in parts.overlaps]
    for m in out:
        m["clock"] = _clock(m["at"])
    return sorted(out, key=lambda m: (m["at"], m["what"]))


def timeline_of(doc: dict[str, Any], result: dict[str, Any] | None = None, title: str = "",
                width_in: float = 10.0) -> Timeline:
    """The timeline of a transcript document; ``result``, its measures (``compute``'s), adds the shares to the
    caption and, where computed with the audio, the arousal panel. session_plot.TimelineError when there is
    no speech to draw."""
    parts = timeline_parts(doc, result)
    fig = session_plot.figure(parts.speech, parts.duration, title=title, overlaps=parts.overlaps,
                              silences=parts.long_silences, arousal=parts.arousal, width_in=width_in)
    return Timeline(fig, caption(parts, result), parts=parts, moments=moments(parts))


def recording_timeline(db: Session, recording: Recording, title: str = "") -> Timeline:
    """The timeline of a stored recording's transcript (its current revision), with its measures."""
    return timeline_of(transcript_document(recording.transcript), measures_for(db, recording), title)
