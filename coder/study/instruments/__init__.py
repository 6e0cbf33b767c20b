"""Rating instruments as data: a YAML definition, validated against a schema, and the scoring it describes.

A definition names its items (with short construct descriptions written for
coder, never licensed item wording unless a study imports its own), the
rating scale with anchors, subscales, how items combine into subscale and
total scores (mean or sum; how many missing items are allowed, and whether
sums are prorated), and for event-coding instruments the markers that raters
note with a salience rating. ``load`` reports every mistake with the exact
field, for example ``items[3].subscale: unknown subscale 'tsk' (defined: task,
bond, goal)``.

Scoring (``score``): responses are checked (range, step, required items),
reverse-keyed items are reflected (``min + max - value``), and each subscale
and the total are the mean or the sum of their items. With missing items, a
score is given only while no more than ``max_missing`` items are missing; a
sum is then prorated (the mean of the answered items times the number of
items) when ``prorate`` is set, and withheld otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUILTIN_PACKAGE = "coder.study.instruments"


class InstrumentError(ValueError):
    """A definition that does not validate; ``problems`` lists each mistake as 'field: message'."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        super().__init__(f"{source}: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scale(_Strict):
    min: float
    max: float
    step: float = 1
    anchors: dict[float, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"max ({_num(self.max)}) must be greater than min ({_num(self.min)})")
        if self.step <= 0:
            raise ValueError(f"step must be positive, got {_num(self.step)}")
        if not _on_grid((self.max - self.min) / self.step):
            raise ValueError(f"step {_num(self.step)} does not divide the range {_num(self.min)}–{_num(self.max)}")
        for point in self.anchors:
            if not self.allows(point):
                raise ValueError(f"anchor {_num(point)} is not a point of the scale "
                                 f"{_num(self.min)}–{_num(self.max)} in steps of {_num(self.step)}")
        return self

    def allows(self, value: float) -> bool:
        return self.min <= value <= self.max and _on_grid((value - self.min) / self.step)

    @property
    def points(self) -> list[float]:
        n = int(round((self.max - self.min) / self.step))
        return [self.min + i * self.step for i in range(n + 1)]


class Subscale(_Strict):
    id: str = Field(min_length=1)
    name: str
    description: str = ""


class Item(_Strict):
    id: str = Field(min_length=1)
    label: str = Field(min_length=1)  # short label written for coder, or the licensed wording once imported
    description: str = ""  # the construct the item looks for, in coder's own words
    subscale: str | None = None
    scale: Scale | None = None  # overrides the instrument's scale
    anchors: dict[float, str] = Field(default_factory=dict)  # item-level anchors on the instrument's scale
    reverse: bool = False
    required: bool = True

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class Marker(_Strict):
    """An event a rater notes in a segment (e.g. a withdrawal rupture), rated for salience."""

    id: str = Field(min_length=1)
    label: str
    kind: str = Field(min_length=1)  # e.g. withdrawal | confrontation | resolution
    description: str = ""


class Scoring(_Strict):
    method: Literal["mean", "sum"] = "mean"
    max_missing: float = Field(default=0, ge=0)  # per subscale: a count (≥ 1) or a fraction of its items (< 1)
    total_max_missing: float | None = Field(default=None, ge=0)  # for the total; default: the subscales' allowances
    prorate: bool = True  # sums with missing items: mean × number of items
    total: bool = True


