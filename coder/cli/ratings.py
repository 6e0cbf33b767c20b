"""Ratings made elsewhere: ``coder ratings import``."""
from __future__ import annotations

import click

from coder.cli.common import json_text, open_database, refused, stored_instrument, study_named


@click.group("ratings")
def ratings_group():
    """Ratings made outside coder's rating page."""


@ratings_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--study", "study_name", required=True)
@click.option("--instrument", "instrument_ref", required=True, metavar="KEY[:VERSION]",
              help="The instrument (version) the ratings were made on; its newest version by default.")
@click.option("--layout", type=click.Choice(["long", "wide"]),
              help="long: a row per response (item, value); wide: a row per rating, a column per item "
                   "(default: long when the file has item and value columns).")
@click.option("--register", is_flag=True,
              help="Register the dyads and sessions the study lacks, as sessions without a recording (rated on "
                   "paper); a new dyad needs therapist and client columns.")
@click.option("--dry-run", is_flag=True, help="Check the file and count what it would import; store nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def ratings_import(ctx, path, study_name, instrument_ref, layout, register, dry_run, as_json):
    """Import the ratings in PATH (CSV or Excel) as submitted ratings of the study. A file with any problem
    imports nothing, and every problem is listed with its line and column; importing the same file again
    changes nothing (docs/rating.md)."""
    from coder.rating.ratings_import import RatingsImportError, import_ratings

    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        instrument = stored_instrument(db, instrument_ref)
        try:
            report = import_ratings(db, study, instrument, path, layout=layout, dry_run=dry_run, register=register)
        except RatingsImportError as exc:
            refused(ctx, exc)
        if dry_run:
            db.rollback()
        else:
            db.commit()
    if as_json:
        click.echo(json_text(report.as_dict()))
        return
    verb = "would import" if dry_run else "imported"
    click.echo(f"{report.source} ({report.layout}, {report.instrument}): {verb} {report.created} ratings"
               + (f", {report.dyads_registered} new dyads" if report.dyads_registered else "")
               + (f", {report.sessions_registered} new sessions without a recording"
                  if report.sessions_registered else "")
               + (f", {report.units_created} new units" if report.units_created else "")
               + (f"; {report.unchanged} already here, unchanged" if report.unchanged else "")
               + (f"; {report.missing_responses} items left empty" if report.missing_responses else ""))
    for note in report.notes:
        click.echo(f"  {note}")
    if not report.created and not dry_run:
        click.echo("nothing changed")


COMMANDS = (ratings_group,)
