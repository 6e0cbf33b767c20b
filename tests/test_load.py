"""A short run of the load benchmark (bench/load.py) as a test, on SQLite and PostgreSQL: raters working at once
through the real server (``coder serve``) lose nothing. The figures come from the full run
(docs/benchmarks.md); here only correctness."""
from __future__ import annotations

from bench.load import run


def test_raters_at_once_lose_nothing(db_url, tmp_path):
    # all logging in at once, then saving four times a second each
    result = run(db_url, tmp_path, raters=10, seconds=20, units=2, pace_s=0.25)
    assert result["errors"] == 0, result["error_examples"]
    assert result["ratings_checked"] >= 10 and result["submitted"] >= 5
    assert result["lost_or_wrong"] == 0, result["examples"]
    assert result["latency_ms"]["autosave"]["n"] > 100
