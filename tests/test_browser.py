"""The rater's workspace in a real browser: Debian's Chromium, driven by Playwright, against waitress.

log in → open a unit → play and seek → score with the keyboard → reload mid-draft (draft intact)
→ submit → the coordinator sees it; and a lost connection, a closed tab and a second window.
"""
from __future__ import annotations

import shutil
import time

import pytest

from coder.web.app import create_app
from coder.config import load_settings
from coder.db import Database

from coder.study import instruments

from .support.browser import accessibility_problems, wait_until
from .support.rating_study import PASSWORD, build, marker_units, stored


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


# --- a rater's round through three units, with events in time -----------------------------------------------

OTHER_MARKERS = [m.id for m in instruments.builtin("rupture-markers").markers]


@pytest.fixture
def rounds(tmp_path, live_server, listening_copy):
    """rater1's rupture-markers units: minutes 1, 2 and 3, in that order in the queue (assigned order)."""
    database = Database(f"sqlite:///{tmp_path / 'coder.db'}")
    database.migrate()
    study = build(database, settings={"queue_order": "assigned"})
    marker_units(database, study)
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    url = live_server(create_app(settings, database))
    yield url, study, database
    database.dispose()


def select_words(page, first: int, last: int):
    """Select transcript words first..last as a rater's mouse would, and let the page take the selection."""
    page.evaluate("""([a, b]) => {
        const ws = document.querySelectorAll('.transcript .w'), range = document.createRange();
        range.setStart(ws[a].firstChild, 0); range.setEnd(ws[b].firstChild, ws[b].textContent.length);
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        document.getElementById('transcript').dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
    }""", [first, last])
    wait_until(page, "window.coderRating.selection() !== null")


def mark(page, code_text: str):
    page.keyboard.press("e")
    page.wait_for_selector("#code-picker:not([hidden])")
    page.keyboard.type(code_text)
    page.keyboard.press("Enter")
    page.wait_for_selector("#code-picker", state="hidden")


def page_events(page):
    return page.evaluate("window.coderRating.events().map(e => ({...e}))")


def answer_the_rest(page, scores="23"):
    """The two items, then every marker without events absent (0 moves past one that has events)."""
    page.locator("#item-therapist_contribution").focus()
    for digit in scores:
        page.keyboard.press(digit)
    for _ in OTHER_MARKERS:
        page.keyboard.press("0")


