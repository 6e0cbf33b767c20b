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
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coder.app import create_app  # noqa: E402
from coder.config import load_settings  # noqa: E402
from coder.db import Database  # noqa: E402
from scripts.screenshots import log_in, serve  # noqa: E402
from tests.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.reliability_study import PASSWORD, build_rated  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="coder-reliability-"))
    url = f"sqlite:///{home / 'coder.db'}"
    database = Database(url)
    database.migrate()
    rated = build_rated(database, units=24, seed=3)
    app = create_app(load_settings(home=home, database_url=url), database)
    server, base = serve(app)

    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = log_in(browser, base, "coord", PASSWORD, height=1000)
        page.goto(f"{base}/reliability/{rated.study_id}/wai-o-s?gold=gold")
        page.screenshot(path=str(args.out / "reliability.png"))
        page.evaluate("document.getElementById('pairs').scrollIntoView()")
        page.screenshot(path=str(args.out / "reliability-plots.png"))
        browser.close()
    server.close()
    shutil.rmtree(home, ignore_errors=True)
    print(f"wrote reliability.png and reliability-plots.png to {args.out}")


if __name__ == "__main__":
    main()
