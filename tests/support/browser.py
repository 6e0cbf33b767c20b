"""Chromium driven by Playwright: the browser's arguments, logging in, and polling a page."""
from __future__ import annotations

import time

CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"]


def log_in(page, base: str, username: str, password: str, lands_on: str = "/") -> None:
    """Log ``username`` in through the login form at ``base`` and wait until the page lands on ``lands_on``."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{lands_on}")


def wait_until(page, expression: str, timeout: float = 30.0, every: float = 0.1) -> None:
    """Poll a JavaScript expression in the page until it is true. (Playwright's wait_for_function builds a
    function from a string, which the app's Content-Security-Policy forbids; evaluate is not affected.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {expression}")
        time.sleep(every)


SERIOUS = ("serious", "critical")


def accessibility_problems(page, impacts=SERIOUS) -> list[str]:
    """axe-core's violations of the page at the given impacts, one line each (rule, impact, the first targets);
    axe-playwright-python injects axe-core through evaluate, which the Content-Security-Policy allows."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    out = []
    for violation in results.response["violations"]:
        if violation.get("impact") in impacts:
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"][:3]]
            out.append(f"{violation['id']} ({violation['impact']}, {len(violation['nodes'])} nodes): "
                       f"{violation['help']} — {'; '.join(targets)}")
    return out
