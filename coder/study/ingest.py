"""Registering recordings from a CSV manifest.

Columns (header names are case-insensitive):

  file        path to the recording, relative to the manifest's folder   (required)
  therapist   therapist code                                            (required)
  client      client code                                               (required)
  session     session number, 0 or more                                 (required)
  dyad        dyad code; default THERAPIST-CLIENT
  study       study name; default the --study option
  date        session date, YYYY-MM-DD
  time_point  time-point label (e.g. "pre", "week 6")
  arm         treatment arm

Each row is checked and registered on its own: a good row is stored even when
others fail; a bad row gets one line naming the file and why, and nothing of it
is stored.
"""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from coder.db import Database
from coder.pipeline import audio
from coder.study.audit import audit
from coder.study.models import Recording
from coder.study.tree import StudyError, get_or_create_dyad, get_or_create_session, get_or_create_study

REQUIRED = ("file", "therapist", "client", "session")
OPTIONAL = ("dyad", "study", "date", "time_point", "arm")


class ManifestError(Exception):
    """The manifest as a whole cannot be read; nothing was registered."""


@dataclass
class IngestReport:
    registered: list[tuple[int, str]] = field(default_factory=list)  # (row, file)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # already registered, same session
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, file, why)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_manifest(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        reader = csv.DictReader(text.splitlines())
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}; "
                                f"required: {', '.join(REQUIRED)}")
        rows = []
        for raw in reader:
            extra = raw.pop(None, None)
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            if extra:
                row["__extra__"] = ",".join(extra)
            rows.append(row)
    except csv.Error as exc:
        raise ManifestError(f"{path}: malformed CSV ({exc})") from None
    return rows


def parse_row(row: dict[str, str], default_study: str | None) -> dict:
    if row.get("__extra__"):
        raise ValueError("more fields than header columns")
    for col in REQUIRED:
        if not row.get(col):
            raise ValueError(f"empty {col}")
    try:
        number = int(row["session"])
    except ValueError:
        raise ValueError(f"session must be a whole number, got {row['session']!r}") from None
    if number < 0:
        raise ValueError(f"session must be 0 or more, got {number}")
    date = None
    if row.get("date"):
        try:
            date = dt.date.fromisoformat(row["date"])
        except ValueError:
            raise ValueError(f"date must be YYYY-MM-DD, got {row['date']!r}") from None
    study = row.get("study") or default_study
    if not study:
        raise ValueError("no study: add a study column or pass --study")
    return {"study": study, "therapist": row["therapist"], "client": row["client"], "dyad": row.get("dyad") or None,
            "number": number, "date": date, "time_point": row.get("time_point") or None,
            "arm": row.get("arm") or None}


def ingest_manifest(database: Database, manifest: str | Path, study: str | None = None,
                    progress=None) -> IngestReport:
    manifest = Path(manifest)
    rows = read_manifest(manifest)
    base = manifest.resolve().parent
    report = IngestReport()
    seen: dict[str, int] = {}
    for i, row in enumerate(rows, start=2):  # row 1 is the header
        name = row.get("file", "")
        try:
            meta = parse_row(row, study)
            path = (base / name).resolve()
            info = audio.probe(path)
            digest = audio.sha256_file(path)
            if digest in seen:
                raise ValueError(f"duplicate of row {seen[digest]} (same audio content)")
            seen[digest] = i
            with database.session() as db:
                existing = db.scalar(select(Recording).where(Recording.sha256 == digest))
                study_obj = get_or_create_study(db, meta["study"])
                dyad = get_or_create_dyad(db, study_obj, meta["therapist"], meta["client"], meta["dyad"])
                session = get_or_create_session(db, dyad, meta["number"], meta["date"], meta["time_point"],
                                                meta["arm"])
                if existing is not None:
                    if existing.session_id == session.id and existing.live:
                        report.skipped.append((i, name, "already registered"))
                        db.rollback()
                        continue
                    raise ValueError(f"duplicate: the same audio is already registered as {existing.original_name} "
                                     f"(recording {existing.id})")
                recording = Recording(session_id=session.id, path=str(path), original_name=path.name, sha256=digest,
                                      size_bytes=path.stat().st_size, duration_s=info.duration_s,
                                      sample_rate=info.sample_rate, channels=info.channels)
                db.add(recording)
                db.flush()
                audit(db, "register", recording, file=str(path), sha256=digest)
            report.registered.append((i, name))
        except (audio.AudioError, ValueError, StudyError, OSError) as exc:
            report.errors.append((i, name, str(exc)))
        if progress:
            progress(i - 1, len(rows))
    return report
