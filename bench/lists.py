#!/usr/bin/env python3
"""The long lists at the scale of a trial: how long each page takes to answer.

    .venv/bin/python bench/lists.py [--postgres] [--repeats 20] [--json bench/results-lists.json]

The study of tests/support/large_study.py (200 sessions in 20 dyads, a recording and a whole-session unit
each, 10 raters each assigned every unit on 4 instruments: 8,000 assignments, about 7,200 ratings and as many
audit events), built with bulk inserts into a fresh database: SQLite (a file in a temporary directory) and,
with ``--postgres``, a throwaway PostgreSQL server started as the tests start theirs
(``tests/support/postgres.py``). Each page is requested ``--repeats`` times through Flask's test client (the
whole request: login session, queries, template), logged in as the coordinator or a rater; the figures are
the median and the slowest, in milliseconds, and the page's size.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: coder and tests.support


from coder.config import load_settings  # noqa: E402
from coder.db import Database  # noqa: E402
from coder.web.app import create_app  # noqa: E402
from tests.support import postgres  # noqa: E402
from tests.support.large_study import build_large_study  # noqa: E402
from tests.support.web import login  # noqa: E402


def pages(big) -> list[tuple[str, str, str]]:
    """(who, what, address) of each page timed."""
    study = f"/studies/{big.study_id}"
    rater = big.rater_ids[2]
    return [
        ("coordinator", "studies", "/"),
        ("coordinator", "study page, recordings page 1", study),
        ("coordinator", "study page, recordings page 4", f"{study}?page=4"),
        ("coordinator", "study page, failed recordings", f"{study}?status=failed"),
        ("coordinator", "ratings page 1", "/ratings"),
        ("coordinator", "ratings page 100", "/ratings?page=100"),
        ("coordinator", "ratings: drafts of one rater on one instrument",
         f"/ratings?status=draft&rater={rater}&instrument=wai-o"),
        ("coordinator", "audit trail page 1", "/audit"),
        ("coordinator", "audit trail page 30", "/audit?page=30"),
        ("coordinator", "audit trail: submissions of the study", f"/audit?action=submit&study={big.study_id}"),
        ("rater", "queue page 1 (800 units)", "/"),
        ("rater", "queue: to do on one instrument", "/?status=to-do&instrument=wai-o"),
        ("rater", "queue page 16", "/?page=16"),
    ]


def run(url: str, repeats: int, home: Path) -> dict:
    database = Database(url)
    database.migrate()
    started = time.perf_counter()
    big = build_large_study(database)
    built_s = time.perf_counter() - started
    app = create_app(load_settings(home=home, database_url=url), database, {"TESTING": True})
    clients = {}
    for who, username in (("coordinator", big.coordinator), ("rater", big.raters[0])):
        clients[who] = app.test_client()
        assert login(clients[who], username).status_code == 302
    out = {"database": database.engine.dialect.name, "build_s": round(built_s, 2), "sessions": big.sessions,
           "assignments": big.assignments, "ratings": sum(big.ratings.values()), "pages": []}
    for who, what, address in pages(big):
        client = clients[who]
        times, size = [], 0
        for _ in range(repeats + 1):  # the first request warms caches and is left out
            t0 = time.perf_counter()
            response = client.get(address)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (address, response.status_code)
            size = len(response.data)
        times = times[1:]
        out["pages"].append({"who": who, "page": what, "url": address, "median_ms": round(statistics.median(times), 1),
                             "max_ms": round(max(times), 1), "kb": round(size / 1024, 1)})
        print(f"{out['database']:10} {what:50} median {statistics.median(times):7.1f} ms  max {max(times):7.1f} ms  "
              f"{size / 1024:6.1f} KB", flush=True)
    database.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="Also on a throwaway PostgreSQL server.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "python": platform.python_version(),
               "command": " ".join(["bench/lists.py", *sys.argv[1:]]), "runs": []}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        urls = [f"sqlite:///{tmp}/bench.db"]
        if args.postgres:
            urls.append(postgres.fresh_database(stack, "bench"))
        for n, url in enumerate(urls):
            results["runs"].append(run(url, args.repeats, tmp / f"home{n}"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
