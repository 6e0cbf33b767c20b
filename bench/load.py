#!/usr/bin/env python3
"""The whole rating app under load: 50 simulated raters for 2 minutes against ``coder serve`` on loopback.

    .venv/bin/python bench/load.py [--raters 50] [--seconds 120] [--units 5] [--arrive-over 10]
                                   [--postgres | --database-url URL] [--json bench/results-load.json]

Each rater has ``--units`` units of the demo session (10-minute windows) on the 12-item alliance form, and
works as a person with the rating page does: arrives at a random moment within the first ``--arrive-over``
seconds (0: all at once), logs in, opens the queue, opens a unit's rating page, fetches
the start of its audio (an HTTP range request), then changes an item about once a second (the page's
autosave), reopens the page now and then, and submits the unit after 20–40 saves with every item
answered, moving on to the next. Every request is timed at the client, and in the app (its Server-Timing
header); any status other than the expected one, and any dropped connection, is an error.

At the end every assignment a rater touched is read from the database and compared with what the server
last acknowledged to that rater (scores, notes, revision and submitted or not): a difference is a lost or
corrupted rating. The server is ``coder serve`` (waitress, 8 threads) with a fresh SQLite database in a
temporary CODER_HOME, a fresh database on a throwaway PostgreSQL server with ``--postgres`` (started as the
tests start theirs, ``tests/support/postgres.py``), or the PostgreSQL database given by ``--database-url`` (it
must be empty). The server's threads and its concurrent password checks follow CODER_THREADS and
CODER_PASSWORD_CHECKS in the environment, where set (docs/deployment.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rating import ITEMS, PASSWORD, Rater, percentile  # noqa: E402
from coder.study import instruments  # noqa: E402
from coder.study.accounts import create_user  # noqa: E402
from coder.pipeline.audio import probe, sha256_file  # noqa: E402
from coder.db import Database  # noqa: E402
from coder.study.models import Assignment, Rating, RatingUnit  # noqa: E402
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study  # noqa: E402
from tests.support import postgres  # noqa: E402
from tests.support.rating_study import SESSION_AUDIO, transcribed_recording  # noqa: E402


def set_up(url: str, raters: int, units: int) -> dict[str, list[int]]:
    """A study with the demo session; each rater gets ``units`` windows of their own. Returns their
    assignment ids by rater."""
    database = Database(url)
    database.migrate()
    info = probe(SESSION_AUDIO)
    out: dict[str, list[int]] = {}
    with database.session() as db:
        study = get_or_create_study(db, "Load")
        rec = transcribed_recording(db, get_or_create_session(db, get_or_create_dyad(db, study, "T1", "C1", "D1"), 1))
        wai = instruments.store(db, instruments.builtin("wai-o-s"))
        for i in range(raters):
            user = create_user(db, f"rater{i:02d}", PASSWORD, "rater")
            db.flush()
            out[user.username] = []
            for k in range(units):
                start = (i * units + k) % max(1, int(info.duration_s) - 30)
                unit = RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="custom", start_s=float(start),
                                  end_s=float(min(info.duration_s, start + 600)), label=f"unit {i}.{k}")
                db.add(unit)
                db.flush()
                a = Assignment(rater_id=user.id, rating_unit_id=unit.id, instrument_id=wai.id, position=k + 1)
                db.add(a)
                db.flush()
                out[user.username].append(a.id)
    database.dispose()
    return out


def prepare_listening_copy(home: Path) -> None:
    """What processing does once per recording: the rating page's listening copy and waveform."""
    from coder.pipeline import playback
    from coder.config import load_settings

    playback.prepare(SESSION_AUDIO, sha256_file(SESSION_AUDIO), load_settings(home=home).playback_dir)


