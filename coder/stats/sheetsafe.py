"""Cells that a spreadsheet will not run: every CSV and XLSX file coder writes passes its text through here.

A spreadsheet opening a CSV (and openpyxl writing a string) takes text starting with ``=``, ``+``, ``-`` or
``@`` as a formula, and a leading tab or carriage return hides such a start; a participant code
``=HYPERLINK(...)`` or ``+cmd|...`` would run on the coordinator's machine. Following OWASP's rule ("CSV
injection"), such text gets a leading single quote, which the spreadsheet shows as text. Numbers stay numbers,
and text that is only a number (``-1.5``, ``+3``) is left alone: a spreadsheet reads it as that number and
runs nothing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def cell(value: Any) -> Any:
    """``value``, with a single quote before text that a spreadsheet would take as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def row(values: Iterable[Any]) -> list[Any]:
    """A CSV row's cells, each made safe."""
    return [cell(v) for v in values]


def frame(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with its column names and text cells made safe; numeric and date columns are kept
    as they are."""
    out = table.rename(columns=lambda c: cell(c) if isinstance(c, str) else c)
    for i, column in enumerate(out.columns):
        values = out.iloc[:, i]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values) \
                or isinstance(values.dtype, pd.CategoricalDtype):
            if isinstance(values.dtype, pd.CategoricalDtype):
                out.isetitem(i, values.cat.rename_categories(
                    lambda c: cell(c) if isinstance(c, str) else c))
            continue
        out.isetitem(i, values.map(cell))
    return out
