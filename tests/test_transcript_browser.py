"""The transcript editor in a real browser (Debian's Chromium, driven by Playwright, against waitress), on SQLite
and PostgreSQL: a coordinator takes the demo session from automatic to verified (jump to a low-confidence word,
edit, split, move words, rename, undo, history), the rater then reads the corrected text; two editors at once;
and a correction made while offline."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from coder.config import load_settings
from coder.study import transcripts
from coder.study.models import Recording, Study
from coder.web.app import create_app

from .support.browser import wait_until
from .support.rating_study import PASSWORD, build


@pytest.fixture
def site(tmp_path, database, live_server, listening_copy):
    built = build(database)
    with database.session() as db:
        transcript = db.get(Recording, built.recording_id).transcript
        segments = [dict(s, words=[dict(w) for w in s["words"]]) for s in transcript.segments]
        segments[2]["words"][7]["probability"] = 0.21  # "Let's put that ..." — a word the recogniser doubted
        transcript.segments = segments
        tid = transcript.id
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    url = live_server(create_app(settings, database))
    return url, built, tid, database


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
    page.wait_for_url(f"{url}/**")


def open_editor(context, url, tid, username="coord"):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, url, username)
    page.goto(f"{url}/transcripts/{tid}")
    page.wait_for_selector("#editor[data-ready='1']")
    return page, errors


def wait_revision(page, n):
    wait_until(page, f"document.getElementById('editor').dataset.revision === '{n}' && "
                     "document.getElementById('editor').dataset.saveState === 'saved'", timeout=15)


def word(page, turn, k):
    return page.locator(f"#turns li[data-i='{turn}'] .w").nth(k)


def stored(database, tid):
    with database.session() as db:
        from coder.study.models import Transcript
        t = db.get(Transcript, tid)
        return t.revision, t.status, [dict(s) for s in t.segments], {s.label: s.name for s in t.speakers}


def test_a_coordinator_takes_the_session_to_verified_and_the_rater_reads_it(site, context, chromium):
    url, built, tid, database = site
    page, errors = open_editor(context, url, tid)
    _rev, _status, before, _names = stored(database, tid)
    assert page.locator("#turns li.turn").count() == len(before)
    assert page.locator(".w.low").count() == 1 and "1 word to check" in page.inner_text("#low-count")

    # n: to the doubted word, with the playhead a second before it
    page.keyboard.press("n")
    assert "word 8" in page.inner_text("#selection") and "“that”" in page.inner_text("#selection")
    wait_until(page, f"Math.abs(document.getElementById('audio').currentTime - "
                     f"{before[2]['words'][7]['start'] - 1}) < 0.05")

    # e: edit the turn's text; Enter saves it as revision 1
    page.keyboard.press("e")
    box = page.locator("textarea.turn-edit")
    assert box.input_value() == before[2]["text"]
    box.fill(before[2]["text"].replace("put that on", "put the week on"))
    box.press("Enter")
    wait_revision(page, 1)
    rev, status, after, _ = stored(database, tid)
    assert status == "in_review" and "put the week on the agenda" in after[2]["text"]
    assert [(w["start"], w["end"]) for w in after[2]["words"][:4]] == \
        [(w["start"], w["end"]) for w in before[2]["words"][:4]]  # untouched words keep their times

    # s: split turn 1 before its fourth word
    word(page, 1, 3).click()
    page.keyboard.press("s")
    wait_revision(page, 2)
    _, _, split, _ = stored(database, tid)
    assert len(split) == len(before) + 1 and split[2]["text"].split()[0] == before[1]["text"].split()[3]

    # m: move two words (click, shift+click) of turn 0 to the client
    word(page, 0, 1).click()
    word(page, 0, 2).click(modifiers=["Shift"])
    assert "words 2–3" in page.inner_text("#selection")
    page.keyboard.press("m")
    wait_revision(page, 3)
    _, _, moved, _ = stored(database, tid)
    assert moved[1]["speaker"] == "SPEAKER_01" and moved[1]["text"].split() == before[0]["text"].split()[1:3]
    assert page.locator("#turns li[data-i='1'] select.who").input_value() == "SPEAKER_01"

    # rename the therapist: the name shows in the turns
    page.fill("form.rename[data-label='SPEAKER_00'] input", "Dr Reyes")
    page.click("form.rename[data-label='SPEAKER_00'] button")
    wait_until(page, "document.querySelector('#turns li[data-i=\"0\"] select.who option:checked').textContent "
                     "=== 'Dr Reyes'")
    assert stored(database, tid)[3]["SPEAKER_00"] == "Dr Reyes"

    # Ctrl+Z: the move undone (revision 2 saved again as 4)
    page.locator("h1").click()
    page.keyboard.press("Control+z")
    wait_revision(page, 4)
    assert stored(database, tid)[2] == split

    # the history lists every revision, and any can be restored
    page.click("#history-load")
    page.wait_for_selector("#history li.revision[data-number='0']")
    assert page.locator("#history li.revision").count() == 5
    assert "restored revision 2" in page.inner_text("#history li.revision[data-number='4']")

    # verified; the study shows raters verified transcripts only
    page.select_option("#status", "verified")
    wait_until(page, "document.getElementById('editor').dataset.status === 'verified'")
    with database.session() as db:
        study = db.scalar(select(Study).where(Study.name == "Trial R"))
        transcripts.set_rater_view(db, study, "verified", None)
    assert stored(database, tid)[1] == "verified"
    assert not errors

    rater = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        rpage = rater.new_page()
        log_in(rpage, url, "rater1")
        rpage.goto(f"{url}/rate/{built.assignments['rater1'][0]}")
        rpage.wait_for_selector("#rate[data-ready='1']")
        text = rpage.inner_text("#transcript")
        assert "put the week on the agenda" in text and "put that on" not in text
        # raters read roles, not the names given for the exports
        assert "Therapist" in text and "Dr Reyes" not in text
    finally:
        rater.close()


def test_two_editors_at_once_do_not_overwrite_each_other(site, context, chromium):
    url, _built, tid, database = site
    first, _ = open_editor(context, url, tid)
    other = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        second, _ = open_editor(other, url, tid)
        _, _, before, _ = stored(database, tid)
        word(first, 0, 0).click()
        first.keyboard.press("e")
        first.locator("textarea.turn-edit").fill("Lovely to see you again.")
        first.keyboard.press("Enter")
        wait_revision(first, 1)
        # the second window still shows revision 0: its correction is refused, and it shows the first one's
        word(second, 3, 0).click()
        second.keyboard.press("e")
        second.locator("textarea.turn-edit").fill("Something else entirely")
        second.keyboard.press("Enter")
        second.wait_for_selector("#notices .notice", timeout=15000)
        assert "Someone else saved this transcript (now revision 1)" in second.inner_text("#notices")
        assert "Something else entirely" in second.inner_text("#notices")
        assert second.locator("#turns li[data-i='0'] .text").inner_text().startswith("Lovely to see you again.")
        rev, _, after, _ = stored(database, tid)
        assert rev == 1 and after[0]["text"] == "Lovely to see you again." and after[3] == before[3]
    finally:
        other.close()


def test_a_correction_made_offline_is_kept_and_saved_when_the_connection_returns(site, context):
    url, _built, tid, database = site
    page, errors = open_editor(context, url, tid)
    context.set_offline(True)
    word(page, 1, 0).click()
    page.keyboard.press("e")
    page.locator("textarea.turn-edit").fill("It has been up and down, honestly.")
    page.keyboard.press("Enter")
    wait_until(page, "document.getElementById('editor').dataset.saveState === 'offline'", timeout=15)
    assert "kept in this browser" in page.inner_text("#save-state")
    assert "up and down, honestly." in page.inner_text("#turns li[data-i='1']")
    kept = page.evaluate(f"localStorage.getItem('coder:transcript:' + "
                         f"JSON.parse(document.getElementById('transcript-data').textContent).user + ':{tid}')")
    assert "honestly" in kept
    assert stored(database, tid)[0] == 0
    context.set_offline(False)
    wait_revision(page, 1)
    assert stored(database, tid)[2][1]["text"] == "It has been up and down, honestly."
    assert page.evaluate("window.coderTranscript.queue().length") == 0
    assert not errors
