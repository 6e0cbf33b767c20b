"""The rater's workspace in a real browser: Debian's Chromium, driven by Playwright, against waitress.

log in → open a unit → play and seek → score with the keyboard → reload mid-draft (draft intact)
→ submit → the coordinator sees it; and a lost connection, a closed tab and a second window.
"""
from __future__ import annotations

import shutil

import pytest

from coder.web.app import create_app
from coder.config import load_settings
from coder.db import Database

from .support.browser import wait_until
from .support.rating_study import PASSWORD, build, stored


@pytest.fixture
def site(tmp_path, live_server, listening_copy):
    database = Database(f"sqlite:///{tmp_path / 'coder.db'}")
    database.migrate()
    study = build(database)
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    url = live_server(create_app(settings, database))
    yield url, study, database
    database.dispose()


@pytest.fixture
def context(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    yield context
    context.close()


def log_in(page, url, username):
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def open_unit(page, url, assignment_id):
    page.goto(f"{url}/rate/{assignment_id}")
    page.wait_for_selector("#rate[data-ready='1']")


def rater_page(context, url, assignment_id, username="rater1"):
    page = context.new_page()
    log_in(page, url, username)
    open_unit(page, url, assignment_id)
    return page


def audio_time(page) -> float:
    return page.evaluate("document.getElementById('audio').currentTime")


def checked(page, item_id):
    return page.evaluate(f"(document.querySelector('#item-{item_id} input:checked') || {{}}).value || null")


def wait_saved(page):
    page.wait_for_selector("#rate[data-save-state='saved']", timeout=10000)


def test_rate_a_unit_from_login_to_the_coordinators_list(site, context, chromium):
    url, study, database = site
    aid = study.assignments["rater1"][0]
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, url, "rater1")
    assert page.locator("table.queue tr").count() == 4  # header + 3 units
    page.locator("tr", has_text="Whole session").locator("a.button").click()
    page.wait_for_selector("#rate[data-ready='1']")
    assert page.locator(".transcript .seg").count() > 10

    # play and seek
    page.keyboard.press("Space")
    wait_until(page, "document.getElementById('audio').currentTime > 0.8", timeout=10)
    assert page.inner_text("#play") == "Pause"
    before = audio_time(page)
    page.keyboard.press("ArrowRight")
    wait_until(page, f"document.getElementById('audio').currentTime > {before + 4.5}")
    page.keyboard.press("Space")
    assert page.evaluate("document.getElementById('audio').paused")
    page.keyboard.press("]")
    assert page.evaluate("document.getElementById('audio').playbackRate") == 1.25
    homework = page.locator(".transcript .w", has_text="homework").first
    homework.click()  # click-to-seek: playback moves to the word's start, and the word is highlighted
    index = int(homework.get_attribute("data-i"))
    start = page.evaluate("""(i) => JSON.parse(document.getElementById('rating-data').textContent)
                               .transcript.flatMap((seg) => seg.w)[i][0]""", index)
    assert start > 10 and audio_time(page) == pytest.approx(start, abs=0.05)
    assert page.locator(".transcript .w.now").inner_text() == "homework."
    page.locator("#waveform").click(position={"x": 10, "y": 30})
    assert audio_time(page) < 5

    # score items 1-6 with the keyboard; focus starts on item 1 and moves on after each digit
    page.locator("#item-1").focus()
    for digit in "567456":
        page.keyboard.press(digit)
    assert [checked(page, str(i)) for i in range(1, 7)] == ["5", "6", "7", "4", "5", "6"]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Backspace")  # clear item 6 ...
    assert checked(page, "6") is None
    page.keyboard.press("3")  # ... and score it 3
    page.keyboard.press("n")
    page.keyboard.type("Warm opening; homework reviewed in detail.")
    page.keyboard.press("Escape")
    wait_saved(page)
    assert stored(database, aid).responses == {"1": 5, "2": 6, "3": 7, "4": 4, "5": 5, "6": 3}

    # reload mid-draft, before the autosave has fired: the draft is intact and then saved
    page.locator("#item-7").focus()
    page.keyboard.press("2")
    page.reload()
    page.wait_for_selector("#rate[data-ready='1']")
    assert checked(page, "7") == "2" and checked(page, "1") == "5"
    assert page.input_value("#notes") == "Warm opening; homework reviewed in detail."
    wait_saved(page)
    assert stored(database, aid).responses["7"] == 2

    # submitting with items missing names them; then score the rest and submit with Ctrl+Enter
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#problems:not([hidden])")
    assert "5 items need your attention" in page.inner_text("#problems")
    assert page.locator("fieldset.invalid").count() == 5
    assert page.evaluate("document.activeElement.id") == "item-8"
    for digit in "45654":
        page.keyboard.press(digit)
    page.keyboard.press("Control+Enter")  # complete now: asked first, as a submit locks the rating
    page.wait_for_selector("#confirm-submit[open]")
    assert "locked" in page.inner_text("#confirm-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#rate[data-save-state='submitted']")
    assert page.locator("#item-1 input").first.is_disabled()
    rating = stored(database, aid)
    assert rating.status == "submitted" and rating.notes == "Warm opening; homework reviewed in detail."
    assert rating.responses == {"1": 5, "2": 6, "3": 7, "4": 4, "5": 5, "6": 3, "7": 2, "8": 4, "9": 5, "10": 6,
                             "11": 5, "12": 4}
    page.goto(f"{url}/")
    assert page.locator("tr", has_text="Whole session").locator(".badge").inner_text() == "submitted"
    assert not errors

    coordinator = chromium.new_context().new_page()
    log_in(coordinator, url, "coord")
    coordinator.click("text=Ratings")
    row = coordinator.locator("table.ratings tr", has_text="Rater 1")
    assert "submitted" in row.inner_text() and "Whole session" in row.inner_text()
    row.locator("a", has_text="View").click()
    assert "Warm opening" in coordinator.inner_text("main")
    coordinator.context.close()


