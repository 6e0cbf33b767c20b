"""The rater's page on the server: on to the next unit, asking before a submit (a setting of the rater's),
and why a coordinator reopened a rating.

Run on SQLite and on a real PostgreSQL server (the ``database`` fixture).
"""
from __future__ import annotations

import json
import re
import shutil

import pytest
from sqlalchemy import select

from coder.config import load_settings
from coder.rating import workspace
from coder.study import instruments
from coder.study.models import AuditEvent, Study, User
from coder.web.app import create_app

from .support.rating_study import PASSWORD, build, marker_units, stored

# every marker must be answered (marker_answers: required): all absent
RUPTURE = {"therapist_contribution": 2, "resolution": 1,
           "markers": {m.id: "absent" for m in instruments.builtin("rupture-markers").markers}}


@pytest.fixture
def study(database):
    built = build(database)
    marker_units(database, built)
    with database.session() as db:
        db.scalar(select(Study)).settings = {"queue_order": "assigned"}
    return built


@pytest.fixture
def app(tmp_path, database, study, listening_copy):
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    return create_app(settings, database, {"TESTING": True})


def login(app, username):
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    page = client.get("/").get_data(as_text=True)
    client.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return client


def submit(client, assignment_id, scores):
    return client.post(f"/rate/{assignment_id}/submit", json={"scores": scores, "notes": "", "revision": 0},
                       headers={"X-CSRFToken": client.csrf})


def page_data(client, assignment_id) -> dict:
    html = client.get(f"/rate/{assignment_id}").get_data(as_text=True)
    return json.loads(re.search(r'<script id="rating-data" type="application/json">(.*?)</script>', html, re.S)
                      .group(1))


def test_next_goes_through_the_instruments_units_in_queue_order_then_back_to_the_queue(app, study):
    whole, minute1, minute2, minute3 = study.assignments["rater1"]
    rater = login(app, "rater1")
    # the queue's order (assigned): the whole session, minute 1, minute 2 (position 0, by id), minute 3 (100)
    assert rater.get(f"/rate/{minute1}/next").headers["Location"] == f"/rate/{minute2}"
    assert rater.get(f"/rate/{minute2}/next").headers["Location"] == f"/rate/{minute3}"
    # past the end, round to the units before it that are not submitted; never another instrument's
    assert rater.get(f"/rate/{minute3}/next").headers["Location"] == f"/rate/{minute1}"
    assert submit(rater, minute2, RUPTURE).status_code == 200
    assert rater.get(f"/rate/{minute1}/next").headers["Location"] == f"/rate/{minute3}"
    assert submit(rater, minute3, RUPTURE).status_code == 200
    done = rater.get(f"/rate/{minute1}/next", follow_redirects=True)
    assert done.request.path == "/"
    assert "You have submitted all your units of Alliance rupture" in done.get_data(as_text=True)
    # the wai-o-s unit is alone on its instrument
    assert rater.get(f"/rate/{whole}/next").headers["Location"] == "/"
    assert login(app, "rater2").get(f"/rate/{minute1}/next").status_code == 404


def test_next_assignment_follows_the_queue_order(database, study):
    with database.session() as db:
        rater = db.scalar(select(User).where(User.username == "rater1"))
        db.scalar(select(Study)).settings = {"queue_order": "random", "queue_seed": 3}
        db.flush()
        shuffled = [e.assignment_id for e in workspace.queue(db, rater)
                    if e.assignment_id != study.assignments["rater1"][0]]  # the rupture-markers units
        assert shuffled != sorted(shuffled)  # this seed's shuffle is not the order of the ids
        for here, there in zip(shuffled, shuffled[1:] + shuffled[:1]):
            assert workspace.next_assignment(db, rater, workspace.assignment_for(db, rater, here)).id == there


def test_asking_before_submit_is_the_raters_setting(app, database, study):
    rater = login(app, "rater1")
    aid = study.assignments["rater1"][1]
    assert page_data(rater, aid)["preferences"] == {"confirm_submit": True}
    answer = rater.post("/preferences", json={"confirm_submit": False}, headers={"X-CSRFToken": rater.csrf})
    assert answer.status_code == 200 and answer.get_json()["preferences"] == {"confirm_submit": False}
    assert page_data(rater, aid)["preferences"] == {"confirm_submit": False}
    assert page_data(login(app, "rater2"), study.assignments["rater2"][0])["preferences"]["confirm_submit"] is True
    for wrong in ({"confirm_submit": "no"}, {"autoplay": True}, {}, [True]):
        refused = rater.post("/preferences", json=wrong, headers={"X-CSRFToken": rater.csrf})
        assert refused.status_code in (400, 422) and refused.get_json()["ok"] is False
    assert page_data(rater, aid)["preferences"] == {"confirm_submit": False}
    with database.session() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "preferences"))
        assert event.detail["after"] == {"confirm_submit": False}
    assert rater.post("/preferences", json={"confirm_submit": True}).status_code == 400  # no CSRF token


def test_the_rater_sees_why_a_coordinator_reopened_the_rating(app, database, study):
    rater = login(app, "rater1")
    aid = study.assignments["rater1"][1]
    assert "Reopened by a coordinator" not in rater.get(f"/rate/{aid}").get_data(as_text=True)
    assert submit(rater, aid, RUPTURE).status_code == 200
    coordinator = login(app, "coord")
    coordinator.post(f"/ratings/{stored(database, aid).id}/reopen",
                     data={"csrf_token": coordinator.csrf, "reason": "resolution <b>scored</b> before the rupture"})
    html = rater.get(f"/rate/{aid}").get_data(as_text=True)
    assert "Reopened by a coordinator" in html
    assert "resolution &lt;b&gt;scored&lt;/b&gt; before the rupture" in html
