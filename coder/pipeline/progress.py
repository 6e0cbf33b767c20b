"""Progress through audio for the person waiting: minutes of audio done of the total and the time left.

On a terminal a bar updates in place (tqdm) and its clock keeps ticking between reports (an engine may report
only after each batch of windows); elsewhere (a log file, a pipe) a line goes out every ``every_s`` seconds and
at the end. The time left is the audio still to do at the rate seen so far, so there is none until
the first report."""
from __future__ import annotations

import threading
import time
from typing import Callable, TextIO

BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| "


def spoken_duration(seconds: float) -> str:
    """A duration as people say it: "40 s", "3 min 5 s", "1 h 12 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class AudioProgress:
    """Audio seconds done of ``total_s``, shown as a bar on ``bar_file`` (a terminal) or, without one, as lines
    handed to ``write``. ``update`` takes the seconds done over everything so far; ``say`` prints a line above
    the bar."""

    def __init__(self, total_s: float, write: Callable[[str], None] = print, bar_file: TextIO | None = None,
                 every_s: float = 20.0, clock: Callable[[], float] = time.monotonic, label: str = ""):
        self.total_s, self.write, self.every_s, self.clock = max(float(total_s), 0.0), write, every_s, clock
        self.done_s = 0.0
        self.started = clock()
        self.last_line = self.started
        self._said_end = False
        self.bar = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if bar_file is not None:
            from tqdm import tqdm

            self.bar = tqdm(total=round(self.total_s / 60, 1) or None, file=bar_file, bar_format=BAR_FORMAT, desc=label,
                            dynamic_ncols=True)
            self._show()
        threading.Thread(target=self._ticking, daemon=True, name="audio-progress").start()

    def seconds_left(self) -> float | None:
        """The time left at the rate seen so far; None before any audio is done."""
        elapsed = self.clock() - self.started
        if self.done_s <= 0 or elapsed <= 0:
            return None
        return (self.total_s - self.done_s) * elapsed / self.done_s

    def status(self) -> str:
        """ "1.3 of 2.9 audio-min done, about 42 s left" """
        left = self.seconds_left()
        if self.done_s >= self.total_s > 0:
            tail = f"in {spoken_duration(self.clock() - self.started)}"
        elif left is None:
            tail = f"{spoken_duration(self.clock() - self.started)} so far, time left not yet known"
        else:
            tail = f"about {spoken_duration(left)} left"
        return f"{self.done_s / 60:.1f} of {self.total_s / 60:.1f} audio-min done, {tail}"

    def update(self, done_s: float) -> None:
        with self._lock:
            self.done_s = min(max(float(done_s), self.done_s), self.total_s)
            self._show(report=True)

    def _show(self, report: bool = False) -> None:
        if self.bar is not None:
            self.bar.n = round(self.done_s / 60, 1)
            self.bar.bar_format = BAR_FORMAT + self.status().replace("{", "{{").replace("}", "}}")
            self.bar.refresh()
        elif self.done_s >= self.total_s:
            if not self._said_end:
                self._said_end = True
                self.write(self.status())
        elif not report and self.clock() - self.last_line >= self.every_s:
            # lines go out on the clock, not on reports: an engine may report a batch of windows at once, and a
            # line on its first report would give an estimate from a fraction of that batch
            self.last_line = self.clock()
            self.write(self.status())

    def say(self, line: str) -> None:
        if self.bar is None:
            self.write(line)
            return
        from tqdm import tqdm

        with tqdm.external_write_mode(file=self.bar.fp, nolock=False):  # above the bar, not through it
            self.write(line)

    def label(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(text, refresh=False)
            self._show()

    def close(self) -> None:
        self._stop.set()
        if self.bar is not None:
            with self._lock:
                self._show()
                self.bar.close()

    def tick(self) -> None:
        """The clock has moved: the bar's times are redrawn, and a line is due every ``every_s``."""
        with self._lock:
            if not self._stop.is_set():
                self._show()

    def _ticking(self) -> None:
        while not self._stop.wait(1.0):
            self.tick()

    def __enter__(self) -> AudioProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
