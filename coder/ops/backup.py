"""Backups of a coder installation: the database and the recordings, in one archive; and their restore.

    coder backup coder-2026-11-23.tar        # from the configured database and CODER_HOME
    coder restore coder-2026-11-23.tar       # into an empty database and data directory

The archive (a tar file) holds

- ``manifest.json``: the format, the coder version, the time, the schema revision (Alembic), the database
  backend, each table's row count and each recording file's SHA-256 and size;
- ``database/<table>.jsonl``: every row of every table, one JSON object per line (dates as ISO 8601);
- ``recordings/<sha256><ext>``: each recording's audio, once per distinct file.

The dump is logical, not a copy of the database file, so a backup of a PostgreSQL installation restores
into SQLite and the other way round. It is consistent: SQLite is first copied with SQLite's online backup
(a snapshot, while the app keeps running), PostgreSQL is read in one REPEATABLE READ transaction. The
archive is written under a temporary name and renamed when complete.

Restore checks every file against the manifest before it touches the database, creates the schema at the
backup's revision, loads the rows in one transaction, points the recordings at their restored files,
and then migrates to the current schema, so an old backup restores into a newer coder. It refuses a
database that already holds data. Not in the archive: the secret key (a new one is made, so logins
start afresh), listening copies and transcript exports (made again on demand: ``coder export``), the job
queue (recordings that were queued are queued again by ``coder jobs submit``), the model store, and the
full-text index of the transcript search (SQLite's triggers and PostgreSQL's index fill it again from the
restored ``transcript_turns``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from zlib import error as zlib_error
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

from sqlalchemy import Connection, MetaData, Table, inspect, select, text
from sqlalchemy.engine import make_url

from coder import __version__
from coder.config import Settings
from coder.db import Database, current_revision, is_initialised, make_engine, migrate, unmapped

FORMAT = "coder-backup/1"
SKIP_TABLES = {"alembic_version"}


class BackupError(Exception):
    """The backup or restore could not be made; nothing was changed. The message says why."""


@dataclass
class Summary:
    path: Path
    revision: str
    tables: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0


def _encode(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _snapshot(database: Database, workdir: Path):
    """An engine over a consistent snapshot: a copy of a SQLite file, else the database itself."""
    url = make_url(database.url)
    if url.get_backend_name() != "sqlite":
        return database.engine, False
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    copy = workdir / "snapshot.db"
    source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return make_engine(f"sqlite:///{copy}"), True


def _kept(name: str, _meta: MetaData | None = None) -> bool:
    """Tables a backup holds: all but the search index (rebuilt from transcript_turns as its rows load)."""
    return not unmapped(name)


def _rows(conn: Connection, table: Table) -> Iterator[dict[str, Any]]:
    order = list(table.primary_key.columns) or list(table.columns)
    result = conn.execution_options(yield_per=2000).execute(select(table).order_by(*order))
    for row in result.mappings():
        yield {k: _encode(v) for k, v in row.items()}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(dt.datetime.now().timestamp())
    tar.addfile(info, io.BytesIO(data))


class _Hashing(io.RawIOBase):
    """Reads a file while hashing it, for tar.addfile."""

    def __init__(self, f: IO[bytes]):
        self.f, self.digest = f, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.f.read(len(buffer))
        self.digest.update(data)
        buffer[:len(data)] = data
        return len(data)


def backup(settings: Settings, database: Database, out: Path, allow_missing: bool = False) -> Summary:
    """Write the archive ``out`` (see the module's docstring)."""
    out = Path(out)
    if not is_initialised(database.engine):
        raise BackupError(f"no coder database at {database.url}")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="coder-backup-") as tmp:
        engine, own = _snapshot(database, Path(tmp))
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    summary = _write(conn, settings, partial, allow_missing)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            if own:
                engine.dispose()
    os.replace(partial, out)
    summary.path = out
    return summary


def _write(conn: Connection, settings: Settings, partial: Path, allow_missing: bool) -> Summary:
    from alembic.runtime.migration import MigrationContext

    revision = MigrationContext.configure(conn).get_current_revision()
    meta = MetaData()
    meta.reflect(conn, only=_kept)
    tables = [t for t in meta.sorted_tables if t.name not in SKIP_TABLES]
    summary = Summary(partial, revision)
    files: dict[str, dict[str, Any]] = {}
    missing = []
    with tarfile.open(partial, "w") as tar:
        for table in tables:
            buffer = tempfile.TemporaryFile()
            n = 0
            for row in _rows(conn, table):
                buffer.write(json.dumps(row, ensure_ascii=False, default=str).encode() + b"\n")
                n += 1
            info = tarfile.TarInfo(f"database/{table.name}.jsonl")
            info.size = buffer.tell()
            buffer.seek(0)
            tar.addfile(info, buffer)
            buffer.close()
            summary.tables[table.name] = n
        if "recordings" in meta.tables:
            recordings = meta.tables["recordings"]
            for rec_id, path, sha in conn.execute(select(recordings.c.id, recordings.c.path, recordings.c.sha256)
                                                  .order_by(recordings.c.id)):
                member = f"recordings/{sha}{Path(path).suffix.lower()}"
                if member in files:
                    files[member]["recordings"].append(rec_id)
                    continue
                source = Path(path)
                if not source.is_file():
                    missing.append(f"recording {rec_id}: {path}")
                    continue
                info = tar.gettarinfo(str(source), arcname=member)
                with open(source, "rb") as f:
                    hashing = _Hashing(f)
                    tar.addfile(info, io.BufferedReader(hashing))
                if hashing.digest.hexdigest() != sha:
                    raise BackupError(f"recording {rec_id}: {path} no longer matches its SHA-256 (the file was "
                                      "changed or damaged after it was registered)")
                files[member] = {"sha256": sha, "size": info.size, "recordings": [rec_id]}
                summary.files += 1
                summary.bytes += info.size
        if missing and not allow_missing:
            raise BackupError("missing recording files (restore them, or back up without them with "
                              "--allow-missing): " + "; ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
        manifest = {"format": FORMAT, "coder": __version__, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                    "revision": revision, "backend": conn.dialect.name, "tables": summary.tables, "files": files,
                    "missing": missing}
        _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
    return summary


# --- restore ---------------------------------------------------------------------------------------------

def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember("manifest.json")
        manifest = json.loads(tar.extractfile(member).read())
    except (KeyError, ValueError, AttributeError):
        raise BackupError("not a coder backup (no readable manifest.json)") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r} (this coder reads {FORMAT})")
    return manifest


