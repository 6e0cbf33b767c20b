"""Database engine, sessions and migrations.

SQLite (the default) is opened with foreign keys enforced, WAL journalling and
a busy timeout so that the web app and workers can share the file; PostgreSQL
is used through ``DATABASE_URL`` (``postgresql+psycopg://...``).
"""
from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """Let users write postgres:// or postgresql:// and get the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, connections: int | None = None) -> Engine:
    """An engine for ``url``; ``connections``: how many connections its pool keeps (one per server thread, so that
    no request waits for one), else SQLAlchemy's default of 5 (and 10 more while busy)."""
    url = normalise_url(url)
    parsed = make_url(url)
    pool = {"pool_size": connections} if connections else {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            pool = {}  # an in-memory database keeps one connection per thread
        engine = create_engine(url, connect_args={"timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


# Tables and indexes the database keeps beside the models (migration 0013): the full-text index of the transcript
# search, SQLite's FTS5 tables (with their shadow tables, transcript_turns_fts_data and the like) and PostgreSQL's
# expression index. Schema comparisons (the migration environment, tests/test_migrations.py) and backups leave
# them out; they are rebuilt from transcript_turns (coder.study.models.TranscriptTurn).
SEARCH_INDEX_PREFIX = "transcript_turns_fts"


def unmapped(name: str | None) -> bool:
    """Whether a table or index is part of the search index that the models do not declare."""
    return bool(name) and (name.startswith(SEARCH_INDEX_PREFIX) or name == f"ix_{SEARCH_INDEX_PREFIX}")


def include_name(name: str | None, type_: str, _parents: dict) -> bool:
    """Alembic's ``include_name`` hook: compare everything but the search index (``unmapped``)."""
    return not (type_ in ("table", "index") and unmapped(name))


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (creating it in an empty database)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_initialised(engine: Engine) -> bool:
    return "alembic_version" in inspect(engine).get_table_names() and current_revision(engine) is not None


class WriteTurns:
    """A lock handed to its waiters in the order they asked for it. (threading.Lock wakes any waiter, so under
    load a save could wait out many others that came after it.)"""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._queue: deque[threading.Lock] = deque()
        self._held = False

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def acquire(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            mine = threading.Lock()
            mine.acquire()
            self._queue.append(mine)
        mine.acquire()  # released by the holder before us, which hands the turn straight to us

    def release(self) -> None:
        with self._guard:
            if self._queue:
                self._queue.popleft().release()
            else:
                self._held = False

    def __enter__(self) -> "WriteTurns":
        self.acquire()
        return self

    def __exit__(self, *_exc) -> None:
        self.release()


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, connections: int | None = None):
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, connections)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.write_turns = WriteTurns() if self.engine.dialect.name == "sqlite" else None

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold this process's SQLite write turn (nothing on PostgreSQL).

        SQLite admits one writer at a time, and a writer that finds the lock
        taken sleeps in growing steps (up to 100 ms) before it tries again.
        Queueing the app's own writers on a lock hands the turn over at once,
        first come first served (``WriteTurns``).
        """
        if self.write_turns is None:
            yield
            return
        with self.write_turns:
            yield

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
