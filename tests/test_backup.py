"""coder backup and coder restore: a study with ratings, audit trail and audio, backed up from SQLite or
PostgreSQL and restored into an empty directory; damaged archives and non-empty targets are refused."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from coder.study import instruments
from coder.rating import workspace
from coder.web.app import create_app
from coder.config import load_settings
from coder.db import Database, unmapped
from coder.study.models import Assignment, Recording, User

from .support.cli import coder as run_coder
from .support.rating_study import PASSWORD, SESSION_AUDIO, build
from .support.web import login


def coder(*args, home: Path, url: str):
    return run_coder(*args, env={"CODER_HOME": home, "DATABASE_URL": url}, timeout=300)


def _table_rows(database: Database) -> dict[str, list[dict]]:
    """Every table's rows, comparable across backends (datetimes as UTC, paths left out); not the full-text
    index of the transcript search, which SQLite keeps in tables of its own (coder.db.unmapped)."""
    meta = MetaData()
    meta.reflect(database.engine, only=lambda name, _meta: not unmapped(name))
    out = {}
    with database.engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name == "alembic_version":
                continue
            rows = []
            for row in conn.execute(select(table).order_by(*table.primary_key.columns)).mappings():
                clean = {}
                for k, v in row.items():
                    if isinstance(v, dt.datetime):
                        v = (v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
                    clean[k] = v
                if table.name == "recordings":
                    clean.pop("path")
                rows.append(clean)
            out[table.name] = rows
    return out


def rate(database):
    built = build(database, raters=("rater1", "rater2"))
    wai = instruments.builtin("wai-o-s")
    with database.session() as db:
        rater = db.scalar(select(User).where(User.username == "rater1"))
        workspace.submit(db, db.get(Assignment, built.assignments["rater1"][0]), rater,
                       {item.id: 3 for item in wai.items}, "Bond strong; ü and ✓ survive", 0)
        workspace.save_draft(db, db.get(Assignment, built.assignments["rater2"][0]),
                           db.scalar(select(User).where(User.username == "rater2")), {"1": 2}, "", 0)
    return built


@pytest.fixture
def rated(database):
    return rate(database)


def test_backup_and_restore_into_an_empty_directory(rated, database, tmp_path):
    home = tmp_path / "home"
    archive = tmp_path / "out" / "coder.tar"
    made = coder("backup", str(archive), home=home, url=database.url)
    assert made.exit_code == 0, made.stderr
    assert "1 recording file(s)" in made.stdout and archive.exists()
    assert not archive.with_name("coder.tar.partial").exists()
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        names = tar.getnames()
    sha = hashlib.sha256(SESSION_AUDIO.read_bytes()).hexdigest()
    assert manifest["files"][f"recordings/{sha}.ogg"]["size"] == SESSION_AUDIO.stat().st_size
    assert manifest["tables"]["ratings"] == 2 and "database/audit_events.jsonl" in names

    # restore into a new, empty directory with a SQLite database
    target = tmp_path / "restored"
    target_url = f"sqlite:///{target / 'coder.db'}"
    done = coder("restore", str(archive), home=target, url=target_url)
    assert done.exit_code == 0, done.stderr
    restored = Database(target_url)
    assert _table_rows(restored) == _table_rows(database)
    with restored.session() as db:
        rec = db.scalar(select(Recording))
        assert Path(rec.path) == target / "recordings" / f"{sha}.ogg"
        assert hashlib.sha256(Path(rec.path).read_bytes()).hexdigest() == rec.sha256
    # the restored installation works: the rater logs in with her old password and sees her rating
    app = create_app(load_settings(home=target, database_url=target_url), restored, {"TESTING": True})
    client = app.test_client()
    assert login(client, "rater1", PASSWORD).status_code == 302
    page = client.get(f"/rate/{rated.assignments['rater1'][0]}")
    assert page.status_code == 200 and "Bond strong; " in page.get_data(as_text=True)
    assert client.get(f"/rate/{rated.assignments['rater1'][0]}/audio").status_code == 200
    restored.dispose()


def test_restore_into_postgresql(sqlite_database, postgres_url, tmp_path):
    """A SQLite installation restored into PostgreSQL, whose id sequences continue after the restored ids."""
    rate(sqlite_database)
    archive = tmp_path / "coder.tar"
    assert coder("backup", str(archive), home=tmp_path / "a", url=sqlite_database.url).exit_code == 0
    done = coder("restore", str(archive), home=tmp_path / "b", url=postgres_url)
    assert done.exit_code == 0, done.stderr
    restored = Database(postgres_url)
    assert _table_rows(restored) == _table_rows(sqlite_database)
    with restored.session() as db:
        highest = max(db.scalars(select(User.id)))
        user = User(username="later", password_hash="x", role="rater")
        db.add(user)
        db.flush()
        assert user.id == highest + 1
    restored.dispose()


def test_restore_refuses_a_database_with_data(rated, database, tmp_path):
    archive = tmp_path / "coder.tar"
    assert coder("backup", str(archive), home=tmp_path / "home", url=database.url).exit_code == 0
    refused = coder("restore", str(archive), home=tmp_path / "home", url=database.url)
    assert refused.exit_code != 0 and "already holds data" in refused.stderr


def test_damaged_archives_are_refused_and_leave_nothing(sqlite_database, tmp_path):
    rate(sqlite_database)
    archive = tmp_path / "coder.tar"
    assert coder("backup", str(archive), home=tmp_path / "home", url=sqlite_database.url).exit_code == 0
    data = archive.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    # a recording's bytes changed inside the archive
    flipped = tmp_path / "flipped.tar"
    at = data.index(b"OggS", data.index(b"recordings/")) + 4000
    flipped.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    not_tar = tmp_path / "notes.tar"
    not_tar.write_text("not an archive")
    for bad, reason in ((cut, ""), (flipped, "damaged"), (not_tar, "not a readable archive")):
        target = tmp_path / f"restore-{bad.stem}"
        url = f"sqlite:///{target / 'coder.db'}"
        done = coder("restore", str(bad), home=target, url=url)
        assert done.exit_code != 0 and reason in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not list((target / "recordings").glob("*")) if (target / "recordings").exists() else True
        with Database(url).engine.connect() as conn:
            tables = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")]
            if "users" in tables:
                assert conn.exec_driver_sql("SELECT COUNT(*) FROM users").scalar() == 0


def test_missing_recordings_stop_the_backup_unless_allowed(sqlite_database, tmp_path):
    rate(sqlite_database)
    with sqlite_database.session() as db:
        db.scalar(select(Recording)).path = str(tmp_path / "moved-away.ogg")
    archive = tmp_path / "coder.tar"
    refused = coder("backup", str(archive), home=tmp_path / "home", url=sqlite_database.url)
    assert refused.exit_code != 0 and "missing recording files" in refused.stderr
    assert "moved-away.ogg" in refused.stderr
    assert not archive.exists() and not archive.with_name("coder.tar.partial").exists()
    allowed = coder("backup", str(archive), "--allow-missing", home=tmp_path / "home", url=sqlite_database.url)
    assert allowed.exit_code == 0 and "0 recording file(s)" in allowed.stdout
