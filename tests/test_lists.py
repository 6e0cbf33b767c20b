"""Long lists a page at a time, at the scale of a trial (tests/support/large_study.py: 200 sessions, 10 raters,
4 instruments): the studies, a study's recordings, the ratings, the audit trail and a rater's queue give the
right rows for each page and filter, on SQLite and PostgreSQL; the rater's queue tells units apart and shows
the study as the coordinator chose."""
from __future__ import annotations

import html
import re
import time

from sqlalchemy import select

from coder.config import load_settings
from coder.study.models import Assignment, AuditEvent, Dyad, Rating, Recording, Study, TherapySession
from coder.web.app import create_app

from .support.cli import coder
from .support.large_study import INSTRUMENT_KEYS, build_large_study, rating_status
from .support.rating_study import build as build_rating_study
from .support.web import login, without_tokens


def _app(tmp_path, database):
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    return create_app(settings, database, {"TESTING": True, "WTF_CSRF_ENABLED": False})


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _text(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.get_data(as_text=True))


def _expected_ratings(big, status=None, rater=None, instrument=None) -> list[int]:
    """The assignment positions of the ratings a filter must give, newest first, worked out from how the
    builder made them (not from the database)."""
    out = []
    i = 0
    for _unit in range(big.sessions):
        for r in range(len(big.raters)):
            for key in big.instrument_keys:
                s = rating_status(i)
                if s and (status is None or s == status) and (rater is None or r == rater) and \
                        (instrument is None or key == instrument):
                    out.append(i)
                i += 1
    return sorted(out, reverse=True)


