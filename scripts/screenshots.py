#!/usr/bin/env python3
"""Screenshots of the rater's workspace and the transcript editor for the docs, taken in Debian's Chromium from
the demo study.

    .venv/bin/coder --home /tmp/coder-shots demo --no-serve
    .venv/bin/python scripts/screenshots.py /tmp/coder-shots/demo [--out docs/img]

Sets known passwords on the demo accounts of that (throwaway) home, serves it
on a free loopback port, and writes rater-queue.png, rating-page.png,
rating-events.png (rater1's segment of the session on the rupture markers, which
the demo assigns), rating-narrow.png (a phone's 390 px), ratings.png,
transcript-editor.png, transcript-timeline.png (the session timeline on the transcript page) and
transcript-search.png.
"""
from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402
from waitress.server import create_server  # noqa: E402

from coder.study.accounts import set_password  # noqa: E402
from coder.web.app import create_app  # noqa: E402
from coder.config import load_settings  # noqa: E402
from coder.study.models import Assignment, Instrument, User  # noqa: E402
from tests.support.browser import CHROMIUM_ARGS, wait_until  # noqa: E402

PASSWORD = "screenshot password"


def serve(app):
    """Serve the app on a free loopback port from a thread; the server and its base URL."""
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return server, f"http://127.0.0.1:{server.effective_port}"


@contextlib.contextmanager
def scratch_site(prefix: str, build):
    """A throwaway SQLite study built by ``build(database)``, served on loopback, and Chromium:
    yields (browser, base URL, what build returned); everything is removed afterwards."""
    from playwright.sync_api import sync_playwright

    from coder.db import Database

    home = Path(tempfile.mkdtemp(prefix=prefix))
    url = f"sqlite:///{home / 'coder.db'}"
    database = Database(url)
    database.migrate()
    built = build(database, home)
    server, base = serve(create_app(load_settings(home=home, database_url=url), database))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            yield browser, base, built
            browser.close()
    finally:
        server.close()
        shutil.rmtree(home, ignore_errors=True)


def log_in(browser, base: str, username: str, password: str = PASSWORD, height: int = 860):
    """A new browser context logged in as username, on its landing page."""
    page = browser.new_context(viewport={"width": 1400, "height": height}).new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def rupture_segment(app, username: str = "rater1") -> int:
    """The id of ``username``'s assignment of the demo session's segment on the rupture markers (3RS, events in
    time), which the demo assigns."""
    with app.extensions["coder.db"].session() as db:
        return db.scalar(select(Assignment.id).join(Assignment.rater).join(Assignment.instrument)
                         .where(User.username == username, Instrument.key == "rupture-markers"))


def event_coding(page, base: str, assignment_id: int) -> None:
    """Events placed on the rupture-markers segment: a moment, and a stretch of selected words with a note."""
    page.goto(f"{base}/rate/{assignment_id}")
    page.wait_for_selector("#rate[data-ready='1']")
    page.locator("#item-therapist_contribution").focus()
    page.keyboard.press("2")
    page.keyboard.press("3")
    for word, code, salience in ((8, "minimal", "2"), (40, "valid", "4")):
        page.locator(".transcript .w").nth(word).click()
        page.keyboard.press("e")
        page.keyboard.type(code)
        page.keyboard.press("Enter")
        page.keyboard.press(salience)
    page.evaluate("""() => {
        const ws = document.querySelectorAll('.transcript .w'), range = document.createRange();
        range.setStart(ws[22].firstChild, 0); range.setEnd(ws[31].firstChild, ws[31].textContent.length);
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        document.getElementById('transcript').dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
    }""")
    wait_until(page, "window.coderRating.selection() !== null")
    page.keyboard.press("e")
    page.keyboard.type("abstr")
    page.keyboard.press("Enter")
    page.keyboard.press("3")
    page.locator("li.event.selected .ev-note").fill("talks about 'people' instead of herself")
    page.keyboard.press("Escape")
    page.locator("#marker-denial").focus()
    page.keyboard.press("0")
    page.wait_for_selector("#rate[data-save-state='saved']")
    page.evaluate("document.getElementById('audio').currentTime = 16")
    wait_until(page, "document.querySelector('.transcript .w.now') !== null")
    page.evaluate("document.querySelector('.score').scrollTop = 0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("home", type=Path, help="a demo home (coder --home H demo --no-serve makes H/demo)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()

    settings = load_settings(home=args.home, database_url=f"sqlite:///{args.home.resolve() / 'coder.db'}")
    app = create_app(settings)
    with app.extensions["coder.db"].session() as db:
        for user in db.scalars(select(User)):
            set_password(user, PASSWORD)
    server, base = serve(app)

    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)

        rater = log_in(browser, base, "rater1")
        rater.screenshot(path=str(args.out / "rater-queue.png"))
        rater.locator("tr", has_text="Whole session").locator("a.button").click()
        rater.wait_for_selector("#rate[data-ready='1']")
        rater.locator("#item-1").focus()
        for digit in "56564":
            rater.keyboard.press(digit)
        rater.wait_for_selector("#rate[data-save-state='saved']")
        rater.evaluate("document.getElementById('audio').currentTime = 47.5")
        wait_until(rater, "document.querySelector('.transcript .w.now') !== null")
        rater.locator("#item-6").focus()
        rater.screenshot(path=str(args.out / "rating-page.png"))

        narrow = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2).new_page()
        narrow.context.add_cookies(rater.context.cookies())
        narrow.goto(rater.url)
        narrow.wait_for_selector("#rate[data-ready='1']")
        narrow.evaluate("document.getElementById('audio').currentTime = 47.5")
        narrow.locator("#item-6").focus()
        narrow.keyboard.press("5")
        narrow.wait_for_selector("#rate[data-save-state='saved']")
        narrow.screenshot(path=str(args.out / "rating-narrow.png"))
        narrow.context.close()

        event_coding(rater, base, rupture_segment(app))
        rater.screenshot(path=str(args.out / "rating-events.png"))

        other = log_in(browser, base, "rater2")
        other.locator("tr", has_text="Whole session").locator("a.button").click()
        other.wait_for_selector("#rate[data-ready='1']")
        other.locator("#item-1").focus()
        for digit in "665656756547":
            other.keyboard.press(digit)
        other.keyboard.press("Control+Enter")
        other.wait_for_selector("#confirm-submit[open]")  # a submit locks the rating: the page asks first
        other.keyboard.press("Enter")
        other.wait_for_selector("#rate[data-save-state='submitted']")

        coordinator = log_in(browser, base, "coordinator")
        coordinator.goto(f"{base}/ratings")
        coordinator.screenshot(path=str(args.out / "ratings.png"))

        coordinator.goto(f"{base}/transcripts/1")
        coordinator.wait_for_selector("#editor[data-ready='1']")
        coordinator.keyboard.press("n")  # the first word the recogniser doubted, selected
        coordinator.evaluate("window.scrollTo(0, 0)")
        coordinator.screenshot(path=str(args.out / "transcript-editor.png"))
        coordinator.locator(".session-timeline").screenshot(path=str(args.out / "transcript-timeline.png"))

        coordinator.goto(f"{base}/studies/1/search?q=homework")
        coordinator.wait_for_selector("#hits")
        coordinator.screenshot(path=str(args.out / "transcript-search.png"))
        browser.close()
    server.close()
    names = ("rater-queue", "rating-page", "rating-narrow", "rating-events", "ratings", "transcript-editor",
             "transcript-timeline", "transcript-search")
    print(f"wrote {', '.join(n + '.png' for n in names)} to {args.out}")


if __name__ == "__main__":
    main()
