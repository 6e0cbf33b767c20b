"""The de-identification review screen in a real browser (Debian's Chromium, driven by Playwright, against
waitress), on SQLite and PostgreSQL: names planted in two sessions of the demo dyad; a coordinator enters the
dyad's lists, detects, accepts a candidate and rejects another by keyboard, adds a missed name by selecting its
words, is refused while anything is pending, applies and reads the pseudonyms; the dyad's next session gets the
same pseudonyms; the study then gives raters the de-identified text and muted audio, and the rater reads the
pseudonyms, never the names, and hears the masked copy."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from coder.config import load_settings
from coder.study.models import Recording, Speaker, Study, Transcript
from coder.study.tree import get_or_create_session
from coder.web.app import create_app

from .support.browser import wait_until
from .support.rating_study import PASSWORD, build
from .support.planted import PLANTED, planted_segments

LISTS = "Client: Maria; Maria Lopez\nTherapist: Helen\nSister: Anna"
FIRST = {**PLANTED, 7: "Mostly that Mr Price at work will notice."}  # a name the lists do not hold
SECOND = {0: "Did you see Anna again, or your other sister Beth?",
          1: "We met in York and then in Leeds, Maria said."}
NAMES = ("Maria", "Anna", "Leeds", "Price")


@pytest.fixture
def site(tmp_path, database, live_server, listening_copy):
    built = build(database)
    with database.session() as db:
        first = db.get(Recording, built.recording_id)
        first.transcript.segments = planted_segments(FIRST)
        session = get_or_create_session(db, first.session.dyad, 4)
        # the same audio under another checksum (a recording is registered once): its own listening copy
        second = Recording(session_id=session.id, path=first.path, original_name="D1_session4.ogg",
                           sha256="4" * 64, size_bytes=first.size_bytes, duration_s=first.duration_s,
                           sample_rate=first.sample_rate, channels=first.channels, status="transcribed")
        db.add(second)
        db.flush()
        db.add(Transcript(recording_id=second.id, engine="script", model="turns", language="en",
                          duration_s=first.duration_s, segments=planted_segments(SECOND),
                          speakers=[Speaker(label="SPEAKER_00", role="therapist"),
                                    Speaker(label="SPEAKER_01", role="client")]))
        db.flush()
        ids = {"first": first.transcript.id, "second": second.transcript.id,
               "study": db.scalar(select(Study.id).where(Study.name == "Trial R"))}
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    url = live_server(create_app(settings, database))
    return url, built, ids, database


@pytest.fixture
def context(chromium):
    context = chromium.new_context(viewport={"width": 1500, "height": 950})
    yield context
    context.close()


def log_in(page, url, username):
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/**")


def open_screen(page, url, tid):
    page.goto(f"{url}/transcripts/{tid}/deidentify")
    page.wait_for_selector("#deid[data-ready='1']")


def idle(page):
    wait_until(page, "document.getElementById('deid').dataset.busy === ''", timeout=60)


def candidates(page):
    return page.evaluate("window.coderDeid.state().candidates")


def decision(page, ident):
    return next(c["decision"] for c in candidates(page) if c["id"] == ident)


def detect(page):
    page.click("#detect")
    wait_until(page, "document.getElementById('deid').dataset.status === 'detected' && "
                     "document.getElementById('deid').dataset.busy === ''", timeout=60)


def apply(page):
    page.click("#apply")
    wait_until(page, "document.getElementById('deid').dataset.status === 'applied'", timeout=30)
    return page.inner_text("#deidentified")


def test_a_coordinator_deidentifies_two_sessions_and_the_rater_reads_the_pseudonyms(site, context, chromium):
    url, built, ids, database = site
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, url, "coord")
    page.goto(f"{url}/transcripts/{ids['first']}")
    page.click("#deidentify-link")  # the editor links to the review screen
    page.wait_for_selector("#deid[data-ready='1']")
    assert "Not detected yet" in page.inner_text("#deid-status").capitalize()

    # the dyad's lists
    page.fill("#people-text", LISTS)
    page.click("#people-form button[type=submit]")
    idle(page)
    assert page.evaluate("window.coderDeid.state().people") == {"Client": ["Maria", "Maria Lopez"],
                                                                "Therapist": ["Helen"], "Sister": ["Anna"]}

    detect(page)
    found = candidates(page)
    assert page.locator("#candidates tbody tr").count() == len(found)
    assert page.locator("#turns .w.cand.pending").count() >= len(found)
    maria = next(c for c in found if c["text"] == "Maria")
    assert maria["pseudonym"] == "[Client]"

    # n: the first pending candidate, played from a second before it
    page.keyboard.press("n")
    first = found[0]
    wait_until(page, f"window.coderDeid.current() === {first['id']}")
    wait_until(page, f"Math.abs(document.getElementById('audio').currentTime - {max(0, first['start'] - 1)}) < 1.5")
    assert page.locator(f"#candidates tr.current[data-c='{first['id']}']").count() == 1

    # a: accept Maria, chosen by clicking her word
    page.locator("#turns li[data-i='0'] .w").nth(maria["first"]).click()
    wait_until(page, f"window.coderDeid.current() === {maria['id']}")
    page.keyboard.press("a")
    idle(page)
    assert decision(page, maria["id"]) == "accepted"
    assert page.locator("#turns li[data-i='0'] .w.cand.accepted").count() == 1
    assert "[Client]" in page.inner_text("#turns li[data-i='0']")  # the pseudonym beside the word

    # r: reject a candidate that is no name, chosen in the table
    other = next(c for c in found if c["text"] not in NAMES and c["turn"] != 7)
    page.click(f"#candidates tbody tr[data-c='{other['id']}'] td.text")
    wait_until(page, f"window.coderDeid.current() === {other['id']}")
    page.keyboard.press("r")
    idle(page)
    assert decision(page, other["id"]) == "rejected"

    # a name the detection did not make a candidate of: "Mr Price", selected word by word
    words = page.locator("#turns li[data-i='7'] .w")
    words.nth(2).click()
    words.nth(3).click(modifiers=["Shift"])
    assert "words 3–4" in page.inner_text("#selection") and "Mr Price" in page.inner_text("#selection")
    page.select_option("#add-type", "PERSON")
    page.click("#add")
    idle(page)
    added = [c for c in candidates(page) if c["source"] == "added"]
    assert [(c["text"], c["decision"], c["pseudonym"]) for c in added] == [("Mr Price", "accepted", "[Person 1]")]

    # applying is refused while candidates are pending, and names them
    page.click("#apply")
    page.wait_for_selector("#notices .notice")
    assert "still pending" in page.inner_text("#notices")
    assert page.locator("#candidates tr.missing").count() == int(page.get_attribute("#deid", "data-pending"))
    assert page.get_attribute("#deid", "data-status") == "detected"

    # the other names accepted in the table, the rest rejected at once
    for c in candidates(page):
        if c["decision"] == "pending" and c["text"] in NAMES:
            page.click(f"#candidates tbody tr[data-c='{c['id']}'] button.accept")
            idle(page)
    page.click("#reject-all")
    wait_until(page, "document.getElementById('deid').dataset.pending === '0' && "
                     "document.getElementById('deid').dataset.busy === ''")
    text = apply(page)
    assert "[Client]" in text and "[Town A]" in text and "[Person 1]" in text
    assert text.count("[Sister 1]") == 2  # Anna twice in the session: the same pseudonym
    assert not any(name in text for name in NAMES)
    assert page.locator("#log-link").is_visible()

    # the dyad's next session: the same names get the same pseudonyms
    open_screen(page, url, ids["second"])
    assert page.input_value("#people-text") == LISTS  # the dyad's lists
    detect(page)
    for c in candidates(page):
        if c["text"] in ("Maria", "Anna", "Leeds", "York", "Beth"):
            page.click(f"#candidates tbody tr[data-c='{c['id']}'] button.accept")
            idle(page)
    page.click("#reject-all")
    wait_until(page, "document.getElementById('deid').dataset.pending === '0' && "
                     "document.getElementById('deid').dataset.busy === ''")
    text = apply(page)
    assert "[Sister 1]" in text and "[Town A]" in text and "[Client]" in text and "[Town B]" in text
    assert not any(name in text for name in ("Maria", "Anna", "Leeds", "York"))
    assert not errors

    # the study: raters read the de-identified text and hear the muted copy
    page.goto(f"{url}/studies/{ids['study']}")
    page.check("#deid-settings input[name=deid_text][value=deidentified]")
    page.check("#deid-settings input[name=deid_audio][value=muted]")
    page.click("#deid-settings button[type=submit]")
    page.wait_for_selector(".flash")
    assert "de-identified transcript only" in page.inner_text(".flash")

    rater = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        rpage = rater.new_page()
        log_in(rpage, url, "rater1")
        aid = built.assignments["rater1"][0]
        rpage.goto(f"{url}/rate/{aid}")
        rpage.wait_for_selector("#rate[data-ready='1']")
        shown = rpage.inner_text("#transcript")
        assert "[Client]" in shown and "[Sister 1]" in shown and "[Person 1]" in shown
        assert not any(name in shown for name in NAMES)
        assert rpage.evaluate(f"fetch('/rate/{aid}/audio', {{credentials: 'same-origin'}}).then(r => r.status)") == 200
        wait_until(rpage, "document.getElementById('audio').readyState >= 1", timeout=30)
    finally:
        rater.close()
