"""The coordinator's pages in Chromium: the consensus page plays the unit (an event's time seeks the audio, the
transcript follows) with what the raters agree on filled in; and axe-core finds no serious or critical
accessibility problem on the coordinator's main pages, whose controls all show keyboard focus."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from coder.config import load_settings
from coder.db import Database
from coder.study.models import Transcript
from coder.web.app import create_app

from .support.browser import accessibility_problems, log_in, wait_until
from .support.consensus_study import build_consensus
from .support.rating_study import PASSWORD


@pytest.fixture
def site(tmp_path, live_server, listening_copy, chromium):
    database = Database(f"sqlite:///{tmp_path / 'coder.db'}")
    database.migrate()
    built = build_consensus(database)
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    url = live_server(create_app(settings, database))
    page = chromium.new_context(viewport={"width": 1400, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, url, "coord", PASSWORD)
    yield url, page, built, database
    assert not errors, errors
    page.context.close()
    database.dispose()


def test_the_consensus_page_plays_the_unit_and_fills_in_what_the_raters_agree_on(site):
    url, page, built, _database = site
    page.goto(f"{url}/studies/{built.study_id}/consensus/{built.window_unit}/{built.markers}")
    assert page.input_value("select[name=item-therapist_contribution]") == "2"
    assert page.input_value("select[name=item-resolution]") == ""
    assert page.input_value("select[name=marker-denial]") == "3"
    assert page.input_value("select[name=marker-minimal_response]") == "absent"
    r1 = built.ratings[("rater1", "markers")]
    assert page.is_checked(f"input[name=event][value='{r1}:e1']")
    # rater2's complaint at 0:41: its time plays the unit from there, and the transcript follows
    page.click("table.consensus-events tr:has-text('you never listen') button.at")
    wait_until(page, "!document.getElementById('audio').paused && document.getElementById('audio').currentTime > 41")
    assert page.evaluate("document.getElementById('audio').duration") == pytest.approx(60, abs=0.1)
    wait_until(page, "(document.querySelector('#transcript li.now') || {}).textContent?.includes('Four times is a "
                     "good start')")
    assert page.inner_text("#play") == "Pause"
    page.click("#play")
    wait_until(page, "document.getElementById('audio').paused")
    # a line of the transcript plays from its start
    page.click("#transcript li:has-text('Good to see you again') button.at")
    wait_until(page, "document.getElementById('audio').currentTime < 5")


def _pages(url, built, database) -> dict[str, str]:
    with database.session() as db:
        transcript = db.scalar(select(Transcript.id))
    study = built.study_id
    return {"studies and recordings": "/", "study": f"/studies/{study}", "dashboard": f"/studies/{study}/dashboard",
            "ratings": "/ratings", "reliability": "/reliability", "reliability report": f"/reliability/{study}/wai-o-s",
            "consensus list": f"/studies/{study}/consensus",
            "consensus": f"/studies/{study}/consensus/{built.window_unit}/{built.markers}",
            "rating": f"/ratings/{built.ratings[('rater2', 'markers')]}", "transcripts": "/transcripts",
            "transcript": f"/transcripts/{transcript}", "instruments": "/instruments",
            "instrument": "/instruments/rupture-markers/2", "trajectories": f"/studies/{study}/trajectories"}


FOCUS_SHOWN = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  return {tag: el.tagName, text: (el.textContent || el.name || '').trim().slice(0, 40), ring,
          shadow: style.boxShadow !== 'none'};
}"""


def test_the_coordinators_pages_are_accessible_and_show_keyboard_focus(site):
    url, page, built, database = site
    problems = {}
    unfocused = []
    for name, path in _pages(url, built, database).items():
        response = page.goto(url + path)
        assert response.status == 200, (name, response.status)
        found = accessibility_problems(page)
        if found:
            problems[name] = found
        page.evaluate("document.activeElement && document.activeElement.blur()")
        for _ in range(80):  # the first controls a keyboard reaches
            page.keyboard.press("Tab")
            focus = page.evaluate(FOCUS_SHOWN)
            if focus["tag"] == "BODY":
                break
            if not (focus["ring"] or focus["shadow"]):
                unfocused.append(f"{name}: {focus['tag']} {focus['text']!r}")
    assert not problems, "\n".join(f"{name}: {p}" for name, found in problems.items() for p in found)
    assert not unfocused, unfocused
