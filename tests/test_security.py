"""Session security: login limits, password policy, logins ended by a new password or deactivation,
cookie flags and headers, no secrets in the repository."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from coder.study.accounts import AccountError, check_password_policy, set_password
from coder.web.app import create_app
from coder.config import load_settings
from coder.study.models import AuditEvent, LoginFailure, User

from .support.rating_study import PASSWORD
from .support.web import csrf_token, login

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def site(tmp_path, database):
    from coder.study.accounts import create_user

    with database.session() as db:
        create_user(db, "coord", PASSWORD, "coordinator")
        create_user(db, "rater1", PASSWORD, "rater")
        create_user(db, "rater2", PASSWORD, "rater")
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True, "LOGIN_WINDOW_S": 3})
    return app, database


def _try(client, username, password):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)})


def test_an_account_is_locked_after_five_failures(site):
    app, database = site
    client = app.test_client()
    for _ in range(5):
        assert _try(client, "rater1", "wrong password!").status_code == 401
    locked = _try(client, "rater1", PASSWORD)  # the right password, but locked
    assert locked.status_code == 429 and "Too many failed logins" in locked.get_data(as_text=True)
    assert 1 <= int(locked.headers["Retry-After"]) <= 3
    assert _try(app.test_client(), "rater2", PASSWORD).status_code == 302  # other accounts are not locked
    time.sleep(3.2)  # the failures age out of the window
    assert _try(client, "rater1", PASSWORD).status_code == 302
    with database.session() as db:
        assert db.scalar(select(LoginFailure).where(LoginFailure.username == "rater1")) is None  # cleared
        failed = db.scalars(select(AuditEvent).where(AuditEvent.action == "login_failed")).all()
        assert len(failed) == 5 and failed[0].detail["address"] == "127.0.0.1"


def test_an_address_is_limited_across_accounts(site):
    app, _database = site
    app.config["LOGIN_WINDOW_S"] = 900  # twenty failed logins take longer than the fixture's short window
    client = app.test_client()
    for k in range(20):
        assert _try(client, f"guess{k}", "wrong password!").status_code == 401
    assert _try(client, "coord", PASSWORD).status_code == 429
    other = app.test_client()
    response = other.post("/login", data={"username": "coord", "password": PASSWORD,
                                          "csrf_token": csrf_token(other)},
                          environ_overrides={"REMOTE_ADDR": "10.0.0.7"})
    assert response.status_code == 302


def test_behind_a_trusted_proxy_the_client_address_counts(site, monkeypatch):
    app, database = site
    monkeypatch.setenv("CODER_TRUSTED_PROXIES", "1")
    proxied = create_app(app.extensions["coder.settings"], database, {"TESTING": True})
    client = proxied.test_client()
    client.post("/login", data={"username": "rater1", "password": "wrong password!",
                                "csrf_token": csrf_token(client)}, headers={"X-Forwarded-For": "203.0.113.9"})
    with database.session() as db:
        assert db.scalar(select(LoginFailure.address)) == "203.0.113.9"


def test_a_new_password_ends_other_logins(site):
    app, database = site
    client = app.test_client()
    assert login(client, "rater1").status_code == 302
    assert client.get("/").status_code == 200
    with database.session() as db:
        set_password(db.scalar(select(User).where(User.username == "rater1")), "another long password")
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert login(client, "rater1", "another long password").status_code == 302
    assert client.get("/").status_code == 200


def test_a_login_expires(site):
    """The signed cookie carries its time; the server refuses it after PERMANENT_SESSION_LIFETIME (12 h)."""
    import datetime as dt

    app, _database = site
    app.permanent_session_lifetime = dt.timedelta(seconds=2)
    client = app.test_client()
    login(client, "rater1")
    assert client.get("/").status_code == 200
    time.sleep(3.1)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_deactivated_account_is_logged_out(site):
    app, database = site
    client = app.test_client()
    login(client, "rater1")
    with database.session() as db:
        db.scalar(select(User).where(User.username == "rater1")).active = False
    assert client.get("/").status_code == 302
    assert _try(client, "rater1", PASSWORD).status_code == 401


def test_a_forged_session_id_is_refused(site):
    app, database = site
    client = app.test_client()
    login(client, "rater1")
    with database.session() as db:
        coord = db.scalar(select(User).where(User.username == "coord"))
        forged = f"{coord.id}.0000000000000000"
    with client.session_transaction() as session:
        session["_user_id"] = forged
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("password, problem", [
    ("short", "at least 10"), ("aaaaaaaaaaaa", "4 different"), ("password123", "too common"),
    ("Password123!", "too common"), ("rater1-is-me", "user name"), ("qwertyuiop", "too common"),
])
def test_password_policy(password, problem):
    with pytest.raises(AccountError, match=problem):
        check_password_policy(password, "rater1")


def test_password_policy_accepts_a_passphrase():
    check_password_policy("correct horse battery staple", "rater1")


def test_cookie_flags_and_headers(site, monkeypatch):
    app, _database = site
    client = app.test_client()
    response = login(client, "coord")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in page.headers

    monkeypatch.setenv("CODER_SESSION_COOKIE_SECURE", "true")  # behind HTTPS
    secure = create_app(app.extensions["coder.settings"], app.extensions["coder.db"], {"TESTING": True})
    client = secure.test_client()
    html = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"username": "coord", "password": PASSWORD, "csrf_token": token},
                           base_url="https://localhost", headers={"Referer": "https://localhost/login"})
    assert "Secure" in response.headers["Set-Cookie"]
    assert "max-age" in client.get("/", base_url="https://localhost").headers["Strict-Transport-Security"]


def test_pages_have_no_inline_scripts():
    """The Content-Security-Policy allows scripts from the app's files only."""
    for template in (ROOT / "coder" / "web" / "templates").glob("*.html"):
        html = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
        assert not re.search(r"\son[a-z]+=", html), template.name


def test_the_secret_key_is_made_on_first_run_outside_the_repository(tmp_path):
    settings = load_settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.db'}")
    key = settings.secret_key()
    path = tmp_path / "home" / "secret_key"
    assert len(key) == 64 and path.read_text().strip() == key and settings.secret_key() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    other = load_settings(home=tmp_path / "other", database_url=f"sqlite:///{tmp_path / 'd.db'}")
    assert other.secret_key() != key


def test_no_secrets_in_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert files and not any(Path(f).name in ("secret_key", ".env", "coder.db") for f in files)
    pattern = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|SECRET_KEY\s*=\s*['\"][^'\"]{8,}['\"]|"
                         r"postgres(?:ql)?://[^:\s/]+:[^@\s]{6,}@(?!localhost|127\.0\.0\.1|/)")
    hits = []
    for name in files:
        path = ROOT / name
        if path.suffix in (".ogg", ".wav", ".png", ".pt", ".flac") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        hits += [f"{name}: {m.group(0)[:40]}" for m in pattern.finditer(text)]
    assert not hits, hits
