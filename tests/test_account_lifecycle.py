"""The account lifecycle: a one-time password changed at the first login, one's own password change, a reset by a
coordinator or on the command line, logout that ends the session on the server, a lifetime counted from the
login, a fresh CSRF token at login, the same work on every failed login, and reactivation scoped like
deactivation. Each test fails on the code before these were built."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from werkzeug import security

from coder.config import load_settings
from coder.study import accounts
from coder.study.accounts import create_user
from coder.study.models import AuditEvent, User
from coder.web.app import create_app

from .support.cli import coder
from .support.rating_study import PASSWORD, build
from .support.web import csrf_token, login

NEW = "a long new passphrase"
PAGE = "/account/password"  # a page with a form, open to every account


@pytest.fixture
def site(tmp_path, database):
    study = build(database, raters=("rater1", "rater2"))
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True})
    return app, database, study


def _user(database, username) -> User:
    with database.session() as db:
        user = db.scalar(select(User).where(User.username == username))
        db.expunge(user)
        return user


def _events(database, action) -> list[AuditEvent]:
    with database.session() as db:
        found = db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()
        for event in found:
            db.expunge(event)
        return found


def _change(client, current, new, confirm=None):
    return client.post("/account/password", data={"current_password": current, "new_password": new,
                                                  "confirm_password": new if confirm is None else confirm,
                                                  "csrf_token": csrf_token(client, PAGE)})


def test_a_new_rater_changes_the_one_time_password_at_the_first_login(site):
    app, database, _study = site
    coordinator = app.test_client()
    login(coordinator, "coord")
    made = coordinator.post("/raters", data={"username": "newbie", "display_name": "New rater",
                                             "csrf_token": csrf_token(coordinator, PAGE)}, follow_redirects=True)
    one_time = made.get_data(as_text=True).split("one-time password: ")[1].split(" ")[0]
    rater = app.test_client()
    assert login(rater, "newbie", one_time).status_code == 302
    queue = rater.get("/")
    assert queue.status_code == 302 and queue.headers["Location"].endswith("/account/password")
    assert rater.get("/rate/1").status_code == 302  # nothing but the password page
    assert rater.get("/rate/1", headers={"Accept": "application/json"}).status_code == 403
    assert "Choose your password" in rater.get("/account/password").get_data(as_text=True)
    assert _change(rater, one_time, NEW, confirm="something else").status_code == 400
    assert _change(rater, "not it at all", NEW).status_code == 400
    assert _change(rater, one_time, one_time).status_code == 400
    assert _change(rater, one_time, "short").status_code == 400
    assert _change(rater, one_time, NEW).status_code == 302
    assert rater.get("/").status_code == 200  # still logged in, on a fresh session
    assert _user(database, "newbie").must_change_password is False
    [event] = _events(database, "password_change")
    assert event.entity_id == _user(database, "newbie").id


def test_changing_a_password_ends_the_other_logins_but_not_this_one(site):
    app, _database, _study = site
    here, there = app.test_client(), app.test_client()
    login(here, "rater1")
    login(there, "rater1")
    assert _change(here, PASSWORD, NEW).status_code == 302
    assert here.get("/").status_code == 200
    gone = there.get("/")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    assert login(there, "rater1", PASSWORD).status_code == 401
    assert login(there, "rater1", NEW).status_code == 302


def test_logout_ends_the_session_on_the_server(site):
    """A cookie saved before logging out no longer opens anything afterwards."""
    app, _database, _study = site
    client = app.test_client()
    login(client, "rater1")
    saved = client.get_cookie("session").value
    assert client.get("/").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, PAGE)})
    replay = app.test_client()
    replay.set_cookie("session", saved)
    response = replay.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert login(client, "rater1").status_code == 302 and client.get("/").status_code == 200


def test_the_session_lifetime_counts_from_the_login_however_active(site):
    app, _database, _study = site
    app.permanent_session_lifetime = __import__("datetime").timedelta(seconds=3)
    client = app.test_client()
    login(client, "rater1")
    started = time.monotonic()
    while time.monotonic() - started < 2.5:  # busy all along: every request refreshes the cookie
        assert client.get("/").status_code == 200
        time.sleep(0.2)
    time.sleep(max(0.0, 3.2 - (time.monotonic() - started)))
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with client.session_transaction() as session:  # a session without a login time is not trusted
        session["_user_id"] = _user(_database, "rater1").get_id()
    assert client.get("/").status_code == 302


def test_the_csrf_token_is_new_after_login(site):
    app, _database, _study = site
    client = app.test_client()
    before = csrf_token(client)
    with client.session_transaction() as session:
        session["planted"] = "left by someone at this browser"
    login(client, "rater1")
    with client.session_transaction() as session:
        assert "planted" not in session
    after = csrf_token(client, PAGE)
    assert after != before
    stale = client.post("/logout", data={"csrf_token": before})
    assert stale.status_code == 400  # the token from before the login is refused


@pytest.mark.parametrize("username", ["rater1", "nobody-here", "gone"])
def test_a_failed_login_checks_one_password_hash_whoever_it_names(site, monkeypatch, username):
    """Known, unknown and deactivated user names take the same work, so the time does not tell them apart."""
    app, database, _study = site
    with database.session() as db:
        accounts.set_active(db, create_user(db, "gone", PASSWORD, "rater"), False, None, "left the study")
    accounts.unused_hash()  # made once per process, before the first unknown name
    calls = []
    real = security.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(accounts, "generate_password_hash", lambda *a, **k: calls.append("hash") or "x")
    with database.session() as db:
        wrong = "wrong password!" if username != "gone" else PASSWORD
        assert accounts.authenticate(db, username, wrong) is None
    assert calls == [1]


def test_a_coordinator_resets_a_password_and_the_rater_chooses_a_new_one(site):
    app, database, _study = site
    rater = app.test_client()
    login(rater, "rater1")
    coordinator = app.test_client()
    login(coordinator, "coord")
    rater_id = _user(database, "rater1").id
    page = coordinator.post(f"/raters/{rater_id}", data={"action": "reset", "reason": "forgot it",
                                                        "csrf_token": csrf_token(coordinator, PAGE)},
                            follow_redirects=True).get_data(as_text=True)
    one_time = page.split("must change when they log in: ")[1].split(" ")[0]
    assert rater.get("/").status_code == 302  # the rater's login ended
    assert login(rater, "rater1", PASSWORD).status_code == 401
    assert login(rater, "rater1", one_time).status_code == 302
    assert rater.get("/").headers["Location"].endswith("/account/password")
    assert _change(rater, one_time, NEW).status_code == 302 and rater.get("/").status_code == 200
    [event] = _events(database, "password_reset")
    assert event.entity_id == rater_id and event.actor_id == _user(database, "coord").id


def test_reactivation_is_scoped_like_deactivation_and_needs_a_reason(site):
    """A coordinator of another study may not reactivate a rater whom this study's coordinator deactivated."""
    app, database, _study = site
    with database.session() as db:
        create_user(db, "coord_other", PASSWORD, "coordinator")
    rater_id = _user(database, "rater2").id
    mine, other = app.test_client(), app.test_client()
    login(mine, "coord")
    login(other, "coord_other")

    def act(client, action, reason):
        return client.post(f"/raters/{rater_id}", data={"action": action, "reason": reason, "reassign": "",
                                                        "csrf_token": csrf_token(client, PAGE)}, follow_redirects=True)

    assert "give a reason" in act(mine, "deactivate", " ").get_data(as_text=True)
    assert _user(database, "rater2").active
    act(mine, "deactivate", "left the team")
    assert not _user(database, "rater2").active
    refused = act(other, "activate", "needed back").get_data(as_text=True)
    assert "studies you do not coordinate" in refused and not _user(database, "rater2").active
    assert "studies you do not coordinate" in act(other, "reset", "x").get_data(as_text=True)
    assert "give a reason" in act(mine, "activate", "").get_data(as_text=True)
    act(mine, "activate", "back from leave")
    assert _user(database, "rater2").active
    [event] = _events(database, "activate")
    assert event.detail["reason"] == "back from leave"


def test_passwords_on_the_command_line(site, tmp_path):
    app, database, _study = site
    env = {"DATABASE_URL": database.url, "CODER_HOME": str(tmp_path / "home")}
    client = app.test_client()
    login(client, "rater1")
    reset = coder("users", "reset", "rater1", env=env)
    assert reset.exit_code == 0, reset.stderr
    one_time = reset.stdout.split("one-time password for rater1: ")[1].split()[0]
    assert client.get("/").status_code == 302
    assert _user(database, "rater1").must_change_password
    assert login(client, "rater1", one_time).status_code == 302
    changed = coder("users", "passwd", "rater1", "--password", NEW, env=env)
    assert changed.exit_code == 0, changed.stderr
    assert not _user(database, "rater1").must_change_password
    assert login(app.test_client(), "rater1", NEW).status_code == 302
    assert coder("users", "passwd", "rater1", "--password", "short", env=env).exit_code != 0
    assert coder("users", "reset", "nobody", env=env).exit_code != 0
    assert [e.detail.get("by") for e in _events(database, "password_change")] == ["command line"]
    assert len(_events(database, "password_reset")) == 1
