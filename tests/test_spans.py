"""Stretches of time (coder.pipeline.spans): union, difference and the time two sets run at once, against a
count on a fine grid."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coder.pipeline.spans import merged, minus, overlap_seconds

STEP = 0.25
span = st.tuples(st.integers(0, 40), st.integers(1, 12)).map(lambda p: (p[0] * STEP, (p[0] + p[1]) * STEP))


def _grid(spans):
    cells = np.zeros(int(60 / STEP), dtype=bool)
    for a, b in spans:
        cells[int(a / STEP):int(b / STEP)] = True
    return cells


@settings(max_examples=200, deadline=None)
@given(st.lists(span, max_size=8), st.lists(span, max_size=8))
def test_minus_and_overlap_agree_with_a_grid(first, second):
    a, b = merged(first), merged(second)
    rest = minus(a, b)
    assert rest == merged(rest) and np.array_equal(_grid(rest), _grid(a) & ~_grid(b))
    assert overlap_seconds(a, b) == (_grid(a) & _grid(b)).sum() * STEP


def test_minus_cuts_holes_and_keeps_what_is_outside():
    assert minus([(0.0, 3.0), (4.0, 5.0)], [(1.0, 1.5), (2.5, 4.5)]) == [(0.0, 1.0), (1.5, 2.5), (4.5, 5.0)]
    assert minus([(0.0, 1.0)], []) == [(0.0, 1.0)] and minus([(1.0, 2.0)], [(0.0, 3.0)]) == []
