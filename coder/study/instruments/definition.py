"""An instrument's definition: the schema a YAML definition is validated against, and the built-in ones.

A definition names its items (with short construct descriptions written for
coder, never licensed item wording unless a study imports its own), the
rating scale with anchors, subscales, how items combine into subscale and
total scores (mean or sum; how many missing items are allowed, and whether
sums are prorated), and for event-coding instruments the markers that raters
note with a salience rating: answered per unit (present or absent) and, where the
instrument codes ``events``, placed in time while listening. ``load`` reports every mistake with the exact
field, for example ``items[3].subscale: unknown subscale 'tsk' (defined: task,
bond, goal)``.
"""
from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUILTIN_PACKAGE = "coder.study.instruments"  # its folder builtin/ holds the definitions


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
            raise ValueError(f"max ({number_text(self.max)}) must be greater than min ({number_text(self.min)})")
        if self.step <= 0:
            raise ValueError(f"step must be positive, got {number_text(self.step)}")
        if not _on_grid((self.max - self.min) / self.step):
            raise ValueError(f"step {number_text(self.step)} does not divide the range "
                             f"{number_text(self.min)}–{number_text(self.max)}")
        for point in self.anchors:
            if not self.allows(point):
                raise ValueError(f"anchor {number_text(point)} is not a point of the scale "
                                 f"{number_text(self.min)}–{number_text(self.max)} "
                                 f"in steps of {number_text(self.step)}")
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


class EventCoding(_Strict):
    """Markers placed in time: at a moment, or over a span where ``spans`` allows."""

    spans: bool = True
    tolerance_s: float = Field(default=5, gt=0)  # timing agreement: starts within ±tolerance_s match


class Scoring(_Strict):
    method: Literal["mean", "sum"] = "mean"
    max_missing: float = Field(default=0, ge=0)  # per subscale: a count (≥ 1) or a fraction of its items (< 1)
    total_max_missing: float | None = Field(default=None, ge=0)  # for the total; default: the subscales' allowances
    prorate: bool = True  # sums with missing items: mean × number of items
    total: bool = True


class InstrumentDefinition(_Strict):
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
    # "required": each marker answered (present with a salience, or absent) before submit; "optional": unanswered
    # counts as not seen
    marker_answers: Literal["required", "optional"] = "optional"
    events: EventCoding | None = None
    source: str = ""  # where the structure comes from (a reference), and what a study must import

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    @model_validator(mode="after")
    def _cross_references(self) -> InstrumentDefinition:
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
                    problems.append((f"items[{i}].anchors.{number_text(point)}",
                                     f"anchor outside the scale {number_text(scale.min)}–{number_text(scale.max)} "
                                     f"in steps of {number_text(scale.step)}"))
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
        if self.events is not None and not self.markers:
            problems.append(("events", "events place markers in time: define the markers"))
        if self.marker_answers == "required" and not self.markers:
            problems.append(("marker_answers", "there are no markers to answer"))
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


def number_text(x: float) -> str:
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


def parse(data: Any, source: str = "definition") -> InstrumentDefinition:
    """A definition from parsed YAML/JSON data; InstrumentError lists every problem with its field."""
    if not isinstance(data, dict):
        raise InstrumentError(source, ["(top level): a definition is a mapping of fields (id, name, items, ...)"])
    try:
        return InstrumentDefinition.model_validate(data)
    except ValidationError as exc:
        raise InstrumentError(source, _messages(exc)) from None


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InstrumentError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise InstrumentError(str(path), ["not a UTF-8 text file"]) from None


def read_yaml(text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InstrumentError(str(path), [f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})"]) \
            from None


def load(path: str | Path) -> InstrumentDefinition:
    path = Path(path)
    return parse(read_yaml(read_text(path), path), str(path))


def to_data(instrument: InstrumentDefinition) -> dict[str, Any]:
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


def builtin(instrument_id: str | None = None) -> dict[str, InstrumentDefinition] | InstrumentDefinition:
    """The built-in definitions by id, or one of them."""
    found = {inst.id: inst for inst in (load(p) for p in sorted(builtin_paths().values()))}
    if instrument_id is None:
        return found
    if instrument_id not in found:
        raise KeyError(f"no built-in instrument {instrument_id!r} (built in: {', '.join(sorted(found))})")
    return found[instrument_id]