class Instrument(_Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    rating_unit: Literal["session", "segment"]
    segment_minutes: float | None = Field(default=None, gt=0)  # for segment units, their usual length
    scale: Scale | None = None
    subscales: list[Subscale] = Field(default_factory=list)
    items: list[Item] = Field(default_factory=list)
    scoring: Scoring = Field(default_factory=Scoring)
    markers: list[Marker] = Field(default_factory=list)
    salience: Scale | None = None
    source: str = ""  # where the structure comes from (a reference), and what a study must import

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    @model_validator(mode="after")
    def _cross_references(self) -> Instrument:
        problems = []
        if not self.items and not self.markers:
            problems.append(("items", "an instrument needs items, markers or both"))
        ids = [s.id for s in self.subscales]
        for i, sid in enumerate(ids):
            if sid in ids[:i]:
                problems.append((f"subscales[{i}].id", f"duplicate subscale id {sid!r}"))
        seen: dict[str, int] = {}
        for i, item in enumerate(self.items):
            if item.id in seen:
                problems.append((f"items[{i}].id", f"duplicate item id {item.id!r} (also items[{seen[item.id]}])"))
            seen.setdefault(item.id, i)
            if item.subscale is not None and item.subscale not in ids:
                problems.append((f"items[{i}].subscale", f"unknown subscale {item.subscale!r} "
                                 f"(defined: {', '.join(ids) or 'none'})"))
            if self.subscales and item.subscale is None:
                problems.append((f"items[{i}].subscale", "missing: every item belongs to a subscale when the "
                                 "instrument has subscales"))
            scale = item.scale or self.scale
            if scale is None:
                problems.append((f"items[{i}].scale", "no scale: give the instrument a scale or the item its own"))
                continue
            for point in item.anchors:
                if not scale.allows(point):
                    problems.append((f"items[{i}].anchors.{_num(point)}",
                                     f"anchor outside the scale {_num(scale.min)}–{_num(scale.max)} "
                                     f"in steps of {_num(scale.step)}"))
        used = {item.subscale for item in self.items}
        for i, sub in enumerate(self.subscales):
            if sub.id not in used:
                problems.append((f"subscales[{i}]", f"subscale {sub.id!r} has no items"))
        marker_ids = [m.id for m in self.markers]
        for i, mid in enumerate(marker_ids):
            if mid in marker_ids[:i]:
                problems.append((f"markers[{i}].id", f"duplicate marker id {mid!r}"))
        if self.markers and self.salience is None:
            problems.append(("salience", "markers need a salience scale"))
        if self.rating_unit == "session" and self.segment_minutes is not None:
            problems.append(("segment_minutes", "only segment instruments have a segment length"))
        if problems:
            raise _Problems(problems)
        return self

    # --- convenience ---------------------------------------------------------------------------------------

    def scale_of(self, item: Item) -> Scale:
        return item.scale or self.scale  # type: ignore[return-value]

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def items_of(self, subscale: str) -> list[Item]:
        return [item for item in self.items if item.subscale == subscale]


class _Problems(ValueError):
    """Several (field, message) problems found by one validator."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _on_grid(x: float) -> bool:
    return math.isclose(x, round(x), abs_tol=1e-9)


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after", "function-before") and not str(part).startswith(("function-", "union[")):
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _messages(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _Problems):
            prefix = _path(err["loc"])
            out += [f"{prefix + '.' if prefix != '(top level)' else ''}{f}: {m}" for f, m in ctx_error.problems]
            continue
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (a typo?)"
        elif err["type"] == "missing":
            message = "missing (required)"
        out.append(f"{_path(err['loc'])}: {message}")
    return out


def parse(data: Any, source: str = "definition") -> Instrument:
    """An Instrument from parsed YAML/JSON data; InstrumentError lists every problem with its field."""
    if not isinstance(data, dict):
        raise InstrumentError(source, ["(top level): a definition is a mapping of fields (id, name, items, ...)"])
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        raise InstrumentError(source, _messages(exc)) from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InstrumentError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise InstrumentError(str(path), ["not a UTF-8 text file"]) from None


def _yaml(text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InstrumentError(str(path), [f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})"]) \
            from None


def load(path: str | Path) -> Instrument:
    path = Path(path)
    return parse(_yaml(_read_text(path), path), str(path))


def to_data(instrument: Instrument) -> dict[str, Any]:
    """The definition as plain data for YAML or JSON, whole numbers written as integers."""
    def tidy(x: Any) -> Any:
        if isinstance(x, float) and x.is_integer():
            return int(x)
        if isinstance(x, dict):
            return {tidy(k): tidy(v) for k, v in x.items()}
        if isinstance(x, list):
            return [tidy(v) for v in x]
        return x

    return tidy(instrument.model_dump(mode="python", exclude_defaults=True))


def builtin_paths() -> dict[str, Path]:
    folder = resources.files(BUILTIN_PACKAGE) / "builtin"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def builtin(instrument_id: str | None = None) -> dict[str, Instrument] | Instrument:
    """The built-in definitions by id, or one of them."""
    found = {inst.id: inst for inst in (load(p) for p in sorted(builtin_paths().values()))}
    if instrument_id is None:
        return found
    if instrument_id not in found:
        raise KeyError(f"no built-in instrument {instrument_id!r} (built in: {', '.join(sorted(found))})")
    return found[instrument_id]


# --- responses and scores ---------------------------------------------------------------------------------

MARKERS = "markers"  # the responses' key for event markers: {marker id: salience}


@dataclass
class Scores:
    items: dict[str, float | None]  # keyed values: reverse-keyed items reflected
    subscales: dict[str, float | None]
    total: float | None
    missing: dict[str, int] = field(default_factory=dict)  # per subscale, and "total"
    notes: list[str] = field(default_factory=list)  # why a score was withheld
    # per marker kind: how many were marked, the sum and the highest salience
    markers: dict[str, dict[str, float]] = field(default_factory=dict)


def check_responses(instrument: Instrument, responses: dict[str, Any], submit: bool = True) -> list[str]:
    """Every problem with a rater's responses: unknown items, values off the scale or its steps, and (when
    submitting) required items left empty. An empty list means the responses can be saved or submitted."""
    problems = []
    known = {item.id for item in instrument.items}
    markers = responses.get(MARKERS) or {}
    if not isinstance(markers, dict):
        problems.append(f"{MARKERS}: expected marker ids with their salience")
        markers = {}
    marker_ids = {m.id for m in instrument.markers}
    for marker_id, salience in markers.items():
        if marker_id not in marker_ids:
            problems.append(f"{MARKERS}.{marker_id}: no such marker in {instrument.id} version {instrument.version}")
            continue
        try:
            number = float(salience)
        except (TypeError, ValueError):
            number = float("nan")
        if instrument.salience is None or not math.isfinite(number) or not instrument.salience.allows(number):
            sal = instrument.salience
            problems.append(f"{MARKERS}.{marker_id}: salience {salience!r} is not on the scale "
                            f"{_num(sal.min)}–{_num(sal.max)}" if sal else f"{MARKERS}.{marker_id}: no salience scale")
    for key in responses:
        if key == MARKERS:
            continue
        if key not in known:
            problems.append(f"{key}: no such item in {instrument.id} version {instrument.version}")
    for item in instrument.items:
        value = responses.get(item.id)
        if value is None or value == "":
            if submit and item.required:
                problems.append(f"{item.id}: required")
            continue
        scale = instrument.scale_of(item)
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(f"{item.id}: {value!r} is not a number")
            continue
        if not math.isfinite(number) or not scale.allows(number):
            problems.append(f"{item.id}: {value!r} is not on the scale {_num(scale.min)}–{_num(scale.max)} "
                            f"in steps of {_num(scale.step)}")
    return problems


def keyed(instrument: Instrument, item: Item, value: float) -> float:
    """The item's value with reverse keying applied."""
    scale = instrument.scale_of(item)
    return scale.min + scale.max - value if item.reverse else value