def word_start(page, i):
    return page.evaluate("(i) => JSON.parse(document.getElementById('rating-data').textContent)"
                         ".transcript.flatMap((seg) => seg.w)[i][0]", i)


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)])
def test_a_round_of_three_units_with_events(rounds, chromium, width, height):
    url, study, database = rounds
    minute1, minute2, minute3 = study.assignments["rater1"][1:]
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, url, "rater1")
    assert not accessibility_problems(page), "the queue page"
    open_unit(page, url, minute1)
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing off the side

    # a moment: seek to a word, e, type the code, Enter; it answers its marker present at its salience
    page.locator(".transcript .w").nth(12).click()
    at = word_start(page, 12)
    mark(page, "deni")
    [event] = page_events(page)
    assert event["code"] == "denial" and event["start"] == pytest.approx(at, abs=0.02) and event["end"] is None
    assert page.evaluate("document.activeElement.dataset.event") == event["id"]  # the new event is selected
    assert page.locator(".transcript .w.ev").count() >= 1
    page.keyboard.press("4")  # its salience
    page.keyboard.press(".")  # start 0.5 s later, twice
    page.keyboard.press(".")
    assert page_events(page)[0]["start"] == pytest.approx(at + 1, abs=0.02)
    assert page.evaluate("document.querySelector('#marker-denial input:checked').value") == "4"
    assert page.locator("#marker-denial input[value=absent]").is_disabled()  # not absent: it has events
    page.locator(f"li[data-event='{event['id']}'] .ev-note").fill("says it is fine")
    page.keyboard.press("Escape")

    # a stretch: select words, e, pick with the arrows; its end moves with > and <
    select_words(page, 30, 36)
    page.keyboard.press("e")
    page.keyboard.type("clar")
    page.keyboard.press("Enter")
    span = [e for e in page_events(page) if e["code"] == "clarify"][0]
    assert span["start"] == pytest.approx(word_start(page, 30), abs=0.02) and span["end"] > span["start"] + 1
    end = span["end"]
    page.keyboard.press(">")
    assert [e for e in page_events(page) if e["code"] == "clarify"][0]["end"] == pytest.approx(end + 0.5, abs=0.02)
    assert page.locator(".transcript .w.ev").count() >= 7

    # one more, then deleted: with the keyboard, and one with the mouse
    page.locator(".transcript .w").nth(50).click()
    mark(page, "control")
    assert len(page_events(page)) == 3
    page.keyboard.press("Delete")
    page.locator(".transcript .w").nth(60).click()
    mark(page, "minimal")
    minimal = [e["id"] for e in page_events(page) if e["code"] == "minimal_response"][0]
    page.locator(f"li[data-event='{minimal}'] .ev-delete").click()
    assert sorted(e["code"] for e in page_events(page)) == ["clarify", "denial"]
    assert page.evaluate("document.querySelector('#marker-control input:checked').value") == ""  # unanswered again
    # clicking an event's time plays from it
    page.locator(f"li[data-event='{event['id']}'] .ev-at").click()
    assert audio_time(page) == pytest.approx(at + 1, abs=0.05)

    answer_the_rest(page)
    assert not accessibility_problems(page), "the rater's page with events"
    page.keyboard.press("Control+Shift+Enter")  # submit & next, asked first; don't ask again
    page.wait_for_selector("#confirm-submit[open]")
    page.check("#confirm-skip")
    page.click("#confirm-yes")
    page.wait_for_url(f"{url}/rate/{minute2}")
    first = stored(database, minute1)
    assert first.status == "submitted"
    assert first.responses["therapist_contribution"] == 2 and first.responses["resolution"] == 3
    kept = {e["code"]: e for e in first.responses["events"]}
    assert sorted(kept) == ["clarify", "denial"]
    assert kept["denial"]["start"] == pytest.approx(at + 1, abs=0.02) and kept["denial"]["end"] is None
    assert kept["denial"]["salience"] == 4 and kept["denial"]["note"] == "says it is fine"
    assert kept["clarify"]["start"] == span["start"] and kept["clarify"]["end"] == pytest.approx(end + 0.5, abs=0.02)
    assert kept["clarify"]["salience"] == 4  # the salience last given
    markers = first.responses["markers"]
    assert markers["denial"] == 4 and markers["clarify"] == 4
    assert all(markers[m] == "absent" for m in OTHER_MARKERS if m not in ("denial", "clarify"))

    # unit 2: not asked any more; the button
    page.wait_for_selector("#rate[data-ready='1']")
    page.locator(".transcript .w").nth(5).click()
    mark(page, "abstract")
    page.keyboard.press("2")
    answer_the_rest(page, "11")
    page.click("#submit-next")
    page.wait_for_url(f"{url}/rate/{minute3}")
    second = stored(database, minute2)
    assert second.status == "submitted" and [(e["code"], e["salience"]) for e in second.responses["events"]] == [
        ("abstract_talk", 2)]

    # unit 3: an event's code changed with its menu; the last unit goes back to the queue, saying so
    page.wait_for_selector("#rate[data-ready='1']")
    page.locator(".transcript .w").nth(3).click()
    mark(page, "valid")  # at salience 2, the last given (on unit 2)
    page.locator("li.event .ev-code").select_option("invite_discussion")
    answer_the_rest(page, "35")
    page.keyboard.press("Control+Shift+Enter")
    page.wait_for_url(f"{url}/")
    assert "You have submitted all your units of Alliance rupture" in page.inner_text("main")
    third = stored(database, minute3)
    assert third.status == "submitted" and [e["code"] for e in third.responses["events"]] == ["invite_discussion"]
    assert third.responses["markers"]["invite_discussion"] == 2 and "validate_defensive" not in [
        k for k, v in third.responses["markers"].items() if v != "absent"]
    assert not errors
    context.close()


@pytest.mark.parametrize("width,height", [(1440, 900), (1280, 800), (390, 844), (360, 740)])
def test_the_page_fits_the_screen_and_shows_the_keyboards_focus(site, chromium, width, height):
    url, study, database = site
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = rater_page(context, url, study.assignments["rater1"][0])
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # every point of the 7-point scale is on the screen and inside its item, anchors at 12 px or more
    boxes = page.evaluate("""() => [...document.querySelectorAll('fieldset.item')].map((fs) => {
        const f = fs.getBoundingClientRect();
        return [...fs.querySelectorAll('.point')].map((p) => {
            const r = p.getBoundingClientRect(), a = p.querySelector('.anchor');
            return {inside: r.left >= f.left - 0.5 && r.right <= f.right + 0.5 && r.right <= innerWidth && r.width > 20,
                    anchor: a && getComputedStyle(a).display !== 'none'
                        ? parseFloat(getComputedStyle(a).fontSize) : null};
        });
    })""")
    assert len(boxes) == 12 and all(len(points) == 7 for points in boxes)
    assert all(p["inside"] for points in boxes for p in points)
    assert all(p["anchor"] >= 12 for points in boxes for p in points if p["anchor"] is not None)
    # point 7 of the last item can be clicked and is chosen
    page.locator("#item-12 .point").nth(6).click()
    assert checked(page, "12") == "7"
    # Tab onto a scale's option: the option shows the focus
    page.locator("#item-3").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "item:3"
    outline = page.evaluate("getComputedStyle(document.activeElement.closest('.point')).outlineStyle")
    assert outline not in ("", "none")
    # scoring the last item, the player is still in view
    page.locator("#item-12").scroll_into_view_if_needed()
    box = page.locator("#player").bounding_box()
    assert box["y"] >= -1 and box["y"] + box["height"] <= height
    assert not accessibility_problems(page)
    context.close()


