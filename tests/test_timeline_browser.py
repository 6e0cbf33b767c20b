"""The session timeline on the transcript page in a real browser (Debian's Chromium, Playwright, waitress): it is
drawn to the column's width, a click on it plays the recording from the time under the pointer, a moment in its
list does the same from the keyboard, and axe-core finds nothing serious on the page."""
from __future__ import annotations

import shutil

from coder.config import load_settings
from coder.study.models import Recording
from coder.web.app import create_app

from .support.browser import accessibility_problems, log_in, wait_until
from .support.rating_study import PASSWORD, build


def test_a_click_on_the_timeline_plays_from_that_time(tmp_path, sqlite_database, live_server, listening_copy,
                                                      chromium):
    built = build(sqlite_database, raters=("rater1",))
    with sqlite_database.session() as db:
        transcript = db.get(Recording, built.recording_id).transcript
        segments = [dict(s) for s in transcript.segments]
        segments[0]["end"] = segments[1]["start"] + 1.5  # the therapist talks on over the client's start
        transcript.segments = segments
        tid, overlap = transcript.id, segments[1]["start"]
    settings = load_settings(home=tmp_path / "home", database_url=sqlite_database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    url = live_server(create_app(settings, sqlite_database))
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, url, "coord", PASSWORD)
        page.goto(f"{url}/transcripts/{tid}")
        page.wait_for_selector("#editor[data-ready='1']")
        wait_until(page, "document.getElementById('audio').readyState >= 1")
        figure = page.locator("#session-timeline")
        x0, x1, duration = (float(figure.get_attribute(f"data-{k}")) for k in ("x0", "x1", "duration"))
        picture = figure.locator("svg")
        box = picture.bounding_box()
        column = page.locator(".session-timeline").bounding_box()
        assert abs(box["width"] - column["width"]) < 2  # scaled to the page's column
        wanted = 0.4 * duration
        picture.click(position={"x": box["width"] * (x0 + 0.4 * (x1 - x0)), "y": box["height"] * 0.3})
        wait_until(page, f"Math.abs(document.getElementById('audio').currentTime - {wanted}) < 1")
        page.locator(".session-timeline details summary").click()
        moment = page.locator(".session-timeline button[data-at]").first
        assert float(moment.get_attribute("data-at")) == overlap
        moment.focus()
        page.keyboard.press("Enter")
        wait_until(page, f"Math.abs(document.getElementById('audio').currentTime - {overlap}) < 0.1")
        assert accessibility_problems(page) == []
        assert errors == []
    finally:
        context.close()
