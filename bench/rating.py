#!/usr/bin/env python3
"""The rating workspace under load: draft-save latency with 20 raters at once, and rating-page load time.

    .venv/bin/python bench/rating.py [--raters 20] [--seconds 30] [--loads 10] [--json bench/results-rating.json]

Everything runs against a real server: ``coder serve`` (waitress, 8 threads)
on loopback, with a fresh SQLite database in a temporary CODER_HOME.

Saves: each simulated rater logs in (its own cookie session and CSRF token)
and saves drafts of its own unit for ``--seconds``: each save changes one
item of the 12-item alliance form and the notes, and names the revision the
last answer gave, as the rating page does. Two runs, one after the other:
``paced`` (each rater saves about once a second, the pace of the page's
debounced autosave when someone clicks through items) and ``flat out`` (each
rater sends its next save as soon as the last one is answered). Latency is
measured per request at the client. Afterwards every rating in the database
is compared with what its rater last saved: a rating that differs is lost,
one carrying another rater's notes is mixed up.

Page load: a 60-minute session (the demo session's audio repeated, its
scripted transcript repeated with it: ~9,400 words) rated as one whole-session
unit, and as a 10-minute window. Debian's Chromium, driven by Playwright,
opens the rating page ``--loads`` times; "interactive" is the time from the
start of navigation until the page's script has built the transcript, drawn
the waveform and set up the form (the ``coder-ready`` performance mark).
Also measured: from pressing play to the audio playing, and from a seek to
45:00 to the audio ready there (HTTP range requests into the unit's WAV). Making
the listening copy of the 60-minute recording (decoding it once, at
processing time) is timed on its own.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coder.study import instruments  # noqa: E402
from coder.pipeline import playback  # noqa: E402
from coder.study.accounts import create_user  # noqa: E402
from coder.pipeline.audio import load, sha256_file  # noqa: E402
from coder.db import Database  # noqa: E402
from coder.study.models import Assignment, Rating, RatingUnit, Recording, Speaker, Transcript, User  # noqa: E402
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study  # noqa: E402
from tests.support.rating_study import SESSION_AUDIO, script_segments  # noqa: E402

PASSWORD = "benchmark password"
ITEMS = [str(i) for i in range(1, 13)]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# --- set-up ----------------------------------------------------------------------------------------------

def long_session(folder: Path, minutes: int = 60) -> tuple[Path, list[dict]]:
    """The demo session's audio and script repeated to ``minutes``: a WAV and its segments."""
    one = load(SESSION_AUDIO)
    length = len(one) / 16000
    copies = int(np.ceil(minutes * 60 / length))
    audio = np.tile(one, copies)[: minutes * 60 * 16000]
    path = folder / f"session_{minutes}min.wav"
    sf.write(path, audio, 16000, subtype="PCM_16")
    segments = []
    for k in range(copies):
        for seg in script_segments():
            shift = k * length
            if seg["end"] + shift > minutes * 60:
                break
            segments.append({**seg, "start": seg["start"] + shift, "end": seg["end"] + shift,
                             "words": [{**w, "start": w["start"] + shift, "end": w["end"] + shift}
                                       for w in seg["words"]]})
    return path, segments


