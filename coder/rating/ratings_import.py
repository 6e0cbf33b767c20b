"""Ratings made elsewhere (spreadsheets, another tool, coder's own export), imported as submitted ratings.

Two layouts, told apart by the header (``item`` and ``value`` columns make it long):

- **long**: one row per response: ``dyad, session, unit`` (or ``start, end``), ``rater, item, value``;
- **wide**: one row per rating: ``dyad, session, unit`` (or ``start, end``), ``rater``, one column per item.

Optional columns: ``instrument`` (rows of other instruments are left out, and counted), ``version`` (it must
agree with the version imported to), ``submitted_at`` (ISO 8601; default: the time of the import) and
``notes``. An item column is named by the item's id (``7``), as ``item7``, or as coder's long export names it
(``wai_o_s_item7``): the export's item scores are keyed (reverse-keyed items reflected), so those are
reflected back to the rater's response. The other columns coder's exports write (``therapist``, ``client``,
``session_id``, totals and subscales, ``rating_id`` ...) are ignored; any other column that this
instrument's rows fill is a problem, so that a misspelt item is not lost.

Each row is matched to the study: the dyad by its code, the session by its number, the unit by its label
among the session's live units, else by its time range (``start`` and ``end``, or the export's
``unit_start_s`` and ``unit_end_s``: seconds or [h:]mm:ss) to within half a second. A time range no unit has
becomes a new unit of the session's recording (the session must have exactly one); in a session without a
recording (one rated on paper) a new label or time range becomes a unit of its own. With ``register``, a
dyad or session the study lacks is registered, as a session without a recording (a new dyad needs
``therapist`` and ``client`` columns; ``session_date``, ``time_point`` and ``treatment_arm`` are taken where
given), so that a study whose audio cannot be uploaded, or coder's own export, imports into an empty study.
The rater is a rater account, by user name. Values must lie on the item's scale; items left empty stay
missing (the instrument's scoring decides what a missing item does to a score).

The import is all-or-nothing: every problem is collected, named by the file's line (the header is line 1)
and column, and a file with any problem stores nothing. A dry run checks and counts without storing. A
rating that already exists with the same responses is left as it is, so a second import of the same file
changes nothing; an existing rating with other responses is a conflict, and a problem. Imported ratings are
marked (``Rating.source`` = ``import``), each has an ``import`` event in the audit trail naming the file,
its SHA-256 and the lines, and the exports carry the source.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from coder.rating.scores import prefix
from coder.study import instruments, scope, tree
from coder.study.audit import audit
from coder.study.models import (Assignment, Dyad, Instrument, Rating, RatingUnit, Recording, Study, TherapySession,
                                User, utcnow)
from coder.study.refusal import MISSING, FileRefused

LAYOUTS = ("long", "wide")
KEYS = ("dyad", "session", "unit", "start", "end", "rater")
# Columns coder's exports write that an import does not need.
IGNORED = {"therapist", "client", "session_id", "session_date", "time_point", "treatment_arm", "unit_id",
           "rating_id", "source", "aggregation"}
TIME_ALIASES = {"unit_start_s": "start", "unit_end_s": "end"}
TOLERANCE_S = 0.5


class RatingsImportError(FileRefused):
    """The file of ratings was not imported; each problem names its line and column."""


@dataclass
class Planned:
    """One rating the file holds, matched to the study."""
    lines: list[int]
    session: TherapySession
    unit: RatingUnit | None  # None: a new unit (label, span)
    label: str
    span: tuple[float, float] | None
    rater: User
    responses: dict[str, Any]
    notes: str
    submitted_at: dt.datetime | None
    assignment: Assignment | None = None  # the unit's assignment of this rater and instrument, if any
    unchanged: bool = False  # the study has this very rating already


@dataclass
class ImportReport:
    source: str
    sha256: str
    layout: str
    instrument: str
    ratings: int  # in the file
    created: int = 0
    unchanged: int = 0
    units_created: int = 0
    dyads_registered: int = 0
    sessions_registered: int = 0
    missing_responses: int = 0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


# --- reading --------------------------------------------------------------------------------------------

def read_rows(path: str | Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the rows (with their line numbers, the header being line 1) of a CSV or Excel file, every
    cell as text. An Excel workbook is read from its ``long`` sheet (coder's export) or else its first."""
    import pandas as pd

    path = Path(path)
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            sheets = pd.ExcelFile(path, engine="openpyxl")
            sheet = "long" if "long" in sheets.sheet_names else sheets.sheet_names[0]
            frame = sheets.parse(sheet, dtype=object, keep_default_na=False)
            frame = frame.map(_cell_text)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise RatingsImportError(path.name, [f"not a readable CSV or Excel file ({reason})"]) from None
    header = [str(c).strip() for c in frame.columns]
    rows = [(i + 2, {h: str(v).strip() for h, v in zip(header, values)})
            for i, values in enumerate(frame.itertuples(index=False, name=None))]
    return header, rows


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def seconds(text: str) -> float | None:
    """Seconds from ``123.4``, ``mm:ss`` or ``h:mm:ss``; None if it is none of these."""
    parts = text.split(":")
    if not 1 <= len(parts) <= 3:
        return None
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return None
    if any(not math.isfinite(n) or n < 0 for n in numbers):
        return None
    total = 0.0
    for n in numbers:
        total = total * 60 + n
    return total