def test_a_lost_connection_loses_nothing(site, context):
    url, study, database = site
    aid = study.assignments["rater1"][0]
    page = rater_page(context, url, aid)
    context.set_offline(True)
    page.locator("#item-1").focus()
    page.keyboard.press("3")
    page.wait_for_selector("#rate[data-save-state='offline']", timeout=10000)
    assert "Offline" in page.inner_text("#save-state") and stored(database, aid) is None
    context.set_offline(False)
    wait_saved(page)
    assert stored(database, aid).responses == {"1": 3}

    # offline again, score, close the tab; the next visit restores the edit from this browser and saves it
    context.set_offline(True)
    page.locator("#item-2").focus()
    page.keyboard.press("6")
    page.wait_for_selector("#rate[data-save-state='offline']", timeout=10000)
    page.close()
    context.set_offline(False)
    assert stored(database, aid).responses == {"1": 3}
    page = context.new_page()
    open_unit(page, url, aid)
    assert checked(page, "2") == "6"
    wait_saved(page)
    assert stored(database, aid).responses == {"1": 3, "2": 6}


def test_two_windows_on_one_unit_do_not_overwrite_each_other(site, context):
    url, study, database = site
    aid = study.assignments["rater1"][0]
    first = rater_page(context, url, aid)
    second = context.new_page()
    open_unit(second, url, aid)
    first.locator("#item-1").focus()
    first.keyboard.press("7")
    wait_saved(first)
    second.locator("#item-2").focus()
    second.keyboard.press("1")
    second.wait_for_selector(".notice.restore")
    assert checked(second, "1") == "7" and checked(second, "2") is None  # the stored version is shown
    assert stored(database, aid).responses == {"1": 7}
    second.click("text=Use this window's version instead")
    wait_saved(second)
    assert stored(database, aid).responses == {"2": 1}


def test_marker_units_are_scored_with_salience(site, context):
    url, study, database = site
    aid = study.assignments["rater1"][1]  # rupture markers, minute 1
    page = rater_page(context, url, aid)
    assert page.evaluate("document.getElementById('audio').duration") == pytest.approx(60, abs=0.1)
    page.locator("#item-therapist_contribution").focus()
    page.keyboard.press("2")
    page.keyboard.press("1")
    page.locator("#marker-denial").focus()
    page.keyboard.press("4")
    wait_saved(page)
    assert stored(database, aid).responses == {"therapist_contribution": 2, "resolution": 1, "markers": {"denial": 4}}
    page.locator("#marker-denial").focus()
    page.keyboard.press("0")  # absent after all: an answer of its own
    wait_saved(page)
    assert stored(database, aid).responses["markers"] == {"denial": "absent"}
    page.locator("#marker-denial").focus()
    page.keyboard.press("Backspace")  # no answer
    wait_saved(page)
    assert stored(database, aid).responses["markers"] == {}
