"""The coordinator's main path in a real browser (Debian's Chromium through Playwright) against the served app:
create a study, add its dyad, upload two recordings, process them in the background, cut units, assign them
with a double-coded design, a rater rates one, and the dashboard shows the progress."""
from __future__ import annotations

import re

from sqlalchemy import select

from coder.study import instruments
from coder.jobs import queue as tasks
from coder.study.accounts import create_user
from coder.web.app import create_app
from coder.config import load_settings
from coder.db import Database
from coder.study.models import Assignment, Rating, User

from .support.audio import excerpt
from .support.browser import wait_until
from .support.rating_study import PASSWORD


def log_in(page, url, username):
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_create_upload_process_assign_rate_and_follow_progress(tmp_path, live_server, chromium, tiny_whisper,
                                                               monkeypatch):
    # the processing form names a model of the model store (a path is refused: tests/test_hardening.py)
    monkeypatch.setenv("CODER_MODELS_DIR", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / tiny_whisper.name).write_bytes(tiny_whisper.read_bytes())
    database = Database(f"sqlite:///{tmp_path / 'coder.db'}")
    database.migrate()
    with database.session() as db:
        create_user(db, "coord", PASSWORD, "coordinator", "Coordinator")
        for name in ("ana", "ben"):
            create_user(db, name, PASSWORD, "rater", name.title())
        instruments.store(db, instruments.builtin("wai-o-s"))
    files = [excerpt(tmp_path, 10, f"D1 session {n}.wav", offset=15 * n) for n in (1, 2)]
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    url = live_server(create_app(settings, database))
    worker = tasks.start_embedded(settings, database)  # as `coder serve` does
    try:
        _main_path(url, database, files, chromium, tiny_whisper)
    finally:
        worker.stop()
        database.dispose()


def _main_path(url, database, files, chromium, tiny_whisper):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, url, "coord")

    # a study with one dyad
    page.click("text=New study")
    page.fill("input[name=name]", "Trial B")
    page.click("button:has-text('Create study')")
    page.wait_for_selector("h1:has-text('Trial B')")
    page.fill("input[aria-label='Therapist code']", "T1")
    page.click("button:has-text('Add therapist')")
    page.fill("input[aria-label='Client code']", "C1")
    page.click("button:has-text('Add client')")
    page.select_option("select[aria-label=Therapist]", "T1")
    page.select_option("select[aria-label=Client]", "C1")
    page.fill("input[aria-label='Dyad code']", "D1")
    page.click("button:has-text('Add dyad')")
    assert "Dyad D1 (T1 with C1) added." in page.inner_text(".flash")

    # two recordings at once: sessions guessed from the names, the dyad chosen per file
    page.set_input_files("#upload-files", [str(f) for f in files])
    rows = page.locator("#upload-table tbody tr")
    assert rows.count() == 2
    assert [rows.nth(i).locator("input[name=session]").input_value() for i in range(2)] == ["1", "2"]
    for i in range(2):
        rows.nth(i).locator("select").select_option(label="D1 (T1 with C1)")
    page.fill("#upload-table tbody tr:nth-child(2) input[name=time_point]", "week 2")
    page.click("#upload-start")
    page.wait_for_selector("#upload-summary:has-text('2 uploaded, 0 refused')", timeout=60000)
    assert "registered: dyad D1, session 1, SHA-256" in rows.nth(0).inner_text()
    page.click("text=Show them in the list")
    page.wait_for_selector("tr[data-recording] td.status.registered")
    assert page.locator("tr[data-recording]").count() == 2

    # process both in the background; the page follows their progress
    page.select_option("select[name=engine]", "openai-whisper")  # the tiny test model is a .pt checkpoint
    page.fill("input[name=model]", tiny_whisper.name)
    page.click("button:has-text('Process all not yet processed')")
    assert "2 recording(s) queued" in page.inner_text(".flash")
    wait_until(page, "document.querySelectorAll('td.status.transcribed').length === 2", timeout=300)
    assert page.locator(".transcript-link a").count() == 2

    # whole-session units for the alliance scale, then the design: half the units double-coded
    page.check("#select-all")
    page.check("#units input[name=instrument][value='wai-o-s']")
    page.click("button:has-text('Add units')")
    assert "2 rating unit(s) added for wai-o-s." in page.inner_text(".flash")
    page.fill("input[name=overlap]", "50")
    page.fill("#assign input[name=reason]", "first wave")
    page.click("#assign button:has-text('Assign')")
    flash = page.inner_text(".flash")
    assert re.search(r"3 assignment\(s\) over 2 unit\(s\), 1 coded by more than one rater; per rater ana [12], "
                     r"ben [12]", flash), flash

    # a rater logs in, sees only their queue and rates the first unit
    rater = chromium.new_context(viewport={"width": 1400, "height": 900}).new_page()
    rater.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(rater, url, "ana")
    queue = rater.locator("table.queue tr")
    n_ana = queue.count() - 1
    assert n_ana in (1, 2)
    assert "double" not in rater.inner_text("main").lower()  # raters are not told which units are double-coded
    queue.nth(1).locator("a.button").click()
    rater.wait_for_selector("#rate[data-ready='1']")
    rater.locator("#item-1").focus()
    n_items = len(instruments.builtin("wai-o-s").items)
    for digit in ("5674" * n_items)[:n_items]:
        rater.keyboard.press(digit)
    rater.keyboard.press("Control+Enter")
    rater.wait_for_selector("#confirm-submit[open]")  # a submit locks the rating: the page asks first
    rater.keyboard.press("Enter")
    rater.wait_for_selector("#rate[data-save-state='submitted']")

    # the dashboard shows it
    page.click("text=Progress dashboard")
    text = page.inner_text("#work")
    assert re.search(rf"ana\twai-o-s\t{n_ana}\t{n_ana - 1}\t0\t1\t0\t ?{100 // n_ana} %", text), text
    assert re.search(rf"ben\twai-o-s\t{3 - n_ana}\t{3 - n_ana}\t0\t0\t0\t ?0 %", text), text
    with database.session() as db:
        ana = db.scalar(select(User).where(User.username == "ana"))
        submitted = db.scalars(select(Rating).join(Assignment, Rating.assignment_id == Assignment.id)
                               .where(Assignment.rater_id == ana.id, Rating.status == "submitted")).all()
        assert len(submitted) == 1
    assert errors == []
    context.close()
