#!/usr/bin/env python3
"""The web server killed again and again while raters save: what is lost, and how long saving stops.

    .venv/bin/python bench/faults.py [--raters 10] [--kills 10] [--every 5] [--database-url URL]
                                     [--json bench/results-faults.json]

``coder serve`` runs on loopback with a fresh SQLite database (or the empty PostgreSQL database given).
``--raters`` simulated raters save drafts of their own units flat out, as the rating page's autosave does
when it has work waiting; every ``--every`` seconds the server is killed with SIGKILL and started again at
once. Saves that get no answer are retried by the rater, and a save that the server stored but never
answered is recognised by its revision (409 with the stored state), as on the rating page. At the end each
rating is compared with the last save the server acknowledged; SQLite's integrity check is run. Reported:
saves acknowledged, attempts unanswered (in flight at a kill or sent while the server was down), saves
stored but never answered, ratings lost or wrong, and the time from each kill until every
rater has saved again.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.load import set_up  # noqa: E402
from bench.rating import PASSWORD as BENCH_PASSWORD  # noqa: E402
from coder.db import Database  # noqa: E402
from tests.support.faults import Browser, Server, check_integrity, keep_saving, stored_state  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raters", type=int, default=10)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--database-url")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="coder-bench-faults-"))
    try:
        url = args.database_url or f"sqlite:///{home / 'coder.db'}"
        assignments = set_up(url, args.raters, 1)
        server = Server(home, url)
        server.start()
        browsers = [Browser(server.port, name, ids[0], BENCH_PASSWORD) for name, ids in assignments.items()]
        for b in browsers:
            b.log_in()
        stop = threading.Event()
        acked_at: dict[str, list[float]] = {b.username: [] for b in browsers}
        counts = {"acknowledged": 0, "unanswered": 0, "conflict_after_cut": 0, "other": 0}
        lock = threading.Lock()

        def record(b: Browser, status: int) -> None:
            with lock:
                if status == 200:
                    counts["acknowledged"] += 1
                    acked_at[b.username].append(time.perf_counter())
                elif status == 0:
                    counts["unanswered"] += 1
                elif status == 409:
                    counts["conflict_after_cut"] += 1
                else:
                    counts["other"] += 1

        threads = keep_saving(browsers, stop, record)
        kills = []
        try:
            for _ in range(args.kills):
                time.sleep(args.every)
                kills.append(time.perf_counter())
                server.kill()
                server.start()
            time.sleep(args.every)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
            server.kill(signal.SIGTERM)
        recovery = []
        for at in kills:
            firsts = [next((t for t in times if t > at), None) for times in acked_at.values()]
            if all(firsts):
                recovery.append(max(firsts) - at)
        database = Database(url)
        lost = sum(stored_state(database, b.assignment) != b.acked for b in browsers)
        check_integrity(database)
        database.dispose()
        result = {"raters": args.raters, "kills": args.kills, "every_s": args.every, **counts,
                  "lost_or_wrong": lost, "recovery_s_median": sorted(recovery)[len(recovery) // 2],
                  "recovery_s_max": max(recovery), "database": url.split(":", 1)[0],
                  "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d")}
        print(f"{args.kills} kills with {args.raters} raters saving: {counts['acknowledged']} saves acknowledged, "
              f"{counts['unanswered']} attempts unanswered (in flight at a kill, or sent while the server was down; "
              f"retried), {counts['conflict_after_cut']} stored but unanswered (taken up by "
              f"revision), {counts['other']} other answers; lost or wrong {lost}; saving resumed for every rater "
              f"{result['recovery_s_median']:.1f} s after a kill (median; max {result['recovery_s_max']:.1f} s)")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
