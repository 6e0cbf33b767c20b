"""Values made fit for strict JSON (R's jsonlite, for one): JSON has no NaN or infinity, nor numpy's types."""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd


def json_safe(value: Any, iso_dates: bool = False) -> Any:
    """``value`` with every non-finite number (NaN, ±infinity, pandas' NaT) made None and numpy scalars made
    Python's, through dicts, lists and tuples; with ``iso_dates`` dates and times become ISO 8601 text (else
    they are left to the caller's encoder)."""
    if isinstance(value, dict):
        return {k: json_safe(v, iso_dates) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, iso_dates) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is pd.NaT:
        return None
    if iso_dates and isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return value
