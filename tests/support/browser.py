"""Chromium driven by Playwright: the browser's arguments, and polling a page."""
from __future__ import annotations

import time

CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"]


def wait_until(page, expression: str, timeout: float = 30.0, every: float = 0.1) -> None:
    """Poll a JavaScript expression in the page until it is true. (Playwright's wait_for_function builds a
    function from a string, which the app's Content-Security-Policy forbids; evaluate is not affected.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {expression}")
        time.sleep(every)