class Worker(Rater):
    """A rater working through their units: page, audio, autosaves, reloads, submit."""

    def __init__(self, port: int, username: str, assignments: list[int], seed: int):
        super().__init__(port, username, assignments[0])
        self.queue = list(assignments)
        self.rng = random.Random(seed)
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.in_app: dict[str, list[float]] = defaultdict(list)  # the server's own time (Server-Timing), ms
        self.acked: dict[int, dict] = {}  # assignment -> what the server last acknowledged
        self.failures: list[str] = []
        self.attempts = 0

    def timed(self, kind: str, method: str, path: str, expect: tuple[int, ...], body=None, headers=None):
        self.attempts += 1
        t0 = time.perf_counter()
        try:
            status, data = self.request(method, path, body, headers)
        except Exception as exc:  # a dropped connection
            self.conn.close()
            self.failures.append(f"{kind}: {exc!r}")
            return None, b""
        self.timings[kind].append(time.perf_counter() - t0)
        self.in_app[kind].append(self.last_server_ms)
        if status not in expect:
            self.failures.append(f"{kind}: {status} {data[:120]!r}")
        return status, data

    def open_page(self) -> None:
        status, page = self.timed("rating page", "GET", f"/rate/{self.assignment}", (200,))
        if status != 200:
            return
        self.csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
        data = json.loads(re.search(rb'<script id="rating-data" type="application/json">(.*?)</script>', page,
                                    re.S).group(1))
        rating = data["rating"]
        self.revision, self.scores, self.notes = rating["revision"], rating["scores"], rating["notes"]
        self.timed("audio (range)", "GET", f"/rate/{self.assignment}/audio", (200, 206),
                   headers={"Range": "bytes=0-65535"})

    def write(self, kind: str, scores: dict, notes: str) -> None:
        body = json.dumps({"scores": scores, "notes": notes, "revision": self.revision}).encode()
        status, data = self.timed(kind, "POST", f"/rate/{self.assignment}/{'submit' if kind == 'submit' else 'save'}",
                                  (200,), body, {"Content-Type": "application/json", "Accept": "application/json",
                                                 "X-CSRFToken": self.csrf})
        if status == 200:
            answer = json.loads(data)
            self.revision, self.scores, self.notes = answer["revision"], answer["scores"], answer["notes"]
            self.acked[self.assignment] = {"scores": answer["scores"], "notes": answer["notes"],
                                           "revision": answer["revision"], "status": answer["status"]}

    def run(self, stop_at: float, pace_s: float, arrive_at: float) -> None:
        time.sleep(max(0.0, arrive_at - time.perf_counter()))
        t0 = time.perf_counter()
        _, page = self.timed("login page", "GET", "/login", (200,))
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        form = f"username={self.username}&password={PASSWORD.replace(' ', '+')}&csrf_token={token}".encode()
        self.timed("log in", "POST", "/login", (302,), form, {"Content-Type": "application/x-www-form-urlencoded"})
        self.timings["log in (whole)"].append(time.perf_counter() - t0)
        self.timed("queue", "GET", "/", (200,))
        time.sleep(self.rng.uniform(0, pace_s))  # raters are not in step
        while self.queue and time.perf_counter() < stop_at:
            self.assignment = self.queue.pop(0)
            self.open_page()
            saves = self.rng.randint(20, 40)
            for n in range(1, saves + 1):
                if time.perf_counter() >= stop_at:
                    return
                began = time.perf_counter()
                if n % 15 == 0:
                    self.open_page()  # the rater reloads the page, or comes back to it
                scores = {**self.scores, self.rng.choice(ITEMS): self.rng.randint(1, 7)}
                self.write("autosave", scores, f"{self.username} unit {self.assignment} save {n}")
                time.sleep(max(0.0, pace_s * self.rng.uniform(0.5, 1.5) - (time.perf_counter() - began)))
            full = {item: self.scores.get(item, self.rng.randint(1, 7)) for item in ITEMS}
            self.write("submit", full, f"{self.username} unit {self.assignment} submitted")
            self.timed("queue", "GET", "/", (200,))


def check(url: str, workers: list[Worker]) -> dict:
    """Every acknowledged rating as stored: lost = missing or different."""
    database = Database(url)
    lost, checked, submitted = [], 0, 0
    with database.session() as db:
        for w in workers:
            for assignment, acked in w.acked.items():
                checked += 1
                rating = db.query(Rating).filter(Rating.assignment_id == assignment).one_or_none()
                stored = None if rating is None else {"scores": rating.responses, "notes": rating.notes,
                                                      "revision": rating.revision, "status": rating.status}
                submitted += acked["status"] == "submitted"
                if stored != acked:
                    lost.append(f"{w.username} assignment {assignment}: acknowledged {acked}, stored {stored}")
    database.dispose()
    return {"ratings_checked": checked, "submitted": submitted, "lost_or_wrong": len(lost), "examples": lost[:3]}


