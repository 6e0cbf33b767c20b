"""The schema is created by Alembic migrations from empty, on SQLite and on a real PostgreSQL server."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from coder.db import Database, alembic_config, current_revision, downgrade, include_name, is_initialised, migrate
from coder.study.models import Base

EXPECTED_TABLES = {"studies", "therapists", "clients", "dyads", "sessions", "recordings", "transcripts", "speakers",
                   "rating_units", "instruments", "users", "assignments", "ratings", "audit_events"}


def head_revision(engine):
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def test_upgrade_from_empty(db_url):
    db = Database(db_url)
    assert not is_initialised(db.engine)
    assert inspect(db.engine).get_table_names() == []
    migrate(db.engine)
    tables = set(inspect(db.engine).get_table_names())
    assert EXPECTED_TABLES <= tables
    assert current_revision(db.engine) == head_revision(db.engine)
    db.dispose()


def test_migrations_match_the_models(db_url):
    """Autogenerate finds nothing to add: the migration creates exactly what the models declare (all but the
    full-text index of the transcript search, which the models do not declare: coder.db.unmapped)."""
    db = Database(db_url)
    migrate(db.engine)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True,
                                                                       "include_name": include_name}), Base.metadata)
    assert diff == []
    db.dispose()


def test_downgrade_to_empty_and_back(db_url):
    db = Database(db_url)
    migrate(db.engine)
    downgrade(db.engine, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    migrate(db.engine)
    assert EXPECTED_TABLES <= set(inspect(db.engine).get_table_names())
    db.dispose()


def test_migrate_is_idempotent(db_url):
    db = Database(db_url)
    migrate(db.engine)
    migrate(db.engine)
    assert current_revision(db.engine) == head_revision(db.engine)
    db.dispose()


def test_units_get_the_session_of_their_recording(db_url):
    """Migration 0010 fills rating_units.session_id from the unit's recording, on data stored before it."""
    from sqlalchemy import text

    db = Database(db_url)
    migrate(db.engine, "0009")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO studies (id, name, description, settings, created_at) "
                          "VALUES (1, 'S', '', '{}', '2026-01-01')"))
        conn.execute(text("INSERT INTO therapists (id, study_id, code, created_at) VALUES (1, 1, 'T1', '2026-01-01')"))
        conn.execute(text("INSERT INTO clients (id, study_id, code, created_at) VALUES (1, 1, 'C1', '2026-01-01')"))
        conn.execute(text("INSERT INTO dyads (id, study_id, therapist_id, client_id, code, created_at) "
                          "VALUES (1, 1, 1, 1, 'D1', '2026-01-01')"))
        conn.execute(text("INSERT INTO sessions (id, dyad_id, number, created_at) VALUES (7, 1, 1, '2026-01-01')"))
        conn.execute(text("INSERT INTO recordings (id, session_id, path, original_name, sha256, size_bytes, "
                          "duration_s, sample_rate, channels, status, progress_s, attempts, created_at) VALUES (3, 7, "
                          "'a.wav', 'a.wav', :sha, 1, 60, 16000, 1, 'registered', 0, 0, '2026-01-01')"),
                     {"sha": "a" * 64})
        conn.execute(text("INSERT INTO rating_units (id, recording_id, kind, start_s, end_s, label, calibration, "
                          "created_at) VALUES (5, 3, 'whole_session', 0, 60, '', false, '2026-01-01')"))
    migrate(db.engine)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT session_id FROM rating_units WHERE id = 5")).scalar() == 7
    db.dispose()
