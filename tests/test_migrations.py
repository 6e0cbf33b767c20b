"""The schema is created by Alembic migrations from empty, on SQLite and on a real PostgreSQL server."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from coder.db import Database, alembic_config, current_revision, downgrade, is_initialised, migrate
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
    """Autogenerate finds nothing to add: the migration creates exactly what the models declare."""
    db = Database(db_url)
    migrate(db.engine)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
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
