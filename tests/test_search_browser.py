"""The transcript search page in a real browser (Debian's Chromium, driven by Playwright, against waitress), on
SQLite and PostgreSQL: a coordinator searches the study, makes rating units around a chosen hit, and opens the
transcript editor at a hit."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select

from coder.config import load_settings
from coder.study.models import RatingUnit
from coder.web.app import create_app

from .support.rating_study import PASSWORD, build


@pytest.fixture
def site(tmp_path, database, live_server, listening_copy):
    built = build(database)
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    return live_server(create_app(settings, database)), built, database


def test_search_make_units_and_open_the_editor_at_a_hit(site, chromium):
    url, _built, database = site
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/login")
        page.fill("input[name=username]", "coord")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/")
        page.click("text=Trial R")
        page.click("text=Search transcripts")
        page.fill("input[name=q]", "homework")
        page.select_option("select[name=role]", "therapist")
        page.click("form[role=search] button[type=submit]")
        page.wait_for_selector("#hits")
        rows = page.locator("table.hits tbody tr")
        assert rows.count() >= 1 and "hit" in page.inner_text("#hits-heading")
        assert all(t.lower() == "homework" for t in page.locator("table.hits mark").all_inner_texts())
        assert "Client" not in page.inner_text("table.hits tbody")

        with database.session() as db:
            units_before = db.scalar(select(func.count(RatingUnit.id)))
        rows.first.locator("input[type=checkbox]").check()
        page.fill("input[name=before]", "10")
        page.fill("input[name=after]", "20")
        page.click("#units button[type=submit]")
        page.wait_for_selector("p.flash")
        assert "1 rating unit(s) added around 1 hit(s)" in page.inner_text("p.flash")
        with database.session() as db:
            assert db.scalar(select(func.count(RatingUnit.id))) == units_before + 1
            unit = db.scalars(select(RatingUnit).order_by(RatingUnit.id.desc())).first()
            # from 10 s before the hit's turn to 20 s after it
            assert 30 <= unit.end_s - unit.start_s <= 60 and "homework" in unit.label

        hit_time = page.locator("table.hits tbody tr").first.locator("a").first
        hit_time.click()
        page.wait_for_selector("#editor[data-ready='1']")
        selected = page.inner_text("#selection")
        assert "Therapist" in selected and page.locator(".w.sel").count() == 1
        assert page.evaluate("document.getElementById('audio').currentTime") > 1
        assert not errors
    finally:
        context.close()