def _value(number: float) -> int | float:
    """As the rating page stores a response: whole numbers as integers."""
    return int(number) if number.is_integer() else number


# --- matching -------------------------------------------------------------------------------------------

class _Study:
    """The study's dyads, sessions, units and raters, loaded once."""

    def __init__(self, db: Session, study: Study, register: bool = False):
        self.db = db
        self.study = study
        self.register = register
        self.registered = {"dyads": 0, "sessions": 0}
        self.dyads = {d.code: d for d in db.scalars(scope.in_study(select(Dyad), Dyad, study))}
        sessions = db.scalars(scope.in_study(select(TherapySession), TherapySession, study)
                              .options(joinedload(TherapySession.dyad))).unique().all()
        self.sessions = {(s.dyad.code, s.number): s for s in sessions}
        self.units: dict[int, list[RatingUnit]] = defaultdict(list)
        for unit in db.scalars(scope.in_study(select(RatingUnit), RatingUnit, study)):
            self.units[unit.session_id].append(unit)
        recordings = db.scalars(scope.in_study(select(Recording), Recording, study)).all()
        self.recordings: dict[int, list[Recording]] = defaultdict(list)
        for rec in recordings:
            self.recordings[rec.session_id].append(rec)
        self.raters = {u.username: u for u in db.scalars(select(User).where(User.role == "rater"))}

    def dyad_or_register(self, row: dict[str, str], where: str) -> tuple[Dyad | None, str | None]:
        code = row.get("dyad", "")
        if code in self.dyads:
            return self.dyads[code], None
        if not self.register:
            return None, f"{where}, column 'dyad': no dyad {code!r} in study {self.study.name}"
        therapist, client = row.get("therapist", ""), row.get("client", "")
        if not (code and therapist and client):
            return None, (f"{where}: dyad {code!r} is new, and registering it needs its dyad, therapist and client "
                          "codes")
        try:
            dyad = tree.get_or_create_dyad(self.db, self.study, therapist, client, code)
        except tree.StudyError as exc:
            return None, f"{where}: {exc}"
        self.dyads[code] = dyad
        self.registered["dyads"] += 1
        return dyad, None

    def session_or_register(self, dyad: Dyad, number: int, row: dict[str, str],
                            where: str) -> tuple[TherapySession | None, str | None]:
        session = self.sessions.get((dyad.code, number))
        if session is not None:
            return session, None
        if not self.register:
            return None, f"{where}, column 'session': dyad {dyad.code} has no session {number}"
        try:
            date = dt.date.fromisoformat(row["session_date"][:10]) if row.get("session_date") else None
        except ValueError:
            return None, f"{where}, column 'session_date': {row['session_date']!r} is not a date"
        try:
            session = tree.get_or_create_session(self.db, dyad, number, date, row.get("time_point") or None,
                                                 row.get("treatment_arm") or None)
        except tree.StudyError as exc:
            return None, f"{where}: {exc}"
        self.sessions[(dyad.code, number)] = session
        self.registered["sessions"] += 1
        return session, None

    def unit(self, session: TherapySession, label: str, span: tuple[float, float] | None):
        """The session's unit with this label, else with this time range; (None, None) for a new unit, and
        (None, problem) when neither matches nor can be made."""
        units = self.units.get(session.id, [])
        recordings = self.recordings.get(session.id, [])
        if label:
            named = [u for u in units if u.label == label]
            if len(named) == 1:
                return named[0], None
            if len(named) > 1:
                return None, f"session {session.number} of dyad {session.dyad.code} has {len(named)} units " \
                             f"labelled {label!r}: give start and end too"
            if span is None and recordings:
                return None, f"session {session.number} of dyad {session.dyad.code} has no unit labelled {label!r}"
        if span is None:
            if label and not recordings:
                return None, None  # a new labelled unit of a session without a recording
            return None, "give the unit (its label) or its start and end"
        near = [u for u in units if abs(u.start_s - span[0]) <= TOLERANCE_S and abs(u.end_s - span[1]) <= TOLERANCE_S]
        if near:
            return near[0], None
        if not recordings:
            return None, None  # a new unit of a session without a recording
        if len(recordings) != 1:
            return None, (f"no unit of session {session.number} of dyad {session.dyad.code} spans "
                          f"{span[0]:g}–{span[1]:g} s, and a new one needs the session to have exactly one "
                          f"recording (it has {len(recordings)})")
        if span[1] > recordings[0].duration_s + TOLERANCE_S:
            return None, (f"the unit {span[0]:g}–{span[1]:g} s ends after the session's recording "
                          f"({recordings[0].duration_s:g} s)")
        return None, None  # a new unit of the recording


