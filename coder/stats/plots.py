"""Small SVG plots for the reliability and analysis pages, drawn on the server: no script, nothing fetched
from elsewhere, and they print and save with the page."""
from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape


def _fmt(x: float) -> str:
    return f"{x:.1f}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


class _Axes:
    """A plotting area with x and y scales, grid lines and tick labels."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], title: str, width: int, height: int,
                 x_label: str, y_label: str = "", pad_x: float = 0.05, pad_y: float = 0.1):
        self.left, self.right, self.top, self.bottom = 48, 12, 26, 34
        self.width, self.height = width, height
        x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        if x_hi == x_lo:
            x_lo, x_hi = x_lo - 1, x_hi + 1
        y_lo, y_hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
        if y_hi == y_lo:
            y_lo, y_hi = y_lo - 1, y_hi + 1
        dx, dy = (x_hi - x_lo) * pad_x, (y_hi - y_lo) * pad_y
        self.x_lo, self.x_hi, self.y_lo, self.y_hi = x_lo - dx, x_hi + dx, y_lo - dy, y_hi + dy
        self.parts = [f'<svg class="plot" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
                      f"<title>{escape(title)}</title>",
                      f'<text x="{self.left}" y="16" class="plot-title">{escape(title)}</text>']
        for t in _ticks(self.y_lo, self.y_hi, 4):
            self.parts.append(f'<line class="grid" x1="{self.left}" x2="{width - self.right}" y1="{_fmt(self.py(t))}" '
                              f'y2="{_fmt(self.py(t))}"/><text class="tick" x="{self.left - 4}" '
                              f'y="{_fmt(self.py(t) + 3)}" text-anchor="end">{t:g}</text>')
        for t in _ticks(self.x_lo, self.x_hi, 4):
            self.parts.append(f'<text class="tick" x="{_fmt(self.px(t))}" y="{height - self.bottom + 14}" '
                              f'text-anchor="middle">{t:g}</text>')
        self.parts.append(f'<text class="axis" x="{(self.left + width - self.right) / 2}" y="{height - 4}" '
                          f'text-anchor="middle">{escape(x_label)}</text>')
        if y_label:
            self.parts.append(f'<text class="axis" transform="translate(11,{(self.top + height - self.bottom) / 2}) '
                              f'rotate(-90)" text-anchor="middle">{escape(y_label)}</text>')

    def px(self, x: float) -> float:
        return self.left + (x - self.x_lo) / (self.x_hi - self.x_lo) * (self.width - self.left - self.right)

    def py(self, y: float) -> float:
        return self.top + (self.y_hi - y) / (self.y_hi - self.y_lo) * (self.height - self.top - self.bottom)

    def hline(self, value: float, cls: str, label: str) -> None:
        self.parts.append(f'<line class="{cls}" x1="{self.left}" x2="{self.width - self.right}" '
                          f'y1="{_fmt(self.py(value))}" y2="{_fmt(self.py(value))}"><title>{label}: {value:.2f}'
                          f'</title></line><text class="tick" x="{self.width - self.right}" '
                          f'y="{_fmt(self.py(value) - 3)}" text-anchor="end">{label} {value:.2f}</text>')

    def point(self, x: float, y: float, tip: str) -> None:
        self.parts.append(f'<circle cx="{_fmt(self.px(x))}" cy="{_fmt(self.py(y))}" r="3"><title>{escape(tip)}'
                          f'</title></circle>')

    def svg(self) -> Markup:
        return Markup("".join(self.parts) + "</svg>")


def bland_altman(means: Sequence[float], differences: Sequence[float], mean_difference: float,
                 limits: Sequence[float], title: str, width: int = 360, height: int = 240) -> Markup:
    """Differences against means of two raters' scores, with the mean difference and the 95 % limits of
    agreement as lines (Bland & Altman 1986)."""
    ys = list(differences)
    axes = _Axes(list(means), [*ys, limits[0], limits[1]], title, width, height, "mean of the two raters")
    for value, cls, label in ((mean_difference, "mean", "mean"), (limits[0], "limit", "−1.96 SD"),
                              (limits[1], "limit", "+1.96 SD")):
        axes.hline(value, cls, label)
    for x, y in zip(means, ys):
        axes.point(x, y, f"mean {x:.2f}, difference {y:+.2f}")
    return axes.svg()


def partial_regression(x: Sequence[float], y: Sequence[float], slope: float, title: str, x_label: str,
                       y_label: str, width: int = 360, height: int = 260) -> Markup:
    """An added-variable plot: the outcome and a predictor, each freed of the model's other terms, with the
    predictor's coefficient as the line through the origin (Frisch–Waugh–Lovell)."""
    axes = _Axes(list(x), list(y), title, width, height, x_label, y_label)
    if len(x):
        lo, hi = min(x), max(x)
        axes.parts.append(f'<line class="fit" x1="{_fmt(axes.px(lo))}" y1="{_fmt(axes.py(slope * lo))}" '
                          f'x2="{_fmt(axes.px(hi))}" y2="{_fmt(axes.py(slope * hi))}"><title>slope {slope:.3f}'
                          f'</title></line>')
    for a, b in zip(x, y):
        axes.point(a, b, f"{x_label} {a:+.2f}, {y_label} {b:+.2f}")
    return axes.svg()


