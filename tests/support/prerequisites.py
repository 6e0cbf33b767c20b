"""Prerequisites outside Python (a PostgreSQL server, Chromium, Redis, weights): skipped locally, required in CI."""
from __future__ import annotations

import os

import pytest

IN_CI = bool(os.environ.get("CI"))


def need(condition: bool, reason: str) -> None:
    """Skip locally when a prerequisite is missing, but fail in CI, where everything must run."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)
