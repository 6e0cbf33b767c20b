"""Faults: the web server killed (SIGKILL) while raters save, a read-only database file, a full disk under
the recordings. No acknowledged rating is lost, nothing is left half-written, and people get a clear
message. (A worker killed mid-job is tested in test_tasks.py.)"""
from __future__ import annotations

import http.client
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from sqlalchemy import select, text

from coder.study import instruments
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.web.app import create_app
from coder.config import load_settings
from coder.db import Database
from coder.study.models import Rating, Recording, Study

from .conftest import free_port, need, write_tone
from .rating_study import PASSWORD, build
from .test_web import login

WAI_ITEMS = [item.id for item in instruments.builtin("wai-o-s").items]


class Server:
    """``coder serve`` in a child process on loopback; ``bound_by_permissions``: run without root's power to
    override file permissions, so that a read-only file binds it as it binds everyone else."""

    def __init__(self, home: Path, url: str, bound_by_permissions: bool = False):
        self.home, self.url = home, url
        self.prefix = (["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
                       if bound_by_permissions and os.geteuid() == 0 else [])
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "CODER_HOME": str(self.home), "DATABASE_URL": self.url}
        log = open(self.home / "server.log", "ab")
        self.proc = subprocess.Popen([*self.prefix, sys.executable, "-m", "coder.cli", "serve", "--no-worker",
                                      "--port", str(self.port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise AssertionError(f"server did not start: {(self.home / 'server.log').read_text()[-2000:]}")

    def kill(self, sig=signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)


class Browser:
    """A rater's browser: cookies, the rating page's CSRF token, and what the server last acknowledged."""

    def __init__(self, port: int, username: str, assignment: int, password: str = PASSWORD):
        self.port, self.username, self.assignment, self.password = port, username, assignment, password
        self.cookies: dict[str, str] = {}
        self.acked: dict | None = None
        self.revision = 0
        self.failures = 0
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            for key, morsel in SimpleCookie(header).items():
                self.cookies[key] = morsel.value
        return response.status, data

    def log_in(self) -> None:
        self.conn.close()  # a new server may be listening now
        self.cookies = {}
        _, page = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        form = f"username={self.username}&password={self.password.replace(' ', '+')}&csrf_token={token}".encode()
        status, _ = self.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302, status
        status, page = self.request("GET", f"/rate/{self.assignment}")
        self.csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
        data = json.loads(re.search(rb'<script id="rating-data" type="application/json">(.*?)</script>', page,
                                    re.S).group(1))
        self.revision = data["rating"]["revision"]

    def save(self, n: int, rng: random.Random) -> int:
        """One autosave; returns the HTTP status (0 when the server could not be reached)."""
        scores = {item: rng.randint(1, 7) for item in WAI_ITEMS}
        notes = f"{self.username} save {n}"
        body = json.dumps({"scores": scores, "notes": notes, "revision": self.revision}).encode()
        try:
            status, data = self.request("POST", f"/rate/{self.assignment}/save", body,
                                        {"Content-Type": "application/json", "Accept": "application/json",
                                         "X-CSRFToken": self.csrf})
        except (OSError, http.client.HTTPException):
            self.failures += 1
            return 0
        answer = json.loads(data)
        if status == 200:
            self.revision = answer["revision"]
            self.acked = {"scores": answer["scores"], "notes": answer["notes"], "revision": answer["revision"]}
        elif status == 409 and answer.get("current"):
            # a save the server applied but never answered (it was killed): take up its revision, as the page does
            self.revision = answer["current"]["revision"]
        return status


def keep_saving(browsers: list[Browser], stop: threading.Event, record) -> list[threading.Thread]:
    """Each rater autosaves until ``stop``, retrying after a failure as the page does; ``record(browser,
    status)`` hears every answer (0: no answer). Returns the started threads."""

    def rate(b: Browser):
        rng = random.Random(b.username)
        n = 0
        while not stop.is_set():
            n += 1
            status = b.save(n, rng)
            record(b, status)
            if status == 0:
                time.sleep(0.05)  # offline: the page retries

    threads = [threading.Thread(target=rate, args=(b,)) for b in browsers]
    for t in threads:
        t.start()
    return threads


def _stored(database: Database, assignment: int) -> dict | None:
    with database.session() as db:
        rating = db.scalar(select(Rating).where(Rating.assignment_id == assignment))
        return None if rating is None else {"scores": rating.responses, "notes": rating.notes,
                                            "revision": rating.revision}


def _integrity(database: Database) -> None:
    if database.engine.dialect.name == "sqlite":
        with database.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_killing_the_server_during_saves_loses_no_acknowledged_rating(database, tmp_path):
    built = build(database, raters=("rater1", "rater2", "rater3"))
    home = tmp_path / "home"
    home.mkdir()
    server = Server(home, database.url)
    server.start()
    browsers = [Browser(server.port, name, built.assignments[name][0]) for name in ("rater1", "rater2", "rater3")]
    for b in browsers:
        b.log_in()
    stop = threading.Event()
    statuses: list[int] = []
    threads = keep_saving(browsers, stop, lambda _b, status: statuses.append(status))
    try:
        for _ in range(3):  # three kills, each while saves are on their way
            time.sleep(1.5)
            server.kill()
            time.sleep(0.5)
            server.start()
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.kill(signal.SIGTERM)
    assert statuses.count(0) >= 3, "the kills never caught a save"
    assert set(statuses) <= {0, 200, 409}, sorted(set(statuses))
    for b in browsers:
        assert b.acked is not None and b.failures > 0
        assert _stored(database, b.assignment) == b.acked, b.username
    _integrity(database)


def test_a_read_only_database_file(sqlite_database, tmp_path):
    built = build(sqlite_database, raters=("rater1",))
    home = tmp_path / "home"
    home.mkdir()
    db_file = Path(sqlite_database.url.removeprefix("sqlite:///"))
    sqlite_database.dispose()
    server = Server(home, sqlite_database.url, bound_by_permissions=True)
    server.start()
    b = Browser(server.port, "rater1", built.assignments["rater1"][0])
    b.log_in()
    rng = random.Random(1)
    assert b.save(1, rng) == 200
    before = dict(b.acked)
    server.kill(signal.SIGTERM)
    os.chmod(db_file, 0o444)
    try:
        server.start()
        b.log_in()  # people can still log in and read
        status, data = b.request("POST", f"/rate/{b.assignment}/save",
                                 json.dumps({"scores": {"1": 3}, "notes": "x", "revision": b.revision}).encode(),
                                 {"Content-Type": "application/json", "Accept": "application/json",
                                  "X-CSRFToken": b.csrf})
        answer = json.loads(data)
        assert status == 503 and "the database is read-only" in answer["error"]
        assert "kept in this browser" in answer["error"]
        status, page = b.request("GET", f"/rate/{b.assignment}")
        assert status == 200
        server.kill(signal.SIGTERM)
    finally:
        os.chmod(db_file, 0o644)
    server.start()
    b.log_in()
    assert b.save(2, rng) == 200  # the page's retry goes through once the file is writable again
    server.kill(signal.SIGTERM)
    check = Database(sqlite_database.url)
    assert _stored(check, b.assignment) == b.acked and b.acked["revision"] == before["revision"] + 1
    _integrity(check)
    assert "Traceback" not in (home / "server.log").read_text()
    check.dispose()


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs mounted where the recordings go."""
    need(os.geteuid() == 0, "mounting a small filesystem needs root")
    where = tmp_path / "home" / "recordings"
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True,
                          text=True)
    need(done.returncode == 0, f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_under_the_recordings(sqlite_database, tmp_path, small_disk):
    with sqlite_database.session() as db:
        study = Study(name="Trial F")
        db.add(study)
        db.flush()
        grant(db, study, create_user(db, "coord", PASSWORD, "coordinator"), None)
        study_id = study.id
    app = create_app(load_settings(home=tmp_path / "home", database_url=sqlite_database.url), sqlite_database,
                     {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    login(client, "coord")
    big = write_tone(tmp_path / "big.wav", 80.0, freq=200.0)  # 2.6 MB: more than the disk holds
    small = write_tone(tmp_path / "small.wav", 5.0, freq=300.0)

    def upload(path):
        return client.post(f"/studies/{study_id}/upload", data={"session": "1", "therapist": "T1", "client": "C1",
                                                                "file": (io.BytesIO(path.read_bytes()), path.name)},
                           content_type="multipart/form-data")

    refused = upload(big)
    assert refused.status_code == 400 and "no space left on the disk for recordings" in refused.json["error"]
    assert [p for p in small_disk.rglob("*") if p.is_file()] == []  # the partial file is gone
    with sqlite_database.session() as db:
        assert db.scalar(select(Recording)) is None
    done = upload(small)  # the space came back with the partial file's removal
    assert done.status_code == 200, done.json
    with sqlite_database.session() as db:
        rec = db.scalar(select(Recording))
        assert Path(rec.path).parent == small_disk and Path(rec.path).stat().st_size == small.stat().st_size