def test_the_place_is_restored_the_turn_shown_and_a_stretch_looped(site, context):
    url, study, database = site
    page = rater_page(context, url, study.assignments["rater1"][0])
    word = page.locator(".transcript .w").nth(40)
    word.click()
    start = word_start(page, 40)
    # the turn being spoken is highlighted as well as the word
    assert page.locator(".transcript .seg.now .w.now").inner_text() == word.inner_text()
    assert page.locator(".transcript .seg.now").count() == 1
    page.evaluate("document.getElementById('transcript').scrollTop = 400")
    scrolled = page.evaluate("document.getElementById('transcript').scrollTop")
    time.sleep(0.6)  # the place is kept a moment after the last change
    page.reload()
    page.wait_for_selector("#rate[data-ready='1']")
    wait_until(page, "document.getElementById('audio').readyState >= 1")
    assert audio_time(page) == pytest.approx(start, abs=0.05)
    assert page.evaluate("document.getElementById('transcript').scrollTop") == pytest.approx(scrolled, abs=2)

    # select words 60-63, l: playback loops over them
    select_words(page, 60, 63)
    sel = page.evaluate("window.coderRating.selection()")
    assert sel["start"] == word_start(page, 60) and page.locator(".transcript .w.sel").count() == 4
    page.keyboard.press("l")
    page.wait_for_selector("#rate[data-looping='1']")
    assert page.get_attribute("#loop", "aria-pressed") == "true"
    span = sel["end"] - sel["start"]
    wait_until(page, "!document.getElementById('audio').paused", timeout=10)
    times = []
    deadline = time.monotonic() + span * 2 + 2
    while time.monotonic() < deadline:
        times.append(audio_time(page))
        time.sleep(0.05)
    assert all(sel["start"] - 0.05 <= t <= sel["end"] + 0.35 for t in times)
    assert any(b < a - span / 2 for a, b in zip(times, times[1:]))  # it went back to the start
    page.keyboard.press("l")
    assert page.get_attribute("#loop", "aria-pressed") == "false"
    # shift-drag on the waveform selects a stretch too
    page.keyboard.press("Space")
    box = page.locator("#waveform").bounding_box()
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 30, steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    dragged = page.evaluate("window.coderRating.selection()")
    duration = page.evaluate("JSON.parse(document.getElementById('rating-data').textContent).duration")
    assert dragged["start"] == pytest.approx(duration * 0.5, abs=1)
    assert dragged["end"] == pytest.approx(duration * 0.6, abs=1)
    page.keyboard.press("Escape")
    assert page.evaluate("window.coderRating.selection()") is None


def test_problems_go_once_answered_and_required_markers_are_named(site, context):
    url, study, database = site
    page = rater_page(context, url, study.assignments["rater1"][1])  # rupture markers: every marker required
    page.locator("#item-therapist_contribution").focus()
    page.keyboard.press("2")
    page.keyboard.press("Control+Enter")  # incomplete: not asked, the server names what is missing
    page.wait_for_selector("#problems:not([hidden])")
    assert page.locator("fieldset.invalid").count() == 21  # resolution and the 20 markers
    assert "21 items need" in page.inner_text("#problems")
    assert page.inner_text("#marker-denial .problem") == "Please answer: absent, or its salience."
    page.keyboard.press("3")  # resolution, which had the focus
    assert page.locator("#item-resolution.invalid").count() == 0
    assert page.locator("#item-resolution .problem").is_hidden()
    assert "20 items need" in page.inner_text("#problems")
    page.keyboard.press("0")  # denial: absent
    assert page.locator("#marker-denial .problem").is_hidden()
    assert "19 items need" in page.inner_text("#problems")
    for _ in range(19):
        page.keyboard.press("0")
    assert page.locator("#problems").is_hidden() and page.locator("fieldset.invalid").count() == 0
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#confirm-submit[open]")
    page.keyboard.press("Escape")  # keep editing: nothing is submitted
    wait_saved(page)
    assert stored(database, study.assignments["rater1"][1]).status == "draft"
    # the setting can be turned off on the page, and is the rater's from then on
    page.uncheck("#confirm-setting")
    page.wait_for_selector("#rate[data-preference-saved='1']")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#rate[data-save-state='submitted']")
    assert stored(database, study.assignments["rater1"][1]).status == "submitted"
    page.goto(f"{url}/rate/{study.assignments['rater1'][2]}")
    assert not page.is_checked("#confirm-setting")
