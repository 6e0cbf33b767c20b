"""A throwaway PostgreSQL server: ``initdb`` and ``pg_ctl`` on a Unix socket in a temporary directory (as the
``postgres`` user when run as root, since initdb refuses root). The tests' ``postgres_server`` fixture and
the benchmarks' ``--postgres`` start one."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .network import free_port


def bindir() -> Path | None:
    """The directory of the newest installed server's initdb, or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextmanager
def throwaway_server(binaries: Path) -> Iterator[str]:
    """Start a server with the ``binaries`` of ``bindir()``; yields an admin URL (user coder, database postgres)
    and stops the server and removes its files afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="coder-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        pg = pwd.getpwnam("postgres")
        os.chmod(workdir, 0o755)
        os.chown(workdir, pg.pw_uid, pg.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = workdir / "data", free_port()
    subprocess.run([*prefix, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "coder", "--no-sync",
                    "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(workdir / "log"), "-w", "-o",
                    f"-k {workdir} -c listen_addresses='' -p {port} -F", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://coder@/postgres?host={workdir}&port={port}"
    finally:
        subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


def fresh_database(stack: ExitStack, name: str) -> str:
    """A new database ``name`` on a throwaway server that lives as long as ``stack``; its URL. Exits saying why
    where no PostgreSQL server binaries are installed."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    binaries = bindir()
    if binaries is None:
        raise SystemExit("--postgres: no PostgreSQL server binaries (Debian package postgresql)")
    admin = stack.enter_context(throwaway_server(binaries))
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin).set(database=name).render_as_string(hide_password=False)
