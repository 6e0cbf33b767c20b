"""Faults: the web server killed (SIGKILL) while raters save, a read-only database file, a full disk under
the recordings. No acknowledged rating is lost, nothing is left half-written, and people get a clear
message. (A worker killed mid-job is tested in test_tasks.py.)"""
from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from coder.study.access import grant
from coder.study.accounts import create_user
from coder.web.app import create_app
from coder.config import load_settings
from coder.db import Database
from coder.study.models import Recording, Study

from .support.audio import write_tone
from .support.faults import Browser, Server, check_integrity, keep_saving, stored_state
from .support.prerequisites import need
from .support.rating_study import PASSWORD, build
from .support.web import login


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
        assert stored_state(database, b.assignment) == b.acked, b.username
    check_integrity(database)


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
    assert stored_state(check, b.assignment) == b.acked and b.acked["revision"] == before["revision"] + 1
    check_integrity(check)
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