def _decode(table: Table, row: dict[str, Any], recording_paths: dict[int, str]) -> dict[str, Any]:
    out = {}
    for name, value in row.items():
        column = table.columns.get(name)
        if column is None:
            raise BackupError(f"table {table.name} has no column {name} at this schema revision")
        if value is not None and isinstance(value, str):
            try:
                kind = column.type.python_type
            except NotImplementedError:
                kind = None
            if kind is dt.datetime:
                value = dt.datetime.fromisoformat(value)
            elif kind is dt.date:
                value = dt.date.fromisoformat(value)
            elif kind is bytes:
                value = bytes.fromhex(value)
        out[name] = value
    if table.name == "recordings" and row.get("id") in recording_paths:
        out["path"] = recording_paths[row["id"]]
    return out


def _is_empty(database: Database) -> bool:
    names = {n for n in inspect(database.engine).get_table_names() if _kept(n)} - SKIP_TABLES
    if not names:
        return True
    with database.engine.connect() as conn:
        return all(conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is None for name in names)


def restore(archive: Path, settings: Settings, database: Database) -> Summary:
    """Restore ``archive`` into the (empty) database and CODER_HOME of ``settings``."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    if not _is_empty(database):
        raise BackupError(f"the database at {database.url} already holds data; restore needs an empty one")
    try:
        tar = tarfile.open(archive, "r")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive}: not a readable archive ({exc})") from None
    placed: list[Path] = []
    try:
        with tar:
            manifest = _read_manifest(tar)
            recording_paths = _restore_files(tar, manifest, settings.recordings_dir, placed)
            summary = Summary(archive, manifest["revision"], files=len(manifest["files"]))
            try:
                migrate(database.engine, manifest["revision"])
            except Exception as exc:
                raise BackupError(f"this coder cannot create the backup's schema revision "
                                  f"{manifest['revision']} ({exc})") from None
            meta = MetaData()
            meta.reflect(database.engine, only=_kept)
            with database.engine.begin() as conn:
                for table in meta.sorted_tables:
                    if table.name in SKIP_TABLES:
                        continue
                    summary.tables[table.name] = _load_table(conn, tar, table, recording_paths)
                if conn.dialect.name == "postgresql":
                    _reset_sequences(conn, meta)
            expected = manifest["tables"]
            if {k: v for k, v in summary.tables.items() if k in expected} != expected:
                raise BackupError("the archive's tables do not match its manifest")
        migrate(database.engine)
        summary.revision = current_revision(database.engine)
        return summary
    except (tarfile.TarError, EOFError, zlib_error) as exc:
        for path in placed:
            path.unlink(missing_ok=True)
        raise BackupError(f"{archive}: the archive is truncated or damaged ({exc})") from None
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        raise


def _restore_files(tar: tarfile.TarFile, manifest: dict[str, Any], recordings_dir: Path,
                   placed: list[Path]) -> dict[int, str]:
    """Extract and check every recording; returns each recording's new path."""
    recordings_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[int, str] = {}
    for member_name, entry in manifest["files"].items():
        name = Path(member_name).name
        if member_name != f"recordings/{name}" or not name.startswith(entry["sha256"]):
            raise BackupError(f"unexpected file name in the archive: {member_name}")
        try:
            source = tar.extractfile(member_name)
        except KeyError:
            source = None
        if source is None:
            raise BackupError(f"the archive lacks {member_name}")
        target = recordings_dir / name
        partial = target.with_name(name + ".partial")
        digest = hashlib.sha256()
        with open(partial, "wb") as out:
            placed.append(partial)
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != entry["sha256"]:
            raise BackupError(f"{member_name} is damaged (its SHA-256 differs from the manifest's)")
        if not target.exists():
            os.replace(partial, target)
            placed.append(target)
        else:
            partial.unlink()
        for rec_id in entry["recordings"]:
            paths[int(rec_id)] = str(target)
    return paths


def _load_table(conn: Connection, tar: tarfile.TarFile, table: Table, recording_paths: dict[int, str]) -> int:
    try:
        source = tar.extractfile(f"database/{table.name}.jsonl")
    except KeyError:
        return 0
    n = 0
    batch: list[dict[str, Any]] = []
    for line in io.TextIOWrapper(source, encoding="utf-8"):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise BackupError(f"database/{table.name}.jsonl line {n + 1} is damaged") from None
        batch.append(_decode(table, row, recording_paths))
        n += 1
        if len(batch) >= 1000:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
    return n


def _reset_sequences(conn: Connection, meta: MetaData) -> None:
    """PostgreSQL's id sequences continue after the restored ids."""
    for table in meta.sorted_tables:
        if "id" in table.columns and table.name not in SKIP_TABLES:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                              f"COALESCE((SELECT MAX(id) FROM \"{table.name}\"), 0) + 1, false)"))