def _item_columns(definition: instruments.InstrumentDefinition, header: list[str], layout: str):
    """Item id by column, whether the column holds keyed scores (coder's export), and the unknown columns."""
    items = {item.id: item for item in definition.items}
    stem = prefix(definition.id)
    computed = {f"{stem}_{name}" for name in ["total", *(s.id for s in definition.subscales)]}
    computed |= {f"{stem}_{m.kind}_n" for m in definition.markers}
    by_column, keyed, unknown = {}, set(), []
    for column in header:
        name = TIME_ALIASES.get(column, column)
        if name in KEYS or name in IGNORED or name in ("instrument", "version", "submitted_at", "notes"):
            continue
        if layout == "long" and column in ("item", "value"):
            continue
        if layout == "wide":
            match = re.fullmatch(rf"{re.escape(stem)}_item(.+)", column)
            if match and match.group(1) in items:
                by_column[column] = match.group(1)
                keyed.add(column)
                continue
            bare = column[4:] if column.startswith("item") and column[4:] in items else column
            if bare in items:
                by_column[column] = bare
                continue
        if column in computed:
            continue
        unknown.append(column)
    return by_column, keyed, unknown


# --- the import -----------------------------------------------------------------------------------------

def plan(db: Session, study: Study, instrument: Instrument, path: str | Path, layout: str | None = None,
         register: bool = False):
    """Read and check the file; returns (report, planned ratings) or raises RatingsImportError with every problem."""
    path = Path(path)
    source = path.name
    data = path.read_bytes()
    header, rows = read_rows(path)
    definition = instruments.stored(instrument)
    if layout is None:
        layout = "long" if {"item", "value"} <= set(header) else "wide"
    if layout not in LAYOUTS:
        raise RatingsImportError(source, [f"layout must be long or wide, not {layout!r}"])
    problems: list[str] = []
    names = {TIME_ALIASES.get(c, c) for c in header}
    for needed in ("dyad", "session", "rater", *(("item", "value") if layout == "long" else ())):
        if needed not in names:
            problems.append(f"line 1: no column {needed!r}")
    if "unit" not in names and not {"start", "end"} <= names:
        problems.append("line 1: no column 'unit' and no columns 'start' and 'end'")
    by_column, keyed_columns, unknown = _item_columns(definition, header, layout)
    if layout == "wide" and not by_column:
        problems.append(f"line 1: no column names an item of {definition.id} version {definition.version}")
    if problems:
        raise RatingsImportError(source, problems)
    # rows of other instruments (coder's long export holds every instrument's) are left out, and so are the
    # columns only they fill; a column this instrument's rows fill must be one the import knows
    others = [(line, row) for line, row in rows if row.get("instrument") not in ("", None, instrument.key)]
    rows = [(line, row) for line, row in rows if row.get("instrument") in ("", None, instrument.key)]
    for column in unknown:
        filled = next((line for line, row in rows if row.get(column, "") not in MISSING), None)
        if filled is not None:
            problems.append(f"line 1, column {column!r}: neither a column of the import nor an item of "
                            f"{definition.id} version {definition.version} (line {filled} fills it)")
    known = _Study(db, study, register)
    items = {item.id: item for item in definition.items}
    ratings: dict[tuple, Planned] = {}
    seen_items: dict[tuple, int] = {}
    for line, row in rows:
        row = {TIME_ALIASES.get(k, k): v for k, v in row.items()}
        if not any(row.values()):
            continue
        where = f"line {line}"
        bad = _check_instrument(row, instrument, where)
        if bad:
            problems.append(bad)
            continue
        session, unit_key, span, rater, issue = _locate(known, row, where)
        if issue:
            problems.extend(issue)
            continue
        when, issue = _submitted(row.get("submitted_at", ""), where)
        if issue:
            problems.append(issue)
            continue
        key = (session.id, unit_key, rater.username)
        entry = ratings.get(key)
        if entry is None:
            unit, issue = known.unit(session, row.get("unit", ""), span)
            if issue:
                problems.append(f"{where}: {issue}")
                continue
            entry = ratings[key] = Planned([], session, unit, row.get("unit", ""), span if unit is None else None,
                                           rater, {}, row.get("notes", ""), when)
        elif layout == "wide":
            problems.append(f"{where}: rater {rater.username} rates this unit again (line {entry.lines[0]})")
            continue
        entry.lines.append(line)
        cells = [(row.get("item", ""), row.get("value", ""), "value")] if layout == "long" else \
            [(item_id, row.get(TIME_ALIASES.get(c, c), ""), c) for c, item_id in by_column.items()]
        for item_id, text, column in cells:
            if item_id not in items:
                problems.append(f"{where}, column 'item': {item_id!r} is not an item of {definition.id} version "
                                f"{definition.version}")
                continue
            if layout == "long":
                if (key, item_id) in seen_items:
                    problems.append(f"{where}: item {item_id} of this rating again (line {seen_items[key, item_id]})")
                    continue
                seen_items[key, item_id] = line
            if text in MISSING:
                continue
            try:
                number = float(text)
            except ValueError:
                problems.append(f"{where}, column {column!r}: {text!r} is not a number")
                continue
            item = items[item_id]
            if column in keyed_columns:
                number = instruments.keyed(definition, item, number)  # reflecting twice gives the response
            scale = definition.scale_of(item)
            if not math.isfinite(number) or not scale.allows(number):
                problems.append(f"{where}, column {column!r}: {text!r} is not on item {item_id}'s scale "
                                f"{scale.min:g}–{scale.max:g} in steps of {scale.step:g}")
                continue
            entry.responses[item_id] = _value(number)
    if not rows:
        problems.append("the file has no rows")
    report = ImportReport(source, hashlib.sha256(data).hexdigest(), layout, f"{definition.id}:{definition.version}",
                          len(ratings), dyads_registered=known.registered["dyads"],
                          sessions_registered=known.registered["sessions"])
    if others:
        keys = sorted({row["instrument"] for _, row in others})
        report.notes.append(f"{len(others)} rows of other instruments ({', '.join(keys)}) left out")
    planned = list(ratings.values())
    for entry in planned:
        if not entry.responses:
            problems.append(f"line {entry.lines[0]}: rater {entry.rater.username} gave no response")
        report.missing_responses += len(items) - len(entry.responses)
    problems += _conflicts(db, instrument, planned, report)
    if problems:
        raise RatingsImportError(source, problems)
    return report, planned