def _allowance(max_missing: float, n_items: int) -> int:
    return int(max_missing) if max_missing >= 1 else int(math.floor(max_missing * n_items + 1e-9))


def _combine(values: list[float | None], n_missing_allowed: int, method: str, prorate: bool, label: str,
             notes: list[str]) -> tuple[float | None, int]:
    answered = [v for v in values if v is not None]
    missing = len(values) - len(answered)
    if not values or not answered:
        notes.append(f"{label}: no items answered")
        return None, missing
    if missing > n_missing_allowed:
        notes.append(f"{label}: {missing} items missing, at most {n_missing_allowed} allowed")
        return None, missing
    mean = sum(answered) / len(answered)
    if method == "mean":
        return mean, missing
    if missing and not prorate:
        notes.append(f"{label}: {missing} items missing and sums are not prorated")
        return None, missing
    return mean * len(values), missing


def score(instrument: Instrument, responses: dict[str, Any]) -> Scores:
    """Subscale and total scores of one rater's responses to one rating unit.

    Raises ValueError if a response is off the scale (check them first with
    ``check_responses``); missing items are handled by the scoring rules.
    """
    bad = [p for p in check_responses(instrument, responses, submit=False)]
    if bad:
        raise ValueError("; ".join(bad))
    rules = instrument.scoring
    items: dict[str, float | None] = {}
    for item in instrument.items:
        value = responses.get(item.id)
        items[item.id] = None if value is None or value == "" else keyed(instrument, item, float(value))
    notes: list[str] = []
    subscales, missing = {}, {}
    allowances = 0
    for sub in instrument.subscales:
        members = instrument.items_of(sub.id)
        allowed = _allowance(rules.max_missing, len(members))
        allowances += allowed
        subscales[sub.id], missing[sub.id] = _combine([items[i.id] for i in members], allowed, rules.method,
                                                      rules.prorate, sub.id, notes)
    total = None
    if rules.total:
        allowed = (_allowance(rules.total_max_missing, len(items)) if rules.total_max_missing is not None
                   else allowances if instrument.subscales else _allowance(rules.max_missing, len(items)))
        total, missing["total"] = _combine(list(items.values()), allowed, rules.method, rules.prorate, "total",
                                           notes)
    kinds: dict[str, dict[str, float]] = {m.kind: {"count": 0, "salience_sum": 0.0, "salience_max": 0.0}
                                          for m in instrument.markers}
    marked = responses.get(MARKERS) or {}
    for marker in instrument.markers:
        if marker.id in marked:
            salience = float(marked[marker.id])
            k = kinds[marker.kind]
            k["count"] += 1
            k["salience_sum"] += salience
            k["salience_max"] = max(k["salience_max"], salience)
    return Scores(items, subscales, total, missing, notes, kinds)


