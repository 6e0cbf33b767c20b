"""A session's timeline as a standalone SVG: who speaks when (a lane per speaker), where they overlap, the long
silences, and each speaker's vocal arousal per turn over time. Styles are inline, so the file shows the same
wherever it is opened."""
from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from coder.pipeline.measures.timeline import LONG_SILENCE_S, Conversation

COLOURS = ("#1f6fb2", "#c2571a", "#3a8a3a", "#7b4fa0")  # lanes in speaker order; colour-blind-distinguishable pair
OVERLAP = "#c0392b"
SILENCE = "#d9d9d9"
WIDTH, LEFT, RIGHT = 1000, 90, 16
LANE, GAP, AROUSAL_H = 26, 8, 120
AROUSAL_RANGE = 3.0  # z from -3 to 3


def _f(x: float) -> str:
    return f"{x:.1f}"


def timeline_svg(conv: Conversation, duration: float, turns: list[dict] | None = None, title: str = "") -> str:
    """The SVG text; ``turns`` (from ``measures.compute``) adds the arousal panel where they carry arousal."""
    duration = max(duration, max((s.end for items in conv.speech.values() for s in items), default=0.0), 1.0)
    plot_w = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + t / duration * plot_w

    speakers = conv.speakers
    if {"therapist", "client"} <= set(speakers):
        speakers = ["therapist", "client", *[s for s in speakers if s not in ("therapist", "client")]]
    colour = {sp: COLOURS[i % len(COLOURS)] for i, sp in enumerate(speakers)}
    top = 30
    lanes_h = len(speakers) * (LANE + GAP)
    arousal = [t for t in turns or [] if t.get("arousal") is not None]
    height = top + lanes_h + 30 + (AROUSAL_H + 20 if arousal else 0)
    label = title or "Session timeline"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
             f'height="{height}" role="img" aria-label={quoteattr(label)} font-family="sans-serif" font-size="11">',
             f"<title>{escape(label)}</title>",
             f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(label)}</text>']
    for s in conv.silences:
        if s.duration >= LONG_SILENCE_S:
            parts.append(f'<rect class="silence" x="{_f(x(s.start))}" y="{top}" width="{_f(x(s.end) - x(s.start))}" '
                         f'height="{lanes_h}" fill="{SILENCE}"><title>silence {s.duration:.1f} s</title></rect>')
    for i, sp in enumerate(speakers):
        y = top + i * (LANE + GAP)
        parts.append(f'<text x="{LEFT - 6}" y="{y + LANE / 2 + 4}" text-anchor="end">{escape(sp)}</text>')
        for s in conv.speech[sp]:
            width = max(x(s.end) - x(s.start), 0.5)
            parts.append(f'<rect class="speech" x="{_f(x(s.start))}" y="{y}" width="{_f(width)}" height="{LANE}" '
                         f'fill="{colour[sp]}"><title>{escape(sp)} {s.start:.1f}–{s.end:.1f} s</title></rect>')
    for o in conv.overlaps:
        width = max(x(o.end) - x(o.start), 1)
        parts.append(f'<rect class="overlap" x="{_f(x(o.start))}" y="{top - 4}" width="{_f(width)}" '
                     f'height="{lanes_h + 4}" fill="none" stroke="{OVERLAP}" stroke-width="1.5"><title>overlap '
                     f'{o.duration:.1f} s</title></rect>')
    axis_y = top + lanes_h + 4
    step = next(s for s in (30, 60, 120, 300, 600, 1200) if duration / s <= 12)
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{axis_y}" y2="{axis_y}" stroke="#555"/>')
    for k in range(int(duration // step) + 1):
        t = k * step
        parts.append(f'<line x1="{_f(x(t))}" x2="{_f(x(t))}" y1="{axis_y}" y2="{axis_y + 4}" stroke="#555"/>'
                     f'<text x="{_f(x(t))}" y="{axis_y + 16}" text-anchor="middle">{t / 60:g} min</text>')
    if arousal:
        base = axis_y + 30

        def y(z: float) -> float:
            z = max(-AROUSAL_RANGE, min(AROUSAL_RANGE, z))
            return base + (AROUSAL_RANGE - z) / (2 * AROUSAL_RANGE) * AROUSAL_H

        parts.append(f'<text x="{LEFT - 30}" y="{_f(y(0) + 4)}" text-anchor="end">arousal z</text>')
        for z in (-2, 0, 2):
            tick = f"{z:+d}" if z else "0"
            parts.append(f'<text x="{LEFT - 6}" y="{_f(y(z) + 4)}" text-anchor="end">{tick}</text>'
                         f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(y(z))}" y2="{_f(y(z))}" stroke="#bbb" '
                         f'stroke-dasharray="3 3"/>')
        for sp in speakers:
            points = [((t["start"] + t["end"]) / 2, t["arousal"]) for t in arousal if t["speaker"] == sp]
            if not points:
                continue
            path = " ".join(f"{'M' if i == 0 else 'L'}{_f(x(a))},{_f(y(z))}" for i, (a, z) in enumerate(points))
            parts.append(f'<path class="arousal" d="{path}" fill="none" stroke="{colour[sp]}" stroke-width="1.5">'
                         f'<title>{escape(sp)}: vocal arousal per turn</title></path>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
