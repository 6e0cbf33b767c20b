"""Client-level variables from CSV: outcomes (symptom scores before and after treatment) and covariates.

One row per client; a ``client`` column with the client's code in the study, and one column per variable,
for example::

    client,hads_anxiety_pre,hads_anxiety_post,age,months_since_injury,exec_function,sex
    C01,12,8,34,18,95,f

Checks, column by column, before anything is stored (a file with any problem stores nothing):

- the header: a ``client`` column; variable names that are unique, start with a letter and hold only
  letters, digits and underscores (64 characters at most), so they work unchanged in model formulas and
  in R, SPSS and Stata; no name that the analysis tables use themselves;
- every row: the right number of fields, a client code, each client once, each client a client of the
  study (unknown clients are listed together);
- every value: a column is numeric unless it is declared categorical (``text_columns``) or none of its
  values is a number; in a numeric column every value must be a finite number, within the column's
  range when one is given. Empty cells and the missing-value codes (``NA`` by default) are missing.

Problems name the row as a spreadsheet shows it (the header is row 1) and the column.
Importing again replaces the values of the variables in the file for the clients in the file and
leaves every other value as it was.
"""
from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from coder.study import scope
from coder.study.audit import audit
from coder.study.models import Client, ClientVariable, Study, User, utcnow
from coder.study.refusal import MISSING, FileRefused

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# Columns of the analysis tables (coder.reports.aggregation), which client variables must not shadow.
RESERVED = {"client", "dyad", "therapist", "session", "session_id", "session_date", "time_point",
            "treatment_arm", "n_sessions", "n_units", "n_ratings", "aggregation", "rater", "unit", "unit_id",
            "instrument", "version", "rating_id", "submitted_at"}


class OutcomeError(FileRefused):
    """The file of client variables was not imported; each problem names its row and column."""


@dataclass
class ImportReport:
    clients: int
    variables: list[str]
    kinds: dict[str, str]  # variable -> numeric | text
    values: int
    missing: int
    source: str
    replaced: int = 0  # values that existed before and were overwritten
    notes: list[str] = field(default_factory=list)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def parse(text: str, source: str, known_clients: set[str], *, text_columns: tuple[str, ...] = (),
          missing: tuple[str, ...] = MISSING,
          ranges: dict[str, tuple[float | None, float | None]] | None = None):
    """Check a client-variables CSV; returns (rows {client: {variable: value}}, kinds {variable: kind}).

    Raises OutcomeError listing every problem found.
    """
    ranges = ranges or {}
    problems: list[str] = []
    try:
        records = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise OutcomeError(source, [f"malformed CSV ({exc})"]) from None
    if not records or not any(cell.strip() for cell in records[0]):
        raise OutcomeError(source, ["the file is empty; expected a header row with a client column"])
    header = [cell.strip() for cell in records[0]]
    lowered = [h.lower() for h in header]
    if "client" not in lowered:
        raise OutcomeError(source, [f"no client column (header: {', '.join(header)})"])
    client_col = lowered.index("client")
    variables: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if i == client_col:
            continue
        column = f"column {i + 1}"
        if not name:
            problems.append(f"{column}: no name in the header")
            continue
        if not NAME.match(name):
            problems.append(f"column {name!r}: a variable name must start with a letter and hold only letters, "
                            "digits and underscores (at most 64 characters)")
            continue
        if name.lower() in RESERVED:
            problems.append(f"column {name!r}: the name is used by the analysis tables; rename the column")
            continue
        if name.lower() in seen:
            problems.append(f"column {name!r}: appears twice (columns {seen[name.lower()] + 1} and {i + 1})")
            continue
        seen[name.lower()] = i
        variables.append((i, name))
    for name in list(text_columns) + list(ranges):
        if name not in {v for _, v in variables}:
            problems.append(f"column {name!r}: named in the options but not in the file")
    missing_codes = {m.strip() for m in missing}

    rows: dict[str, dict[str, str]] = {}
    first_row: dict[str, int] = {}
    unknown: list[str] = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if len(record) != len(header):
            problems.append(f"row {number}: {len(record)} fields, the header has {len(header)}")
            continue
        code = record[client_col].strip()
        if not code:
            problems.append(f"row {number}, column client: empty")
            continue
        if code in first_row:
            problems.append(f"row {number}, column client: client {code} already appears in row {first_row[code]}")
            continue
        first_row[code] = number
        if code not in known_clients:
            unknown.append(f"{code} (row {number})")
        rows[code] = {name: record[i].strip() for i, name in variables}
    if unknown:
        problems.append(f"unknown client(s), not in the study: {', '.join(unknown)}")
    if not rows and not problems:
        problems.append("no data rows")

    kinds: dict[str, str] = {}
    values: dict[str, dict[str, float | str | None]] = {code: {} for code in rows}
    for _, name in variables:
        cells = {code: row[name] for code, row in rows.items()}
        present = {code: v for code, v in cells.items() if v not in missing_codes}
        numeric = name not in text_columns and (not present or any(_number(v) is not None for v in present.values()))
        kinds[name] = "numeric" if numeric else "text"
        low, high = ranges.get(name, (None, None))
        for code, cell in cells.items():
            if cell in missing_codes:
                values[code][name] = None
                continue
            if not numeric:
                values[code][name] = cell
                continue
            number = _number(cell)
            where = f"row {first_row[code]}, column {name}"
            if number is None:
                problems.append(f"{where}: {cell!r} is not a number (the column is numeric; declare it "
                                "categorical if it is not)")
            elif not math.isfinite(number):
                problems.append(f"{where}: {cell!r} is not a finite number")
            elif (low is not None and number < low) or (high is not None and number > high):
                problems.append(f"{where}: {cell} is outside the range {_bound(low)} to {_bound(high)}")
            else:
                values[code][name] = number
    if problems:
        raise OutcomeError(source, problems)
    return values, kinds


