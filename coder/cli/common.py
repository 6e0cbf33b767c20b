"""Helpers shared by the command-line modules."""
from __future__ import annotations

import sys

import click

from coder.config import load_settings


def fail(message: str, code: int = 1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings(ctx: click.Context):
    return load_settings(home=(ctx.obj or {}).get("home"))


def _database(ctx: click.Context, must_exist: bool = True):
    from coder.db import Database, is_initialised

    settings = _settings(ctx)
    database = Database(settings.database_url)
    if must_exist and not is_initialised(database.engine):
        fail(f"no coder database at {settings.database_url}; run 'coder init' first")
    return settings, database
