"""The session timeline picture (coder.stats.session_plot): what is drawn is what was given."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from coder.stats import session_plot
from coder.stats.session_plot import TimelineError

TURNS = [("client", 10, 20), ("therapist", 0, 10), ("therapist", 19, 30), ("SPEAKER_02", 31, 33)]
OVERLAPS = [(19, 20)]
SILENCES = [(40, 50)]
AROUSAL = {"therapist": [(20, 0.5), (5, -0.2)], "client": [(15, 1.1)]}


def _bars(ax, gid):
    [collection] = [c for c in ax.collections if c.get_gid() == gid]
    out = []
    for path in collection.get_paths():
        xs, ys = path.vertices[:, 0], path.vertices[:, 1]
        out.append((round(xs.min() * 60, 6), round(xs.max() * 60, 6), round(ys.min(), 6), round(ys.max(), 6)))
    return sorted(out)


def test_each_lane_holds_the_turns_given_and_the_lanes_are_ordered():
    fig = session_plot.figure(TURNS, 60, title="Session 3", overlaps=OVERLAPS, silences=SILENCES, arousal=AROUSAL)
    top, low = fig.axes
    assert [t.get_text() for t in top.get_yticklabels()] == ["therapist", "client", "SPEAKER_02", "overlap",
                                                              "long silence"]
    assert _bars(top, "lane-therapist") == [(0, 10, -0.4, 0.4), (19, 30, -0.4, 0.4)]
    assert _bars(top, "lane-client") == [(10, 20, 0.6, 1.4)]
    assert _bars(top, "lane-SPEAKER_02") == [(31, 33, 1.6, 2.4)]
    assert _bars(top, "lane-overlap") == [(19, 20, 2.6, 3.4)]
    assert _bars(top, "lane-silence") == [(40, 50, 3.6, 4.4)]
    assert top.get_xlim() == (0, 1)  # 60 s in minutes
    assert top.get_title(loc="left") == "Session 3"
    lines = {line.get_gid(): line for line in low.get_lines() if line.get_gid()}
    assert list(lines["arousal-therapist"].get_xdata()) == [5 / 60, 20 / 60]  # in time order
    assert list(lines["arousal-therapist"].get_ydata()) == [-0.2, 0.5]
    assert list(lines["arousal-client"].get_ydata()) == [1.1]


def test_without_arousal_there_is_one_panel():
    fig = session_plot.figure(TURNS, 60)
    assert len(fig.axes) == 1
    assert _bars(fig.axes[0], "lane-overlap") == []


def test_svg_is_labelled_scalable_and_the_same_each_time():
    fig = session_plot.figure(TURNS, 60, overlaps=OVERLAPS, silences=SILENCES, arousal=AROUSAL)
    first = session_plot.svg(fig, 'Timeline of "session 3" <D01>')
    assert first.startswith('<svg class="timeline" role="img" '
                            'aria-label="Timeline of &quot;session 3&quot; &lt;D01&gt;"')
    head = first[:first.index(">")]
    assert "width=" not in head and "viewBox=" in head  # scales to its container
    assert 'id="lane-therapist"' in first and 'id="arousal-client"' in first
    assert "<script" not in first
    again = session_plot.svg(session_plot.figure(TURNS, 60, overlaps=OVERLAPS, silences=SILENCES, arousal=AROUSAL),
                             'Timeline of "session 3" <D01>')
    assert again == first


def test_png_has_the_size_asked_for():
    data = session_plot.png(session_plot.figure(TURNS, 60, width_in=8), dpi=100)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size[0] == 800


@pytest.mark.parametrize("turns, duration, overlaps, message", [
    ([], 60, (), "no turns"),
    (TURNS, 0, (), "no duration"),
    ([("client", 70, 80)], 60, (), "outside the session"),
    ([("client", 5, 3)], 60, (), "outside the session"),
    (TURNS, 60, [(61, 62)], "overlap 61–62 s lies outside"),
])
def test_what_cannot_be_drawn_is_refused_with_the_reason(turns, duration, overlaps, message):
    with pytest.raises(TimelineError, match=message):
        session_plot.figure(turns, duration, overlaps=overlaps)


def test_the_time_axis_is_where_the_svg_draws_it():
    picture = session_plot.Picture(session_plot.figure(TURNS, 60), "Timeline")
    left, right = picture.time_axis
    head = picture.svg[:picture.svg.index(">")]
    width = float(head.split('viewBox="')[1].split()[2])
    # the x axis's first tick (0 min) and last (1 min) sit at those fractions of the viewBox's width
    ticks = [float(x) for x in re.findall(r'<use xlink:href="#m[0-9a-f]+" x="([\d.]+)" y="[\d.]+" '
                                          r'style="stroke: #000000; stroke-width: 0.8"', picture.svg)]
    assert min(ticks) == pytest.approx(left * width, abs=0.01) and max(ticks) == pytest.approx(right * width,
                                                                                               abs=0.01)