def run(url: str, home: Path, raters: int, seconds: float, units: int, pace_s: float = 1.0,
        arrive_over_s: float = 0.0) -> dict:
    from bench.rating import start_server

    assignments = set_up(url, raters, units)
    prepare_listening_copy(home)
    proc, port = start_server(home, url)
    try:
        workers = [Worker(port, name, ids, seed=i) for i, (name, ids) in enumerate(assignments.items())]
        t0 = time.perf_counter()
        stop_at = t0 + seconds
        arrivals = random.Random(0)
        threads = [threading.Thread(target=w.run, args=(stop_at, pace_s, t0 + arrivals.uniform(0, arrive_over_s)))
                   for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    timings: dict[str, list[float]] = defaultdict(list)
    in_app: dict[str, list[float]] = defaultdict(list)
    for w in workers:
        for kind, values in w.timings.items():
            timings[kind].extend(values)
        for kind, values in w.in_app.items():
            in_app[kind].extend(v for v in values if v == v)  # NaN: no Server-Timing header
    failures = [f for w in workers for f in w.failures]
    requests = sum(w.attempts for w in workers)
    return {
        "raters": raters, "seconds": seconds, "arrive_over_s": arrive_over_s, "wall_s": round(wall, 1),
        "requests": requests,
        "per_s": round(requests / wall, 1), "errors": len(failures),
        "error_rate": len(failures) / max(1, requests), "error_examples": failures[:5],
        "latency_ms": {kind: {"n": len(v), "p50": round(1000 * percentile(v, 50), 1),
                              "p95": round(1000 * percentile(v, 95), 1), "p99": round(1000 * percentile(v, 99), 1),
                              "max": round(1000 * max(v), 1)} for kind, v in sorted(timings.items())},
        "in_app_ms": {kind: {"p50": round(percentile(v, 50), 1), "p95": round(percentile(v, 95), 1),
                             "p99": round(percentile(v, 99), 1)} for kind, v in sorted(in_app.items()) if v},
        **check(url, workers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--units", type=int, default=5)
    parser.add_argument("--arrive-over", type=float, default=10.0,
                        help="raters arrive at random moments within this many seconds (0: all at once)")
    parser.add_argument("--postgres", action="store_true", help="a fresh database on a throwaway PostgreSQL server")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite in the temp home)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="coder-bench-load-"))
    try:
        with ExitStack() as stack:
            url = args.database_url or f"sqlite:///{home / 'coder.db'}"
            if args.postgres:
                url = postgres.fresh_database(stack, "load")
            result = run(url, home, args.raters, args.seconds, args.units, arrive_over_s=args.arrive_over)
        result.update(machine=f"{platform.machine()}, {os.cpu_count()} CPUs", date=time.strftime("%Y-%m-%d"),
                      database=url.split(":", 1)[0].split("+")[0],
                      server={k: os.environ[k] for k in ("CODER_THREADS", "CODER_PASSWORD_CHECKS") if k in os.environ})
        print(f"{result['raters']} raters, {result['wall_s']} s: {result['requests']} requests "
              f"({result['per_s']}/s), {result['errors']} errors ({100 * result['error_rate']:.2f} %)")
        for kind, t in result["latency_ms"].items():
            app = result["in_app_ms"].get(kind)
            print(f"  {kind:15s} n={t['n']:6d}  p50 {t['p50']:7.1f} ms  p95 {t['p95']:7.1f} ms  "
                  f"p99 {t['p99']:7.1f} ms  max {t['max']:7.1f} ms"
                  + (f"   in the app p50/p95/p99 {app['p50']}/{app['p95']}/{app['p99']} ms" if app else ""))
        print(f"ratings checked {result['ratings_checked']} ({result['submitted']} submitted): "
              f"lost or wrong {result['lost_or_wrong']}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