def set_up(home: Path, raters: int) -> dict:
    database = Database(f"sqlite:///{home / 'coder.db'}")
    database.migrate()
    audio, segments = long_session(home)
    out: dict = {"words": sum(len(s["words"]) for s in segments), "audio": audio}
    with database.session() as db:
        study = get_or_create_study(db, "Benchmark")
        dyad = get_or_create_dyad(db, study, "T1", "C1", "D1")
        session = get_or_create_session(db, dyad, 1)
        rec = Recording(session_id=session.id, path=str(audio), original_name=audio.name, sha256=sha256_file(audio),
                        size_bytes=audio.stat().st_size, duration_s=3600.0, sample_rate=16000, channels=1,
                        status="transcribed")
        db.add(rec)
        db.flush()
        db.add(Transcript(recording_id=rec.id, engine="script", model="turns", language="en", duration_s=3600.0,
                          segments=segments, speakers=[Speaker(label="SPEAKER_00", role="therapist"),
                                                       Speaker(label="SPEAKER_01", role="client")]))
        whole = RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="whole_session", start_s=0,
                           end_s=3600, label="Whole session")
        window = RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="fixed_window", start_s=1800,
                            end_s=2400, label="30:00–40:00")
        db.add_all([whole, window])
        wai = instruments.store(db, instruments.builtin("wai-o-s"))
        db.flush()
        reader = create_user(db, "reader", PASSWORD, "rater")
        db.flush()
        out["page"] = {}
        for name, unit in (("whole", whole), ("window", window)):
            a = Assignment(rater_id=reader.id, rating_unit_id=unit.id, instrument_id=wai.id)
            db.add(a)
            db.flush()
            out["page"][name] = a.id
        # the raters under load each rate a 10-minute window of their own
        out["savers"] = {}
        for i in range(raters):
            user = create_user(db, f"rater{i:02d}", PASSWORD, "rater")
            unit = RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="custom", start_s=i * 60,
                              end_s=i * 60 + 600, label=f"unit {i}")
            db.add(unit)
            db.flush()
            a = Assignment(rater_id=user.id, rating_unit_id=unit.id, instrument_id=wai.id)
            db.add(a)
            db.flush()
            out["savers"][user.username] = a.id
    database.dispose()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, database_url: str | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "CODER_HOME": str(home), **({"DATABASE_URL": database_url} if database_url else {})}
    log = open(home / "server.log", "wb")  # a file, not a pipe: a full pipe would stall the server's logging
    proc = subprocess.Popen([sys.executable, "-m", "coder.cli", "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not start: {(home / 'server.log').read_text()[-2000:]}")


# --- saving under load -----------------------------------------------------------------------------------

class Rater:
    """One rater's browser: a keep-alive connection, a cookie session and the page's CSRF token."""

    def __init__(self, port: int, username: str, assignment: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.username, self.assignment = username, assignment
        self.revision, self.scores, self.notes = 0, {}, ""
        self.latencies: list[float] = []
        self.server_ms: list[float] = []
        self.errors: list[str] = []

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        timing = re.search(r"dur=([0-9.]+)", response.headers.get("Server-Timing", ""))
        self.last_server_ms = float(timing.group(1)) if timing else float("nan")
        for header in response.headers.get_all("Set-Cookie") or []:
            for key, morsel in SimpleCookie(header).items():
                self.cookies[key] = morsel.value
        return response.status, data

    def log_in(self) -> None:
        _, page = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        form = f"username={self.username}&password={PASSWORD.replace(' ', '+')}&csrf_token={token}".encode()
        status, _ = self.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302, f"{self.username} could not log in ({status})"
        _, page = self.request("GET", f"/rate/{self.assignment}")
        self.csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
        data = json.loads(re.search(rb'<script id="rating-data" type="application/json">(.*?)</script>', page,
                                    re.S).group(1))
        self.revision, self.scores, self.notes = (data["rating"]["revision"], data["rating"]["scores"],
                                                  data["rating"]["notes"])

    def save(self, n: int) -> None:
        scores = {**self.scores, random.choice(ITEMS): random.randint(1, 7)}
        notes = f"{self.username} save {n}"
        body = json.dumps({"scores": scores, "notes": notes, "revision": self.revision}).encode()
        t0 = time.perf_counter()
        status, data = self.request("POST", f"/rate/{self.assignment}/save", body,
                                    {"Content-Type": "application/json", "Accept": "application/json",
                                     "X-CSRFToken": self.csrf})
        self.latencies.append(time.perf_counter() - t0)
        self.server_ms.append(self.last_server_ms)
        if status != 200:
            self.errors.append(f"{status}: {data[:200]!r}")
            return
        answer = json.loads(data)
        self.revision, self.scores, self.notes = answer["revision"], answer["scores"], answer["notes"]


def load_run(port: int, savers: dict[str, int], seconds: float, pace_s: float | None) -> dict:
    raters = [Rater(port, name, aid) for name, aid in savers.items()]
    for r in raters:
        r.log_in()
    stop = time.perf_counter() + seconds
    start = threading.Barrier(len(raters))

    def run(r: Rater):
        start.wait()
        n = 0
        rng = random.Random(r.username)
        if pace_s:  # raters are not in step: each starts at its own moment within the first interval
            time.sleep(rng.uniform(0, pace_s))
        while time.perf_counter() < stop:
            n += 1
            began = time.perf_counter()
            try:
                r.save(n)
            except Exception as exc:  # a dropped connection counts as an error
                r.errors.append(repr(exc))
                r.conn.close()
            if pace_s:
                time.sleep(max(0.0, pace_s * rng.uniform(0.5, 1.5) - (time.perf_counter() - began)))

    threads = [threading.Thread(target=run, args=(r,)) for r in raters]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies = [x for r in raters for x in r.latencies]
    errors = [e for r in raters for e in r.errors]
    server = [x for r in raters for x in r.server_ms]
    return {"raters": raters, "saves": len(latencies), "errors": len(errors), "error_examples": errors[:3],
            "wall_s": wall, "per_s": len(latencies) / wall,
            "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95),
            "p99_ms": 1000 * percentile(latencies, 99), "max_ms": 1000 * max(latencies),
            "server_p50_ms": percentile(server, 50), "server_p95_ms": percentile(server, 95)}


def check_stored(home: Path, raters: list[Rater]) -> dict:
    database = Database(f"sqlite:///{home / 'coder.db'}")
    lost = mixed = 0
    with database.session() as db:
        for r in raters:
            rating = db.query(Rating).filter(Rating.assignment_id == r.assignment).one_or_none()
            user = db.query(User).filter(User.username == r.username).one()
            if rating is None or rating.responses != r.scores or rating.notes != r.notes or rating.revision != r.revision:
                lost += 1
            if rating is not None and (rating.rater_id != user.id or not rating.notes.startswith(r.username + " ")):
                mixed += 1
    database.dispose()
    return {"lost": lost, "mixed_up": mixed}


# --- page load -------------------------------------------------------------------------------------------

def page_loads(port: int, page_units: dict[str, int], loads: int) -> dict:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.support.browser import CHROMIUM_ARGS

    chromium = os.environ.get("CODER_CHROMIUM") or shutil.which("chromium")
    base = f"http://127.0.0.1:{port}"
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "reader")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")

        def one(aid: int) -> dict:
            page.goto(f"{base}/rate/{aid}")
            page.wait_for_selector("#rate[data-ready='1']", timeout=120000)
            return page.evaluate("""() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const ready = performance.getEntriesByName('coder-ready')[0];
                return {interactive_ms: ready.startTime, html_ms: nav.responseEnd - nav.startTime,
                        request_ms: nav.responseStart - nav.requestStart,
                        server_ms: (nav.serverTiming.find((t) => t.name === 'app') || {}).duration,
                        dom_ms: nav.domInteractive - nav.startTime,
                        bytes: nav.transferSize, words: document.querySelectorAll('.transcript .w').length};
            }""")

        for name, aid in page_units.items():
            first = one(aid)  # the first visit (a fresh browser cache, the server's files already made)
            runs = [one(aid) for _ in range(loads)]
            interactive = [r["interactive_ms"] for r in runs]
            play = page.evaluate("""() => new Promise((resolve) => {
                const a = document.getElementById('audio'); const t0 = performance.now();
                a.addEventListener('playing', () => { resolve(performance.now() - t0); a.pause(); }, {once: true});
                a.play();
            })""")
            seek = page.evaluate("""(t) => new Promise((resolve) => {
                const a = document.getElementById('audio'); const t0 = performance.now();
                a.addEventListener('seeked', () => resolve(performance.now() - t0), {once: true});
                a.currentTime = t;
            })""", 45 * 60 if name == "whole" else 5 * 60)
            out[name] = {"first_load_ms": first["interactive_ms"], "interactive_p50_ms": percentile(interactive, 50),
                         "interactive_p95_ms": percentile(interactive, 95), "interactive_max_ms": max(interactive),
                         "html_p50_ms": percentile([r["html_ms"] for r in runs], 50),
                         "server_p50_ms": percentile([r["server_ms"] for r in runs], 50),
                         "dom_p50_ms": percentile([r["dom_ms"] for r in runs], 50),
                         "html_bytes": runs[0]["bytes"], "words": runs[0]["words"],
                         "play_ms": play, "seek_ms": seek}
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raters", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="coder-bench-rating-"))
    try:
        setup = set_up(home, args.raters)
        # the listening copy and waveform of the 60-minute recording (made once, when a recording is processed)
        from coder.config import load_settings

        t0 = time.perf_counter()
        playback.prepare(setup["audio"], sha256_file(setup["audio"]), load_settings(home=home).playback_dir)
        prepare_s = time.perf_counter() - t0
        print(f"listening copy of the 60-minute recording made in {prepare_s:.1f} s")
        proc, port = start_server(home)
        try:
            results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "raters": args.raters,
                             "seconds": args.seconds, "date": time.strftime("%Y-%m-%d"),
                             "listening_copy_60min_s": prepare_s}
            for name, pace in (("paced", 1.0), ("flat out", None)):
                run = load_run(port, setup["savers"], args.seconds, pace)
                stored = check_stored(home, run.pop("raters"))
                results[name] = {**run, **stored}
                print(f"{name:9s} {run['saves']:6d} saves ({run['per_s']:.0f}/s), errors {run['errors']}, "
                      f"p50 {run['p50_ms']:.1f} ms, p95 {run['p95_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, "
                      f"max {run['max_ms']:.0f} ms (in the app: p50 {run['server_p50_ms']:.1f} ms, p95 "
                      f"{run['server_p95_ms']:.1f} ms); lost {stored['lost']}, mixed up {stored['mixed_up']}")
            pages = page_loads(port, setup["page"], args.loads)
            results["page"] = {**pages, "transcript_words_60min": setup["words"]}
            for name, r in pages.items():
                print(f"page {name:6s}: interactive p50 {r['interactive_p50_ms']:.0f} ms, p95 "
                      f"{r['interactive_p95_ms']:.0f} ms (first load {r['first_load_ms']:.0f} ms; html in "
                      f"{r['html_p50_ms']:.0f} ms of which the app {r['server_p50_ms']:.0f} ms, parsed by "
                      f"{r['dom_p50_ms']:.0f} ms), "
                      f"{r['words']} words, {r['html_bytes'] / 1024:.0f} KiB; play {r['play_ms']:.0f} ms, "
                      f"seek {r['seek_ms']:.0f} ms")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
