"""What the command modules share: failing with a message, the invocation's settings and database, the things a
user names on the command line (a study, a recording or its transcript, a rater, a stored instrument), JSON
output, and the ``--reason`` option."""
from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from coder.config import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from coder.db import Database
    from coder.study.models import Instrument, Recording, Study, Transcript, User

REASON = click.option("--reason", default="", help="Why (kept in the audit trail).")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def json_text(value: Any) -> str:
    """``value`` as strict JSON (no NaN or infinity, numpy's scalars as Python's), indented by one space."""
    from coder.stats.jsonsafe import json_safe

    return json.dumps(json_safe(value), indent=1, default=str)


def refused(ctx: click.Context, exc) -> NoReturn:
    """Exit 1 after listing why a file was refused (a ``coder.study.refusal.FileRefused``) on standard error."""
    click.echo(f"{exc.source}: nothing imported; {len(exc.problems)} problem(s):", err=True)
    for problem in exc.problems:
        click.echo(f"  {problem}", err=True)
    ctx.exit(1)


def settings(ctx: click.Context) -> Settings:
    """The settings of this invocation: ``coder --home`` over CODER_HOME, and the rest of the environment."""
    return load_settings(home=(ctx.obj or {}).get("home"))


def open_database(ctx: click.Context, must_exist: bool = True, connections: int | None = None) -> Database:
    """The configured database (``connections``: the size of its pool, see ``coder.db.make_engine``); with
    ``must_exist``, exit with a hint when it has not been created yet."""
    from coder.db import Database, is_initialised

    url = settings(ctx).database_url
    database = Database(url, connections)
    if must_exist and not is_initialised(database.engine):
        fail(f"no coder database at {url}; run 'coder init' first")
    return database


def study_named(db: Session, name: str) -> Study:
    """The live study called ``name``, or exit saying there is none."""
    from coder.study.tree import find_study

    study = find_study(db, name)
    if study is None:
        fail(f"no study named {name}")
    return study


def chosen_recordings(db: Session, refs: tuple[str, ...] = ()) -> list[Recording]:
    """The recordings ``refs`` name (see ``recording``), or every live recording by id when there are none."""
    from sqlalchemy import select

    from coder.study.models import Recording

    if refs:
        return [recording(db, ref) for ref in refs]
    return list(db.scalars(select(Recording).where(Recording.live).order_by(Recording.id)))


def recording(db: Session, ref: str) -> Recording:
    """The live recording with id, original file name or file stem ``ref``; exit when none or several match."""
    from sqlalchemy import or_, select

    from coder.study.models import Recording

    live = select(Recording).where(Recording.live)
    if ref.isdigit():
        found = list(db.scalars(live.where(Recording.id == int(ref))))
    else:
        found = list(db.scalars(live.where(or_(Recording.original_name == ref,
                                               Recording.original_name.like(f"{ref}.%")))))
    if len(found) != 1:
        fail(f"no recording {ref!r}" if not found else f"{ref!r} names {len(found)} recordings; use the id")
    return found[0]


def transcript(db: Session, ref: str) -> Transcript:
    """The transcript of the recording ``ref`` names; exit when it has none yet."""
    found = recording(db, ref)
    if found.transcript is None:
        fail(f"recording {found.id} ({found.original_name}) has no transcript yet; run 'coder process'")
    return found.transcript


def rater(db: Session, username: str, active: bool = False) -> User:
    """The rater account ``username`` (an active one, with ``active``), or exit saying there is none."""
    from coder.study.accounts import find_user

    user = find_user(db, username, "rater")
    if user is None or (active and not user.active):
        fail(f"no active rater {username}" if active else f"no rater named {username}")
    return user


def stored_instrument(db: Session, ref: str) -> Instrument:
    """The stored instrument KEY[:VERSION] (its newest version by default), or exit saying how to store it."""
    from coder.study import instruments

    key, _, version = ref.partition(":")
    row = instruments.find(db, key, version or None)
    if row is None:
        fail(f"instrument {ref} is not stored; store it with `coder instruments store`")
    return row
