"""Licensed item wording: a study that holds the licence imports the items' own text into a definition."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from coder.study.instruments.definition import InstrumentDefinition, InstrumentError, parse, read_text, read_yaml


WORDING_COLUMNS = {"item", "text"}  # required; optional: description, reverse, required, subscale


def import_wording(instrument: InstrumentDefinition, path: str | Path,
                   version: str | None = None) -> InstrumentDefinition:
    """A copy of ``instrument`` with each item's label replaced by the study's licensed wording.

    ``path`` is a CSV (columns ``item``, ``text``; optional ``description``,
    ``reverse``, ``required``, ``subscale``) or a YAML mapping of item id to
    text, or to a mapping with those keys. Every item must get its text, and
    every row must name a known item. Any problem refuses the whole import,
    naming the row or item. The result has version ``version`` (default: the
    base version with ``-licensed``), so ratings made with the base keep
    theirs.
    """
    path = Path(path)
    rows = _wording_rows(path)
    problems = []
    known = {item.id for item in instrument.items}
    by_item: dict[str, dict[str, Any]] = {}
    for where, row in rows:
        item_id = str(row.get("item", "")).strip()
        if not item_id:
            problems.append(f"{where}: no item id")
            continue
        if item_id not in known:
            problems.append(f"{where}: no item {item_id!r} in {instrument.id} (items: {', '.join(sorted(known))})")
            continue
        if item_id in by_item:
            problems.append(f"{where}: item {item_id!r} given twice")
            continue
        text = str(row.get("text") or "").strip()
        if not text:
            problems.append(f"{where}: item {item_id!r} has no text")
            continue
        change: dict[str, Any] = {"label": text}
        if str(row.get("description") or "").strip():
            change["description"] = str(row["description"]).strip()
        if str(row.get("subscale") or "").strip():
            change["subscale"] = str(row["subscale"]).strip()
        for flag in ("reverse", "required"):
            value = row.get(flag)
            if value is None or str(value).strip() == "":
                continue
            parsed = _boolean(value)
            if parsed is None:
                problems.append(f"{where}: {flag} must be true or false, found {value!r}")
                continue
            change[flag] = parsed
        by_item[item_id] = change
    missing = [item.id for item in instrument.items if item.id not in by_item]
    if missing and not problems:
        problems.append(f"no text for item{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if problems:
        raise InstrumentError(str(path), problems)
    data = instrument.model_dump(mode="python")
    data["items"] = [{**item, **by_item[item["id"]]} for item in data["items"]]
    data["version"] = version or f"{instrument.version}-licensed"
    data["source"] = (instrument.source + " " if instrument.source else "") + f"Item wording imported from {path.name}."
    return parse(data, str(path))


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in ("true", "yes", "1", "y") else False if text in ("false", "no", "0", "n") else None


def _wording_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    raw = read_text(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        data = read_yaml(raw, path)
        if not isinstance(data, dict):
            raise InstrumentError(str(path), ["expected a mapping of item id to its text"])
        return [(f"item {k}", {"item": k, **(v if isinstance(v, dict) else {"text": v})}) for k, v in data.items()]
    reader = csv.DictReader(raw.splitlines())
    columns = {c.strip().lower() for c in (reader.fieldnames or [])}
    if not WORDING_COLUMNS <= columns:
        raise InstrumentError(str(path), [f"the CSV needs the columns item and text; found "
                                          f"{', '.join(sorted(columns)) or 'none'}"])
    return [(f"row {n}", {(k or "").strip().lower(): v for k, v in row.items()})
            for n, row in enumerate(reader, start=2)]
