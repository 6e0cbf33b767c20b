#!/usr/bin/env python3
"""A screenshot of an analysis result for the docs, taken in Debian's Chromium through the web pages.

    .venv/bin/python scripts/analysis_screenshots.py [--out docs/img]

Builds the simulated trial of the analysis tests (tests/analysis_study.py: 30 dyads, up to five rated
sessions each, homework engagement on two raters) in a throwaway SQLite database, serves it on a free
loopback port, and as the coordinator uploads the clients' outcomes, fills in the analysis form, runs it
and writes analysis.png (the result page).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.screenshots import log_in, scratch_site  # noqa: E402
from tests.support.analysis_study import build_trial, run_in_browser  # noqa: E402
from tests.support.rating_study import PASSWORD  # noqa: E402


def build(database, home: Path):
    built = build_trial(database)
    outcomes_csv = home / "outcomes.csv"
    with open(outcomes_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(built["clients"][0]))
        writer.writeheader()
        writer.writerows(built["clients"])
    return outcomes_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with scratch_site("coder-analysis-", build) as (browser, base, outcomes_csv):
        page = log_in(browser, base, "coord", PASSWORD, height=1100)
        run_in_browser(page, "Trial S", outcomes_csv, "Homework engagement and anxiety", session_model=True)
        page.screenshot(path=str(args.out / "analysis.png"), full_page=False)
    print(f"wrote analysis.png to {args.out}")


if __name__ == "__main__":
    main()