def _bound(x: float | None) -> str:
    return "any" if x is None else f"{x:g}"


def import_csv(db: Session, study: Study, path: str | Path, actor: User | None = None, **options) -> ImportReport:
    """Check and store a client-variables CSV in one transaction step (the caller commits).

    Options as for ``parse``. Raises OutcomeError, storing nothing, when the file has any problem.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OutcomeError(str(path), [f"cannot read the file ({exc.strerror})"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OutcomeError(str(path), [f"not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"]) from None
    clients = {c.code: c for c in db.scalars(scope.in_study(select(Client), Client, study))}
    values, kinds = parse(text, path.name, set(clients), **options)
    sha = hashlib.sha256(raw).hexdigest()
    source = f"{path.name} sha256:{sha[:16]}"
    existing = {(v.client_id, v.name): v for v in db.scalars(
        select(ClientVariable).join(Client).where(Client.study_id == study.id))}
    replaced = count = n_missing = 0
    for code, row in values.items():
        client = clients[code]
        for name, value in row.items():
            number = value if isinstance(value, float) else None
            label = value if isinstance(value, str) else None
            n_missing += value is None
            count += 1
            current = existing.get((client.id, name))
            if current is None:
                db.add(ClientVariable(client_id=client.id, name=name, value=number, text=label, source=source))
            else:
                replaced += (current.value, current.text) != (None, None)
                current.value, current.text, current.source = number, label, source
                current.imported_at = utcnow()
    audit(db, "import_client_variables", study, actor, file=path.name, sha256=sha, clients=len(values),
          variables=sorted(kinds), replaced=replaced)
    db.flush()
    return ImportReport(clients=len(values), variables=list(kinds), kinds=kinds, values=count, missing=n_missing,
                        source=source, replaced=replaced)


def client_table(db: Session, study: Study) -> pd.DataFrame:
    """The study's client variables, one row per client (column ``client``), one column per variable;
    numeric variables as floats, categorical ones as text; missing values as NaN/None."""
    columns = select(Client.code, ClientVariable.name, ClientVariable.value, ClientVariable.text)
    rows = db.execute(scope.in_study(columns.select_from(ClientVariable), ClientVariable, study)).all()
    if not rows:
        return pd.DataFrame({"client": pd.Series(dtype=str)})
    long = pd.DataFrame(rows, columns=["client", "name", "value", "text"])
    out = pd.DataFrame({"client": sorted(long["client"].unique())})
    for name, part in long.groupby("name", sort=True):
        if part["text"].notna().any():
            column = part.set_index("client")["text"]
        else:
            column = part.set_index("client")["value"].astype(float)
        out[name] = out["client"].map(column)
    return out


def variable_kinds(table: pd.DataFrame) -> dict[str, str]:
    return {c: ("numeric" if pd.api.types.is_numeric_dtype(table[c]) else "text")
            for c in table.columns if c != "client"}
