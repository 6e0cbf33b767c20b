"""``coder events export``: a study's coded events as a CSV table or ELAN files."""
from __future__ import annotations

import click

from coder.cli.common import fail, open_database, study_named

EXPORT_FORMATS = ("csv", "eaf")


@click.group("events")
def events_group():
    """Events that raters placed in time while listening (instruments with event coding)."""


@events_group.command("export")
@click.argument("study_name", metavar="STUDY")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True,
              help="csv: events.csv, one row per event; eaf: an ELAN file per recording and instrument, a tier "
                   "per rater and code.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--instrument", "instrument_ref", metavar="KEY[:VERSION]",
              help="Only this instrument (version); by default every instrument with markers.")
@click.pass_context
def export_cmd(ctx, study_name, fmt, out_dir, instrument_ref):
    """Write the events of STUDY's submitted ratings to OUT: times in seconds of the recording (the unit's
    start plus the time in the unit), with rater, code, kind, salience and note (docs/reliability.md)."""
    from coder.rating.events import coded_ratings
    from coder.reports.event_export import write

    key, _, version = (instrument_ref or "").partition(":")
    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        coded = coded_ratings(db, study, key or None, version or None)
    if not coded:
        fail(f"study {study_name!r} has no submitted ratings on an instrument with markers"
             + (f" ({instrument_ref})" if instrument_ref else ""))
    written = write(coded, out_dir, fmt)
    n = sum(len(c.events) for c in coded)
    click.echo(f"{n} events in {len(coded)} submitted ratings; wrote {len(written)} file"
               f"{'' if len(written) == 1 else 's'} to {out_dir}")


COMMANDS = (events_group,)
