#!/usr/bin/env python3
"""A screenshot of the progress dashboard for the docs, taken in Debian's Chromium through the web pages.

    .venv/bin/python scripts/coordination_screenshots.py [--out docs/img]

Builds the simulated trial of the analysis tests (tests/analysis_study.py: homework engagement rated by two
raters) in a throwaway SQLite database, adds a third rater with a double-coded design over new units due
last week, serves it on a free loopback port and, as the coordinator, writes dashboard.png.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.screenshots import log_in, scratch_site  # noqa: E402
from tests.support.analysis_study import build_trial, get_or_create_unit  # noqa: E402
from tests.support.rating_study import PASSWORD  # noqa: E402


def build(database, home: Path):
    from sqlalchemy import select

    from coder.rating import designs
    from coder.study.accounts import create_user
    from coder.study.models import Instrument, Study, User

    build_trial(database, dyads=16, sessions=4)
    with database.session() as db:
        study = db.scalar(select(Study))
        create_user(db, "cem", PASSWORD, "rater", "Cem")
        units: dict = {}
        for d in range(1, 17):
            get_or_create_unit(db, study, f"D{d}", 6, "Follow-up", units)
        coord = db.scalar(select(User).where(User.username == "coord"))
        instrument = db.scalar(select(Instrument))
        due = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=7)
        designs.create(db, study, instrument, "overlap", ["ana", "ben", "cem"], coord, overlap=0.25, seed=1, due=due,
                       reason="follow-up wave")
        return study.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with scratch_site("coder-coordination-", build) as (browser, base, study_id):
        page = log_in(browser, base, "coord", PASSWORD, height=1000)
        page.goto(f"{base}/studies/{study_id}/dashboard")
        page.wait_for_selector("#reliability")
        page.screenshot(path=str(args.out / "dashboard.png"), full_page=False)
    print(f"wrote dashboard.png to {args.out}")


if __name__ == "__main__":
    main()
