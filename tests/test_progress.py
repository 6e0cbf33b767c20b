"""The progress shown while audio is transcribed (coder.pipeline.progress): audio minutes done and the time left."""
import io

from coder.pipeline.progress import AudioProgress, spoken_duration


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_name_the_minutes_done_and_the_time_left():
    clock, lines = Clock(), []
    with AudioProgress(174.0, write=lines.append, every_s=20, clock=clock) as shown:
        clock.now = 10
        shown.tick()
        assert lines == []  # nothing to say before every_s
        clock.now = 21
        shown.tick()
        assert lines == ["0.0 of 2.9 audio-min done, 21 s so far, time left not yet known"]
        clock.now = 25
        shown.update(29.0)  # a report makes no line of its own: the first may be part of a burst
        clock.now = 41
        shown.update(58.0)
        shown.tick()
        # 58 s of audio in 41 s: the 116 s still to do take 82 s at that rate
        assert lines[-1] == "1.0 of 2.9 audio-min done, about 1 min 22 s left"
        shown.update(30.0)  # never backwards
        clock.now = 45
        shown.tick()
        assert len(lines) == 2
        clock.now = 62
        shown.update(174.0)
        shown.update(174.0)
        assert lines[-1] == "2.9 of 2.9 audio-min done, in 1 min 2 s"
    assert len(lines) == 3  # the end is said once


def test_the_bar_shows_the_same_on_a_terminal():
    clock, lines, screen = Clock(), [], io.StringIO()
    shown = AudioProgress(600.0, write=lines.append, bar_file=screen, clock=clock, label="transcribing")
    clock.now = 30
    shown.update(120.0)
    shown.say("  demo_session.ogg: done")
    shown.close()
    assert "transcribing  20%" in screen.getvalue()
    assert "2.0 of 10.0 audio-min done, about 2 min 0 s left" in screen.getvalue()
    assert lines == ["  demo_session.ogg: done"]


def test_spoken_durations():
    assert [spoken_duration(s) for s in (0, 42.4, 60, 185, 3600, 4320)] == [
        "0 s", "42 s", "1 min 0 s", "3 min 5 s", "1 h 0 min", "1 h 12 min"]
