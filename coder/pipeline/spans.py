"""Stretches of time as (start, end) seconds: their union, one set less another, and how long two sets of them
run at once."""
from __future__ import annotations

import math
from collections.abc import Iterable


def merged(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of ``spans``, sorted and disjoint; empty spans (end <= start) left out."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def minus(spans: list[tuple[float, float]], others: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of ``spans`` outside ``others``; each list sorted and disjoint (``merged``)."""
    out, j = [], 0
    for a, b in spans:
        while j < len(others) and others[j][1] <= a:
            j += 1
        k, at = j, a
        while k < len(others) and others[k][0] < b:
            if others[k][0] > at:
                out.append((at, others[k][0]))
            at = max(at, others[k][1])
            k += 1
        if at < b:
            out.append((at, b))
    return out


def overlap_seconds(first: list[tuple[float, float]], second: list[tuple[float, float]],
                    start: float = -math.inf, end: float = math.inf) -> float:
    """Seconds within ``start``–``end`` in which a span of ``first`` and a span of ``second`` both run; each list
    sorted and disjoint (``merged``)."""
    total, j = 0.0, 0
    for a, b in first:
        while j < len(second) and second[j][1] <= a:
            j += 1
        k = j
        while k < len(second) and second[k][0] < b:
            total += max(0.0, min(b, second[k][1], end) - max(a, second[k][0], start))
            k += 1
    return total