def _check_instrument(row: dict[str, str], instrument: Instrument, where: str) -> str | None:
    version = row.get("version", "")
    if version and version != instrument.version:
        return f"{where}, column 'version': {version!r}, but the import is to version {instrument.version}"
    return None


def _locate(known: _Study, row: dict[str, str], where: str):
    problems = []
    number, rater_name = row.get("session", ""), row.get("rater", "")
    try:
        session_number = int(float(number))
    except ValueError:
        session_number = None
        problems.append(f"{where}, column 'session': {number!r} is not a session number")
    rater = known.raters.get(rater_name)
    if rater is None:
        problems.append(f"{where}, column 'rater': no rater account {rater_name!r}")
    span = None
    if row.get("start", "") or row.get("end", ""):
        start, end = seconds(row.get("start", "")), seconds(row.get("end", ""))
        if start is None or end is None or end <= start:
            problems.append(f"{where}, columns 'start' and 'end': {row.get('start')!r} to {row.get('end')!r} is not "
                            "a time range (seconds or [h:]mm:ss, start before end)")
        else:
            span = (start, end)
    dyad, issue = known.dyad_or_register(row, where)
    if issue:
        problems.append(issue)
    session = None
    if dyad is not None and session_number is not None and not problems:
        session, issue = known.session_or_register(dyad, session_number, row, where)
        if issue:
            problems.append(issue)
    if problems:
        return None, None, None, None, problems
    unit_key = row.get("unit", "") or span
    return session, unit_key, span, rater, None


