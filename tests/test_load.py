"""A short run of the load benchmark (bench/load.py) as a test, on SQLite and PostgreSQL: raters working at once
through the real server (``coder serve``) lose nothing. The figures come from the full run
(docs/benchmarks.md); here only correctness."""
from __future__ import annotations

import re
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bench.load import run
from bench.rating import Rater
from coder.cli.server import tune_interpreter
from coder.config import load_settings
from coder.db import Database
from coder.study import accounts
from coder.study.accounts import create_user
from coder.study.models import AuditEvent
from coder.web.app import create_app
from tests.support.cli import coder
from tests.support.rating_study import PASSWORD, build


def test_raters_at_once_lose_nothing(db_url, tmp_path):
    # all logging in at once, then saving four times a second each
    result = run(db_url, tmp_path, raters=10, seconds=20, units=2, pace_s=0.25)
    assert result["errors"] == 0, result["error_examples"]
    assert result["ratings_checked"] >= 10 and result["submitted"] >= 5
    assert result["lost_or_wrong"] == 0, result["examples"]
    assert result["latency_ms"]["autosave"]["n"] > 100


# --- logins arriving together --------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _default_bound():
    """Each test here may change the process's bound on password hashes; put it back afterwards."""
    yield
    accounts.password_hashing.resize(accounts.default_password_checks())


def _wait_for(condition, what: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)


@contextmanager
def _every_turn_held():
    """Hold every turn to hash a password, so that logins wait for one whatever the machine's speed."""
    hashing = accounts.password_hashing
    with ExitStack() as stack:
        for _ in range(hashing.limit):
            stack.enter_context(hashing.turn())
        yield hashing


def test_password_hashes_take_turns(database):
    with database.session() as db:
        create_user(db, "waiting", PASSWORD, "rater")
    accounts.password_hashing.resize(1)
    results: list = []

    def log_in():
        with database.session() as db:
            user = accounts.authenticate(db, "waiting", PASSWORD)
            results.append(user.username if user else None)

    with _every_turn_held() as hashing:
        checker = threading.Thread(target=log_in)
        checker.start()
        _wait_for(lambda: hashing.waiting == 1, "the password check to wait for its turn")
        assert checker.is_alive() and results == []
    checker.join(60)
    assert results == ["waiting"]
    assert hashing.busy == 0 and hashing.waiting == 0


def test_logins_waiting_to_hash_leave_the_pages_free(database, tmp_path, live_server):
    """Eight logins wait for their turn to hash while a rater already logged in opens the queue and the rating
    page; afterwards every login goes through."""
    built = build(database, raters=("rater1", *(f"late{i}" for i in range(8))))
    app = create_app(load_settings(home=tmp_path / "home", database_url=database.url), database,
                     {"PASSWORD_CHECKS": 1})
    port = int(live_server(app, threads=12).rsplit(":", 1)[1])
    working = Rater(port, "rater1", built.assignments["rater1"][0])
    assert _log_in(working) == 302

    arriving = [Rater(port, f"late{i}", built.assignments[f"late{i}"][0]) for i in range(8)]
    answers: dict[str, int] = {}

    def arrive(rater: Rater) -> None:
        answers[rater.username] = _log_in(rater)

    with _every_turn_held() as hashing:
        threads = [threading.Thread(target=arrive, args=(r,)) for r in arriving]
        for t in threads:
            t.start()
        _wait_for(lambda: hashing.waiting == 8, "eight logins waiting to hash")
        queue_status, queue = working.request("GET", "/")
        page_status, page = working.request("GET", f"/rate/{working.assignment}")
        assert (queue_status, page_status) == (200, 200)
        assert b"Whole session" in queue and b'id="rating-data"' in page
        assert answers == {} and hashing.waiting == 8  # the logins were still waiting meanwhile
    for t in threads:
        t.join(120)
    assert answers == {f"late{i}": 302 for i in range(8)}
    for rater in arriving:
        assert rater.request("GET", f"/rate/{rater.assignment}")[0] == 200


def _log_in(rater: Rater) -> int:
    _, page = rater.request("GET", "/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    form = urlencode({"username": rater.username, "password": PASSWORD, "csrf_token": token}).encode()
    status, _ = rater.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    return status


def test_password_checks_setting(tmp_path, sqlite_database):
    settings = load_settings(home=tmp_path / "home", database_url=sqlite_database.url)
    create_app(settings, sqlite_database, {"PASSWORD_CHECKS": 3})
    assert accounts.password_hashing.limit == 3
    with pytest.raises(ValueError, match="CODER_PASSWORD_CHECKS must be a whole number of at least 1"):
        create_app(settings, sqlite_database, {"PASSWORD_CHECKS": 0})
    create_app(settings, sqlite_database)
    assert accounts.password_hashing.limit == accounts.default_password_checks()


def test_a_connection_for_every_server_thread(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'coder.db'}", connections=40)
    assert database.engine.pool.size() == 40
    database.dispose()


def test_serve_threads_are_checked(tmp_path):
    for args, env in ((("--threads", "0"), {}), ((), {"CODER_THREADS": "none"})):
        result = coder("serve", *args, env={"CODER_HOME": str(tmp_path / "home"), **env})
        assert result.exit_code == 2 and "--threads" in result.stderr, result.stderr


def test_a_login_writes_in_the_write_turn_but_hashes_outside_it(sqlite_database, tmp_path):
    """SQLite: the login's writes (its audit event, the failures cleared) wait for the app's write turn, as saves
    do, instead of meeting SQLite's busy handler; its password check does not hold the turn."""
    with sqlite_database.session() as db:
        create_user(db, "arriving", PASSWORD, "rater")
    app = create_app(load_settings(home=tmp_path / "home", database_url=sqlite_database.url), sqlite_database,
                     {"WTF_CSRF_ENABLED": False})
    hashing = accounts.password_hashing
    hashing.peak = 0
    answers: list[int] = []

    def arrive():
        answers.append(app.test_client().post("/login", data={"username": "arriving", "password": PASSWORD})
                       .status_code)

    with sqlite_database.writing():
        login = threading.Thread(target=arrive)
        login.start()
        _wait_for(lambda: hashing.peak == 1 and hashing.busy == 0, "the password check")
        login.join(1.0)
        assert login.is_alive() and answers == []  # checked, and waiting to write
    login.join(60)
    assert answers == [302]
    with sqlite_database.session() as db:
        assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "login")) is not None


# --- saves queued on SQLite's write turn ---------------------------------------------------------------------

def test_write_turns_go_first_come_first_served(sqlite_database):
    """Writers waiting for the write turn get it in the order they asked (a plain lock wakes any of them, and
    under load some saves waited out many that came after them)."""
    turns = sqlite_database.write_turns
    order: list[int] = []

    def write(k: int) -> None:
        with sqlite_database.writing():
            order.append(k)

    with sqlite_database.writing():
        writers = []
        for k in range(12):
            writers.append(threading.Thread(target=write, args=(k,)))
            writers[-1].start()
            _wait_for(lambda: turns.waiting == k + 1, f"writer {k} to queue")
    for w in writers:
        w.join(60)
    assert order == list(range(12))
    with sqlite_database.writing():  # free again
        assert turns.waiting == 0


def test_the_server_hands_the_interpreter_lock_over_sooner():
    before = sys.getswitchinterval()
    try:
        tune_interpreter()
        assert sys.getswitchinterval() == pytest.approx(0.001) and 0.001 < before
    finally:
        sys.setswitchinterval(before)
