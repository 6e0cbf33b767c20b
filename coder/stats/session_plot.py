"""A session's timeline as a picture: who speaks when, where they overlap, the long silences, and each
speaker's vocal arousal over time; and a dyad's measures across its sessions (``trajectories``). SVG for pages
and exports, PNG for documents.

Drawn with matplotlib's object API (a ``Figure`` of its own, no pyplot), so that pictures drawn at once in a
server's threads share no state. The inputs are plain numbers, so the picture can be drawn from any
transcript revision's turns and from the measures computed on it.
"""
from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import matplotlib
from matplotlib.figure import Figure

# Colour-blind-safe pairs (Okabe & Ito 2008); the first lanes are the therapist's and the client's.
LANE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
OVERLAP_COLOUR = "#7a1f5c"
SILENCE_COLOUR = "#8c8c8c"
ROLE_ORDER = ("therapist", "client")


class TimelineError(ValueError):
    """The timeline cannot be drawn from what was given; the message says why."""


@dataclass(frozen=True)
class Span:
    start: float
    end: float


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def _plain(text: str) -> str:
    """Text matplotlib shows as it is: a file name or speaker with two dollar signs is not mathematics."""
    return text.replace("$", r"\$")


def lane_order(names: Sequence[str]) -> list[str]:
    """Therapist first, then client, then any other speaker in the order first seen."""
    seen = list(dict.fromkeys(names))
    return [n for n in ROLE_ORDER if n in seen] + [n for n in seen if n not in ROLE_ORDER]


def _spans(pairs: Sequence[tuple[float, float]], duration: float, what: str) -> list[Span]:
    out = []
    for start, end in pairs:
        start, end = float(start), float(end)
        if not (0 <= start <= end) or start > duration + 1e-6:
            raise TimelineError(f"{what} {start:g}–{end:g} s lies outside the session (0–{duration:g} s)")
        out.append(Span(start, min(end, duration)))
    return out


def figure(turns: Sequence[tuple[str, float, float]], duration: float, *, title: str = "",
           overlaps: Sequence[tuple[float, float]] = (), silences: Sequence[tuple[float, float]] = (),
           arousal: Mapping[str, Sequence[tuple[float, float]]] | None = None, width_in: float = 10.0) -> Figure:
    """The timeline of one session: a lane per speaker (``turns``: (speaker, start s, end s)), a lane of the
    stretches where two speak at once (``overlaps``) and one of the long silences (``silences``), over
    ``duration`` seconds drawn in minutes; below them, where ``arousal`` is given, each speaker's arousal index
    per turn ((time s, value) points) as a line."""
    if duration <= 0:
        raise TimelineError("the session has no duration")
    if not turns:
        raise TimelineError("the session has no turns to draw")
    lanes = lane_order([t[0] for t in turns])
    colours = {name: LANE_COLOURS[i % len(LANE_COLOURS)] for i, name in enumerate(lanes)}
    rows = lanes + ["overlap", "long silence"]
    minutes = duration / 60
    with_arousal = bool(arousal) and any(arousal.values())
    fig = Figure(figsize=(width_in, 0.45 * len(rows) + (2.2 if with_arousal else 0) + 0.9), layout="constrained")
    axes = fig.subplots(2 if with_arousal else 1, 1, sharex=True, squeeze=False,
                        height_ratios=[len(rows), 4] if with_arousal else None)[:, 0]
    top = axes[0]
    for name in lanes:
        spans = _spans([(s, e) for who, s, e in turns if who == name], duration, f"{name}'s turn")
        top.broken_barh([(s.start / 60, (s.end - s.start) / 60) for s in spans], (rows.index(name) - 0.4, 0.8),
                        facecolors=colours[name], label=name, gid=f"lane-{name}")
    for row, pairs, colour in (("overlap", overlaps, OVERLAP_COLOUR), ("long silence", silences, SILENCE_COLOUR)):
        spans = _spans(pairs, duration, row)
        top.broken_barh([(s.start / 60, (s.end - s.start) / 60) for s in spans], (rows.index(row) - 0.4, 0.8),
                        facecolors=colour, gid=f"lane-{row.split()[-1]}")
    top.set_yticks(range(len(rows)), [_plain(r) for r in rows])
    top.set_ylim(len(rows) - 0.5, -0.5)
    top.set_xlim(0, minutes)
    top.grid(axis="x", alpha=0.3)
    if title:
        top.set_title(_plain(title), loc="left", fontsize="medium")
    if with_arousal:
        low = axes[1]
        for name in lane_order(list(arousal)):
            points = sorted((float(t), float(v)) for t, v in arousal[name])
            if points:
                low.plot([t / 60 for t, _ in points], [v for _, v in points], marker=".", linewidth=1,
                         color=colours.get(name, "#333333"), label=_plain(name), gid=f"arousal-{name}")
        low.axhline(0, color="#bbbbbb", linewidth=0.8)
        low.set_ylabel("vocal arousal (z)")
        low.legend(loc="upper right", fontsize="small", frameon=False)
        low.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel("minutes")
    return fig