def _submitted(text: str, where: str):
    if not text:
        return None, None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None, f"{where}, column 'submitted_at': {text!r} is not an ISO 8601 date or time"
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)), None


def _conflicts(db: Session, instrument: Instrument, planned: list[Planned], report: ImportReport) -> list[str]:
    """Problems with ratings the study already has; marks and counts those the file repeats unchanged."""
    units = [p.unit.id for p in planned if p.unit is not None]
    existing = {}
    if units:
        stmt = (select(Assignment)
                .where(Assignment.rating_unit_id.in_(units), Assignment.instrument_id == instrument.id)
                .options(joinedload(Assignment.rating)))
        existing = {(a.rating_unit_id, a.rater_id): a for a in db.scalars(stmt).unique()}
    problems = []
    for p in planned:
        p.assignment = existing.get((p.unit.id, p.rater.id)) if p.unit is not None else None
        if p.assignment is None:
            continue
        where = f"line {p.lines[0]}: rater {p.rater.username}"
        rating = p.assignment.rating
        if p.assignment.deleted_at is not None:
            problems.append(f"{where} was assigned this unit on {instrument.key} before and the assignment was "
                            f"deleted (assignment {p.assignment.id}); restore it first")
        elif rating is None:
            continue
        elif rating.deleted_at is not None:
            problems.append(f"{where} rated this unit on {instrument.key} before and the rating was deleted "
                            f"(rating {rating.id}); restore it first")
        elif rating.status == "submitted" and (rating.responses or {}) == p.responses:
            p.unchanged = True
            report.unchanged += 1
        else:
            problems.append(f"{where} already has {'a draft' if rating.status == 'draft' else 'another rating'} of "
                            f"this unit on {instrument.key} (rating {rating.id}); resolve it first")
    return problems


def import_ratings(db: Session, study: Study, instrument: Instrument, path: str | Path, actor: User | None = None,
                   layout: str | None = None, dry_run: bool = False, register: bool = False) -> ImportReport:
    """Check the file and, unless ``dry_run``, store its ratings (see the module's text); with ``register``
    dyads and sessions the study lacks are registered. Raises RatingsImportError with every problem; the caller
    rolls back (as after a dry run), and nothing is stored."""
    report, planned = plan(db, study, instrument, path, layout, register)
    report.dry_run = dry_run
    report.created = report.ratings - report.unchanged
    report.units_created = len({(p.session.id, p.label, p.span) for p in planned if p.unit is None})
    if dry_run:
        return report
    from coder.study import units as unit_service

    made: dict[tuple, RatingUnit] = {}
    for p in planned:
        unit = p.unit
        if unit is None:
            unit = made.get((p.session.id, p.label, p.span))
            if unit is None:
                recordings = db.scalars(scope.under(select(Recording), Recording, p.session, live=True)).all()
                if recordings:
                    (recording,) = recordings
                    (unit,) = unit_service.add(db, recording, [unit_service.custom(
                        p.span[0], p.span[1], recording.duration_s, p.label)], actor)
                else:
                    unit = unit_service.add_without_recording(db, p.session, p.label, p.span, actor)
                made[(p.session.id, p.label, p.span)] = unit
        if p.unchanged:
            continue
        assignment = p.assignment
        if assignment is None:
            assignment = Assignment(rater_id=p.rater.id, rating_unit_id=unit.id, instrument_id=instrument.id)
            db.add(assignment)
            db.flush()
        now = utcnow()
        rating = Rating(assignment_id=assignment.id, rater_id=p.rater.id, responses=p.responses, notes=p.notes,
                        status="submitted", source="import", created_at=now, updated_at=now,
                        submitted_at=p.submitted_at or now)
        db.add(rating)
        db.flush()
        audit(db, "import", rating, actor, file=report.source, sha256=report.sha256, lines=p.lines,
              instrument=report.instrument)
    audit(db, "import_ratings", study, actor, file=report.source, sha256=report.sha256, layout=report.layout,
          instrument=report.instrument, created=report.created, unchanged=report.unchanged,
          units_created=report.units_created, dyads_registered=report.dyads_registered,
          sessions_registered=report.sessions_registered)
    db.flush()
    return report
