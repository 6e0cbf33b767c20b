"""Definitions in the study database: versioned, so that every rating keeps the definition it was made with."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from coder.study.audit import audit
from coder.study.instruments.definition import InstrumentDefinition, InstrumentError, parse, read_yaml, to_data
from coder.study.models import Assignment, Instrument, Rating, User


def store(db: Session, instrument: InstrumentDefinition, actor: User | None = None) -> Instrument:
    """Store a definition in the study database, versioned.

    The same id and version with the same content: the stored row, unchanged.
    The same id and version with other content: updated in place while no
    rating uses it; once ratings exist, stored as a new version (the next
    free number after the highest stored one), so that every rating keeps the
    definition it was made with. Returns the row.
    """
    data = to_data(instrument)
    rows = db.scalars(select(Instrument).where(Instrument.key == instrument.id)).all()
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
    row = Instrument(key=instrument.id, version=data["version"], name=instrument.name, definition=data)
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


def stored(row: Instrument) -> InstrumentDefinition:
    """The definition of a stored instrument row."""
    return parse(row.definition, f"instrument {row.key} version {row.version}")


def versions(db: Session) -> list[Instrument]:
    """Every stored version of each live instrument, by key, the newest first."""
    return list(db.scalars(select(Instrument).where(Instrument.live)
                           .order_by(Instrument.key, Instrument.created_at.desc(), Instrument.id.desc())))


def newest(db: Session) -> list[Instrument]:
    """The newest stored version of each live instrument, by key."""
    out: dict[str, Instrument] = {}
    for row in versions(db):
        out.setdefault(row.key, row)
    return list(out.values())


def find(db: Session, key: str, version: str | None = None) -> Instrument | None:
    """The stored instrument ``key`` at ``version`` (by default its newest version); None when not stored."""
    stmt = select(Instrument).where(Instrument.key == key, Instrument.live)
    if version:
        stmt = stmt.where(Instrument.version == version)
    return db.scalar(stmt.order_by(Instrument.created_at.desc()).limit(1))


MAX_DEFINITION_CHARS = 500_000  # a definition pasted or uploaded in the browser


def from_text(text: str, source: str = "definition") -> InstrumentDefinition:
    """A definition from YAML (or JSON) text, as pasted or uploaded; InstrumentError lists every problem with its
    field."""
    if not text.strip():
        raise InstrumentError(source, ["(top level): the definition is empty"])
    if len(text) > MAX_DEFINITION_CHARS:
        raise InstrumentError(source, [f"(top level): longer than {MAX_DEFINITION_CHARS} characters"])
    return parse(read_yaml(text.lstrip("\ufeff"), Path(source)), source)


def stored_as(db: Session, instrument: InstrumentDefinition, actor: User | None = None) -> tuple[Instrument, str]:
    """Store a definition (``store``) and say what became of it: "unchanged" (the same content was stored
    already), "updated" (the version had no ratings), "new version" (the version has ratings: stored as the
    next one) or "stored"."""
    before = {(r.key, r.version): dict(r.definition) for r in
              db.scalars(select(Instrument).where(Instrument.key == instrument.id))}
    row = store(db, instrument, actor)
    if row.version != instrument.version:
        return row, "new version"
    old = before.get((row.key, row.version))
    return row, "stored" if old is None else "unchanged" if old == row.definition else "updated"