def test_long_lists_give_the_right_rows_for_each_page_and_filter(tmp_path, database):
    big = build_large_study(database)
    app = _app(tmp_path, database)
    coord = _client(app, big.coordinator)

    home = _text(coord, "/")
    assert "Trial L" in home and "140 transcribed" in home and "20 failed" in home
    assert "Trial L" not in _text(coord, "/?q=nothing+like+it")
    assert "Trial L" in _text(coord, "/?q=trial")

    # the study's recordings: by dyad, session and id, 50 a page
    with database.session() as db:
        order = list(db.scalars(select(Recording.id).join(TherapySession, Recording.session_id == TherapySession.id)
                                .join(Dyad, TherapySession.dyad_id == Dyad.id)
                                .order_by(Dyad.code, TherapySession.number, Recording.id)))
        failed = list(db.scalars(select(Recording.id).where(Recording.status == "failed").order_by(Recording.id)))
        dyad3 = db.scalar(select(Dyad.id).where(Dyad.code == "D003"))
    url = f"/studies/{big.study_id}"
    rows = lambda page: [int(x) for x in re.findall(r'<tr data-recording="(\d+)"', page)]  # noqa: E731
    first = _text(coord, url)
    assert rows(first) == order[:50] and "1–50 of 200 recordings" in first
    assert rows(_text(coord, url + "?page=2")) == order[50:100]
    assert rows(_text(coord, url + "?page=99")) == order[150:]  # past the end: the last page
    by_status = _text(coord, url + "?status=failed")
    assert sorted(rows(by_status)) == failed and "20 recordings" in by_status
    assert "failed (20)" in by_status and "transcribed (140)" in by_status
    assert len(rows(_text(coord, f"{url}?dyad={dyad3}"))) == 10
    assert coord.get(url + "?status=nonsense").status_code == 400
    # page links keep the filters
    assert re.search(r'href="[^"]*status=transcribed[^"]*page=2|href="[^"]*page=2[^"]*status=transcribed',
                     _text(coord, url + "?status=transcribed"))

    # the ratings: newest first, 50 a page, filtered in the database
    with database.session() as db:
        position = dict(db.execute(select(Assignment.id, Assignment.position)).all())
        rating_of = {}
        for rating_id, assignment_id in db.execute(select(Rating.id, Rating.assignment_id)):
            rating_of[rating_id] = position[assignment_id]
    listed = lambda page: [rating_of[int(x)] for x in re.findall(r'href="/ratings/(\d+)"', page)]  # noqa: E731
    every = _expected_ratings(big)
    page1 = _text(coord, "/ratings")
    assert listed(page1) == every[:50] and f"1–50 of {len(every)} ratings" in page1
    assert listed(_text(coord, "/ratings?page=3")) == every[100:150]
    rater3 = big.rater_ids[2]
    chosen = _expected_ratings(big, status="draft", rater=2, instrument="wai-o")
    filtered = _text(coord, f"/ratings?status=draft&rater={rater3}&instrument=wai-o")
    assert listed(filtered) == chosen[:50] and f"of {len(chosen)} ratings" in filtered
    assert listed(_text(coord, f"/ratings?status=submitted&study={big.study_id}&page=2")) == \
        _expected_ratings(big, status="submitted")[50:100]
    assert listed(_text(coord, f"/ratings?study={big.study_id + 999}")) == []

    # the audit trail: newest first, by action, study and page
    drafts = _text(coord, "/audit?action=save_draft")
    assert f"of {big.ratings['draft']} events" in drafts
    ids = [int(x) for x in re.findall(r"<tr><td>(\d+)</td>", _text(coord, "/audit?action=submit&page=2"))]
    with database.session() as db:
        expected = list(db.scalars(select(AuditEvent.id).where(AuditEvent.action == "submit")
                                   .order_by(AuditEvent.id.desc()).offset(200).limit(200)))
    assert ids == expected
    assert f"of {big.ratings['submitted']} events" in _text(coord, f"/audit?action=submit&study={big.study_id}")

    # a rater's queue: 800 units, 50 a page, filtered by status and instrument with counts
    rater = _client(app, big.raters[0])
    queue = _text(rater, "/")
    mine = [i for i in range(big.assignments) if (i // len(INSTRUMENT_KEYS)) % len(big.raters) == 0]
    todo = [i for i in mine if rating_status(i) is None]
    assert f"to do ({len(todo)})" in queue and "1–50 of 800 units" in queue
    todo_page = _text(rater, "/?status=to-do")
    assert todo_page.count('class="status-to-do"') == min(50, len(todo))
    assert 'class="status-submitted"' not in todo_page
    on_wai = _text(rater, "/?instrument=wai-o&status=draft")
    drafts_on_wai = [i for i in mine if rating_status(i) == "draft" and i % len(INSTRUMENT_KEYS) == 1]
    assert on_wai.count('class="status-draft"') == len(drafts_on_wai)
    assert rater.get("/?status=finished").status_code == 400


# --- the rater's queue: labels, filters, the study's name ------------------------------------------------

def test_queue_filters_labels_and_the_study_label(tmp_path, database):
    build_rating_study(database)
    app = _app(tmp_path, database)

    def cli(*args):
        return coder(*args, env={"CODER_HOME": tmp_path / "home", "DATABASE_URL": database.url}, timeout=120)

    rater = _client(app, "rater1")
    queue = without_tokens(_text(rater, "/"))
    assert "Whole session · 0:00–" in queue and "Segment · 0:00–1:00 · Minute 1" in queue
    codes = re.findall(r"· unit ([A-Z0-9]{6})</span>", queue)
    assert len(codes) == 3 and len(set(codes)) == 3  # the session number is hidden: codes tell the units apart
    assert "Trial R" in queue  # the study's name, until the coordinator hides it
    assert "to do (3)" in queue and "draft (0)" in queue
    only_markers = _text(rater, "/?instrument=rupture-markers")
    assert "Minute 1" in only_markers and "Whole session" not in only_markers and "to do (2)" in only_markers

    coord = _client(app, "coord")
    study_id = study_id_of(database)
    response = coord.post(f"/studies/{study_id}/transcripts", data={"action": "study_label", "shown": "label",
                                                                     "label": "Study 1"})
    assert response.status_code == 302
    queue = without_tokens(_text(rater, "/"))
    assert "Trial R" not in queue and "Study 1" in queue
    rate_page = _text(rater, re.search(r'href="(/rate/\d+)"', queue).group(1))
    assert "Trial R" not in rate_page and "Study 1" in rate_page  # the rating page's title and heading too
    study_page = _text(coord, f"/studies/{study_id}")
    assert re.search(r'value="label" checked', study_page) and 'value="Study 1"' in study_page
    coord.post(f"/studies/{study_id}/transcripts", data={"action": "study_label", "shown": "hidden"})
    queue = without_tokens(_text(rater, "/"))
    assert "Trial R" not in queue and "Study 1" not in queue
    rate_page = _text(rater, re.search(r'href="(/rate/\d+)"', queue).group(1))
    assert "Trial R" not in rate_page and "Study 1" not in rate_page
    bad = coord.post(f"/studies/{study_id}/transcripts", data={"action": "study_label", "shown": "label",
                                                                "label": " "}, follow_redirects=True)
    assert "give the label" in bad.get_data(as_text=True)

    # shown session numbers: no code needed
    assert cli("study", "Trial R", "--show", "session_number", "--rater-study-label", "Trial 7").exit_code == 0
    queue = without_tokens(_text(rater, "/"))
    assert "· unit " not in queue and "session number 3" in queue and "Trial 7" in queue
    shown = cli("study", "Trial R", "--show-study-name")
    assert "raters read the study's name" in shown.stdout
    assert "Trial R" in without_tokens(_text(rater, "/"))
    assert cli("study", "Trial R", "--hide-study-name", "--show-study-name").exit_code != 0


def study_id_of(database) -> int:
    with database.session() as db:
        return db.scalar(select(Study.id).where(Study.name == "Trial R"))


def test_processing_shows_its_percentage_and_an_estimate_of_the_time_left(tmp_path, database):
    """The study page and the status it polls: a running job's percentage at once, and the time left once its
    progress has moved since the first look."""
    big = build_large_study(database, dyads=1, sessions_per_dyad=3, raters=1, instrument_keys=("wai-o-s",))
    with database.session() as db:
        rec = db.scalar(select(Recording).where(Recording.status == "transcribed").order_by(Recording.id))
        rec.status, rec.progress_s, rec.attempts, rec.worker = "transcribing", 0.0, 1, "host:1"
        rec_id, duration = rec.id, rec.duration_s
    app = _app(tmp_path, database)
    coord = _client(app, big.coordinator)
    page = _text(coord, f"/studies/{big.study_id}")
    assert "transcribing 0 %" in page
    status_url = re.search(r'data-status-url="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert f"id={rec_id}" in status_url  # the poll asks for the recordings on the page only

    def status():
        return next(r for r in coord.get(status_url).get_json()["recordings"] if r["id"] == rec_id)

    first = status()
    assert first["percent"] == 0 and first["eta_s"] is None and first["time_left"] == ""
    time.sleep(0.5)
    with database.session() as db:
        db.get(Recording, rec_id).progress_s = duration / 4
    later = status()
    assert later["percent"] == 25
    # a quarter done in the time since the first look: three times that again to go
    assert later["eta_s"] > 0 and later["time_left"].endswith("left")
    page = _text(coord, f"/studies/{big.study_id}")
    assert "transcribing 25 % · " in page and " left" in page
    with database.session() as db:
        db.get(Recording, rec_id).status = "transcribed"
    assert status()["eta_s"] is None


def test_the_lists_work_without_javascript_and_pass_axe(tmp_path, sqlite_database, live_server, chromium):
    """The queue's filters and the lists' page links are plain links and forms: they work in a browser with
    JavaScript off; and axe-core finds no serious or critical problem on the pages."""
    from .support.browser import accessibility_problems, log_in

    big = build_large_study(sqlite_database, dyads=6, sessions_per_dyad=10, raters=2,
                            instrument_keys=("wai-o-s", "wai-o"))
    url = live_server(_app(tmp_path, sqlite_database))

    def signed_in(username, javascript=True):
        context = chromium.new_context(java_script_enabled=javascript)
        page = context.new_page()
        log_in(page, url, username, "a long enough password")
        return page

    page = signed_in(big.raters[0], javascript=False)
    assert page.locator("table.queue tbody tr").count() == 50
    page.get_by_role("link", name=re.compile(r"^to do \(\d+\)$")).click()
    assert "status=to-do" in page.url
    rows = page.locator("table.queue tbody tr")
    statuses = [rows.nth(i).get_attribute("class") for i in range(rows.count())]
    assert statuses and set(statuses) == {"status-to-do"}
    page.goto(f"{url}/")
    page.get_by_role("link", name="next ›").click()
    assert "page=2" in page.url and page.locator("table.queue tbody tr").count() == 50
    page.context.close()

    checked = signed_in(big.raters[0])
    assert accessibility_problems(checked) == [], "queue"
    coord = signed_in(big.coordinator)
    for address in ("/", f"/studies/{big.study_id}?status=transcribed", "/ratings?status=draft", "/audit"):
        coord.goto(url + address)
        assert accessibility_problems(coord) == [], address