def mean_of(scores: list[float | None]) -> float | None:
    """The mean of the scores that exist (raters of a unit, units of a session); None when none does."""
    present = [s for s in scores if s is not None]
    return sum(present) / len(present) if present else None


# --- licensed wording -------------------------------------------------------------------------------------

WORDING_COLUMNS = {"item", "text"}  # required; optional: description, reverse, required, subscale


def import_wording(instrument: Instrument, path: str | Path, version: str | None = None) -> Instrument:
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
    import csv

    raw = _read_text(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _yaml(raw, path)
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


# --- the study database -----------------------------------------------------------------------------------

def store(db, instrument: Instrument, actor=None):
    """Store a definition in the study database, versioned.

    The same id and version with the same content: the stored row, unchanged.
    The same id and version with other content: updated in place while no
    rating uses it; once ratings exist, stored as a new version (the next
    free number after the highest stored one), so that every rating keeps the
    definition it was made with. Returns the row.
    """
    from sqlalchemy import exists, select

    from coder.study.models import Assignment, Instrument as Row, Rating
    from coder.study.tree import audit

    data = to_data(instrument)
    rows = db.scalars(select(Row).where(Row.key == instrument.id)).all()
    same = next((r for r in rows if r.version == instrument.version), None)
    if same is not None:
        if same.definition == data:
            return same
        used = db.scalar(select(exists().where(Rating.assignment_id == Assignment.id,
                                               Assignment.instrument_id == same.id)))
        if not used:
            same.definition, same.name = data, instrument.name
            audit(db, "update", same, actor, version=same.version)
            db.flush()
            return same
        data["version"] = _next_version(instrument.version, [r.version for r in rows])
    row = Row(key=instrument.id, version=data["version"], name=instrument.name, definition=data)
    db.add(row)
    db.flush()
    audit(db, "create", row, actor, version=row.version)
    return row


def _next_version(version: str, versions: list[str]) -> str:
    """"1" -> the highest numeric version + 1; "1-licensed" -> "1-licensed.2", ".3", ..."""
    if version.isdigit():
        return str(max(int(v) for v in versions if v.isdigit()) + 1)
    n = 2
    while f"{version}.{n}" in versions:
        n += 1
    return f"{version}.{n}"


def stored(row) -> Instrument:
    """The definition of a stored instrument row."""
    return parse(row.definition, f"instrument {row.key} version {row.version}")