def time_axis(fig: Figure) -> tuple[float, float]:
    """Where the time axis runs, as fractions of the picture's width from its left edge: a page maps a click on
    the picture to a time with it. Read after the figure was saved (the layout is made then)."""
    box = fig.axes[0].get_position()
    return float(box.x0), float(box.x1)


def svg(fig: Figure, label: str, css_class: str = "timeline") -> str:
    """The figure as an SVG document to put in a page: no XML prolog, scaled to its container, with a role and
    a label for screen readers (``label``)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "coder", "svg.fonttype": "none"}):  # the same picture, the same text
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    label = html.escape(label, quote=True)
    text = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r'<svg \1', text, count=1)
    return text.replace("<svg ", f'<svg class="{css_class}" role="img" aria-label="{label}" ', 1)


def trajectories(panels: Sequence[tuple[str, Mapping[str, Sequence[tuple[float, float | None]]]]], *,
                 title: str = "", columns: int = 2, width_in: float = 10.0) -> Figure:
    """Measures across sessions: a panel per measure (``panels``: (its label, {series: [(session number,
    value)]})), a line per series (the therapist's, the client's, or the dyad's), the sessions on the x axis.
    A missing value (None) breaks the line there."""
    panels = [(label, series) for label, series in panels if any(v is not None for s in series.values()
                                                                 for _, v in s)]
    if not panels:
        raise TimelineError("there is no measure with a value to draw")
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(width_in, 2.3 * rows + (0.4 if title else 0)), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    names = lane_order([name for _, series in panels for name in series])
    colours = {name: LANE_COLOURS[i % len(LANE_COLOURS)] for i, name in enumerate(names)}
    markers = ("o", "s", "^", "D", "v", "P")
    for ax, (label, series) in zip(axes, panels):
        for name in lane_order(list(series)):
            points = sorted((float(x), float("nan") if v is None else float(v)) for x, v in series[name])
            ax.plot([x for x, _ in points], [v for _, v in points], color=colours[name],
                    marker=markers[names.index(name) % len(markers)], linewidth=1.5, label=_plain(name),
                    gid=f"{_slug(label)}-{_slug(name)}")
        ax.set_title(_plain(label), loc="left", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize="small", frameon=False)
        ax.set_xlabel("session")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(_plain(title), x=0.01, ha="left", fontsize="large")
    return fig


def png(fig: Figure, dpi: int = 150) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


@dataclass
class Picture:
    """A figure with its text alternative (``label``), to put in a page as SVG or to save as SVG or PNG."""
    figure: Figure
    label: str
    css_class: str = "timeline"
    dpi: int = field(default=150)

    @cached_property
    def svg(self) -> str:
        return svg(self.figure, self.label, self.css_class)

    @cached_property
    def time_axis(self) -> tuple[float, float]:
        """``time_axis`` of the figure as its SVG lays it out."""
        self.svg  # noqa: B018 - saving lays the figure out
        return time_axis(self.figure)

    def png(self) -> bytes:
        return png(self.figure, self.dpi)

    def file(self, fmt: str) -> tuple[bytes, str]:
        """The picture as a file's bytes and media type: ``svg`` or ``png``."""
        if fmt == "svg":
            return self.svg.encode(), "image/svg+xml"
        if fmt == "png":
            return self.png(), "image/png"
        raise ValueError(f"a picture is saved as svg or png, not {fmt!r}")
