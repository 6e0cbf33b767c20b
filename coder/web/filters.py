"""The templates' filters: ``clock`` (seconds as 1:05 or 1:02:05), ``time_left`` (an estimate in words) and the analysis report's number formats
``fmt`` and ``fmt_p`` (shared with the standalone report that coder.reports writes)."""
from __future__ import annotations

from flask import Flask

from coder.reports.analysis_output import fmt, fmt_p


def clock(seconds: float | None) -> str:
    """1:05, or 1:02:05 past the hour."""
    if seconds is None:
        return ""
    m, s = divmod(int(round(float(seconds))), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def time_left(seconds: float | None) -> str:
    """An estimate of the time left in words: "about 3 min left", "under a minute left"; "" for none."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "under a minute left"
    minutes = int(round(seconds / 60))
    h, m = divmod(minutes, 60)
    return f"about {h} h {m} min left" if h else f"about {m} min left"


def register(app: Flask) -> None:
    app.add_template_filter(clock)
    app.add_template_filter(time_left)
    app.add_template_filter(fmt, "fmt")
    app.add_template_filter(fmt_p, "fmt_p")
