"""The web server in a child process and raters autosaving against it, for the fault tests and the fault
benchmark (bench/faults.py): ``Server`` runs ``coder serve``; each ``Browser`` logs in and saves as the rating
page does; ``keep_saving`` runs them flat out; ``stored_state`` and ``check_integrity`` check what is left."""
from __future__ import annotations

import http.client
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

from sqlalchemy import select, text

from coder.db import Database
from coder.study import instruments
from coder.study.models import Rating

from .network import free_port
from .rating_study import PASSWORD

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
        with open(self.home / "server.log", "ab") as log:  # the child keeps its own copy of the descriptor
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


def stored_state(database: Database, assignment: int) -> dict | None:
    """The stored rating of an assignment as a browser's ``acked`` holds it (None when there is none)."""
    with database.session() as db:
        rating = db.scalar(select(Rating).where(Rating.assignment_id == assignment))
        return None if rating is None else {"scores": rating.responses, "notes": rating.notes,
                                            "revision": rating.revision}


def check_integrity(database: Database) -> None:
    """SQLite's integrity check passes (nothing to check on PostgreSQL)."""
    if database.engine.dialect.name == "sqlite":
        with database.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