def trajectories(series: dict[str, Sequence[tuple[float, float]]], title: str, x_label: str, y_label: str,
                 width: int = 560, height: int = 300) -> Markup:
    """One line per dyad: its session scores over session numbers."""
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    axes = _Axes(xs, ys, title, width, height, x_label, y_label, pad_y=0.08)
    for k, (name, points) in enumerate(series.items()):
        points = sorted(points)
        path = " ".join(f"{'M' if i == 0 else 'L'}{_fmt(axes.px(x))},{_fmt(axes.py(y))}"
                        for i, (x, y) in enumerate(points))
        axes.parts.append(f'<path class="trajectory t{k % 8}" d="{path}"><title>{escape(name)}</title></path>')
        for x, y in points:
            axes.point(x, y, f"{name} · session {x:g}: {y:.2f}")
    return axes.svg()


def _colour(value: float, lo: float, hi: float) -> str:
    """A sequential blue scale, light for low scores and dark for high ones."""
    t = 0.5 if hi == lo else (value - lo) / (hi - lo)
    light, dark = (239, 243, 255), (8, 69, 148)
    r, g, b = (round(a + (d - a) * t) for a, d in zip(light, dark))
    return f"rgb({r},{g},{b})"


def heatmap(units: Sequence[str], raters: Sequence[str], values: Sequence[Sequence[float | None]],
            lo: float, hi: float, title: str, cell: int = 14) -> Markup:
    """Rating units (rows) by raters (columns), each cell coloured by the score; grey where a rater did not
    rate the unit. The score is in each cell's tooltip."""
    left, top = 24, 70
    width = left + cell * max(len(raters), 1) + 90
    height = top + cell * len(units) + 10
    parts = [f'<svg class="plot heatmap" viewBox="0 0 {width} {height}" width="{width}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<text x="0" y="14" class="plot-title">{escape(title)}</text>']
    for j, rater in enumerate(raters):
        x = left + j * cell + cell / 2
        parts.append(f'<text class="tick" transform="translate({_fmt(x + 3)},{top - 4}) rotate(-60)">'
                     f'{escape(rater)}</text>')
    for i, (unit, row) in enumerate(zip(units, values)):
        y = top + i * cell
        parts.append(f'<text class="tick" x="{left - 3}" y="{y + cell - 3}" text-anchor="end">{i + 1}</text>')
        for j, value in enumerate(row):
            fill = "#ddd" if value is None else _colour(value, lo, hi)
            tip = f"{unit} · {raters[j]}: " + ("not rated" if value is None else f"{value:g}")
            parts.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                         f'fill="{fill}"><title>{escape(tip)}</title></rect>')
    legend_x = left + cell * max(len(raters), 1) + 12
    for k in range(6):
        value = lo + (hi - lo) * k / 5
        parts.append(f'<rect x="{legend_x}" y="{top + k * 14}" width="12" height="12" fill="{_colour(value, lo, hi)}"/>'
                     f'<text class="tick" x="{legend_x + 16}" y="{top + k * 14 + 10}">{value:g}</text>')
    parts.append(f'<rect x="{legend_x}" y="{top + 6 * 14}" width="12" height="12" fill="#ddd"/>'
                 f'<text class="tick" x="{legend_x + 16}" y="{top + 6 * 14 + 10}">none</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def interval_chart(rows: Sequence[tuple[str, float | None, Sequence[float] | None]], title: str,
                   bands: Sequence[tuple[float, str]] = ((0.5, "poor"), (0.75, "moderate"), (0.9, "good"),
                                                         (1.0, "excellent")),
                   width: int = 560, row_height: int = 18) -> Markup:
    """One line per measure: the estimate and its 95 % interval on a 0–1 axis over the interpretation bands."""
    left, right, top = 190, 16, 34
    height = top + row_height * len(rows) + 24
    lo_axis = min([0.0] + [ci[0] for _, _, ci in rows if ci and ci[0] is not None and math.isfinite(ci[0])])
    lo_axis = max(lo_axis, -1.0)

    def px(x):
        return left + (min(max(x, lo_axis), 1.0) - lo_axis) / (1.0 - lo_axis) * (width - left - right)

    parts = [f'<svg class="plot" viewBox="0 0 {width} {height}" width="{round(width * 1.3)}" role="img" '
             f'aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>", f'<text x="0" y="14" class="plot-title">{escape(title)}</text>']
    start = lo_axis
    for k, (limit, label) in enumerate(bands):
        x0, x1 = px(max(start, lo_axis)), px(limit)
        if x1 > x0:
            parts.append(f'<rect class="band band{k}" x="{_fmt(x0)}" y="{top - 8}" width="{_fmt(x1 - x0)}" '
                         f'height="{row_height * len(rows) + 8}"><title>{label}</title></rect>'
                         f'<text class="tick" x="{_fmt((x0 + x1) / 2)}" y="{top - 11}" text-anchor="middle">{label}'
                         f'</text>')
        start = limit
    for i, (label, value, ci) in enumerate(rows):
        y = top + i * row_height + row_height / 2
        short = label if len(label) <= 32 else label[:31] + "…"
        parts.append(f'<text class="tick" x="{left - 6}" y="{_fmt(y + 3)}" text-anchor="end">{escape(short)}</text>')
        if ci and ci[0] is not None and ci[1] is not None and math.isfinite(ci[0]) and math.isfinite(ci[1]):
            parts.append(f'<line class="ci" x1="{_fmt(px(ci[0]))}" x2="{_fmt(px(ci[1]))}" y1="{_fmt(y)}" '
                         f'y2="{_fmt(y)}"/>')
        if value is not None and math.isfinite(value):
            tip = f"{label}: {value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and ci[0] is not None else "")
            parts.append(f'<circle cx="{_fmt(px(value))}" cy="{_fmt(y)}" r="4"><title>{escape(tip)}</title></circle>')
    axis_y = top + row_height * len(rows) + 4
    for t in _ticks(lo_axis, 1.0, 5):
        parts.append(f'<text class="tick" x="{_fmt(px(t))}" y="{axis_y + 12}" text-anchor="middle">{t:g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
