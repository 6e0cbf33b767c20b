#!/usr/bin/env python3
"""Screenshots of the reliability report for the docs, taken in Debian's Chromium.

    .venv/bin/python scripts/reliability_screenshots.py [--out docs/img]

Builds the synthetic study of the report's tests (tests/reliability_study.py:
24 sessions rated by four raters on the 12-item alliance form, 30 % of pairs
unrated, one rater drifting) in a throwaway SQLite database, serves it on a
free loopback port and writes reliability.png (the top of the report) and
reliability-plots.png (pairs with their Bland–Altman plots).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.screenshots import log_in, scratch_site  # noqa: E402
from tests.support.reliability_study import PASSWORD, build_rated  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with scratch_site("coder-reliability-", lambda database, _home: build_rated(database, units=24, seed=3)) \
            as (browser, base, rated):
        page = log_in(browser, base, "coord", PASSWORD, height=1000)
        page.goto(f"{base}/reliability/{rated.study_id}/wai-o-s?gold=gold")
        page.screenshot(path=str(args.out / "reliability.png"))
        page.evaluate("document.getElementById('pairs').scrollIntoView()")
        page.screenshot(path=str(args.out / "reliability-plots.png"))
    print(f"wrote reliability.png and reliability-plots.png to {args.out}")


if __name__ == "__main__":
    main()
