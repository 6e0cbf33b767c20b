"""The database and its files as a whole: ``coder init`` creates or migrates it, ``coder backup`` and ``coder
restore`` write and read it, with the recordings, as one archive."""
from __future__ import annotations

from pathlib import Path

import click

from coder.cli.common import fail, open_database, settings


@click.command()
@click.pass_context
def init(ctx):
    """Create the database (or migrate it to the current schema)."""
    from coder.db import current_revision

    config, database = settings(ctx), open_database(ctx, must_exist=False)
    config.home.mkdir(parents=True, exist_ok=True)
    database.migrate()
    config.secret_key()
    click.echo(f"database ready at {database.engine.url.render_as_string(hide_password=True)} "
               f"(schema {current_revision(database.engine)})")


@click.command("backup")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-missing", is_flag=True, help="Back up even when recording files are missing (listed in "
              "the manifest).")
@click.pass_context
def backup_cmd(ctx, archive, allow_missing):
    """Write the database and the recordings to ARCHIVE (a tar file; see docs/security.md#backups)."""
    from coder.ops.backup import BackupError, backup

    database = open_database(ctx)
    try:
        summary = backup(settings(ctx), database, archive, allow_missing)
    except BackupError as exc:
        fail(str(exc))
    rows = sum(summary.tables.values())
    click.echo(f"wrote {summary.path}: {rows} rows in {len(summary.tables)} tables, {summary.files} recording "
               f"file(s) ({summary.bytes / 1e6:.1f} MB), schema revision {summary.revision}")


@click.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def restore_cmd(ctx, archive):
    """Restore ARCHIVE (from coder backup) into the configured, empty database and CODER_HOME."""
    from coder.ops.backup import BackupError, restore

    config, database = settings(ctx), open_database(ctx, must_exist=False)
    try:
        summary = restore(archive, config, database)
    except BackupError as exc:
        fail(str(exc))
    click.echo(f"restored {sum(summary.tables.values())} rows in {len(summary.tables)} tables and "
               f"{summary.files} recording file(s) into {config.home}; schema revision {summary.revision}")


COMMANDS = (init, backup_cmd, restore_cmd)
