"""The ``coder`` command line: the ``main`` group and its commands, one module per domain.

    database        init, backup, restore
    recordings      ingest, process, jobs, worker
    transcription   transcribe, models, roles, rttm, export, therapists
    review          review (transcript corrections, revisions, status)
    deid            deid (de-identification: lists of people, candidates, pseudonyms, the log, raters' view)
    search          search (a study's transcripts; units around the hits; the index)
    units           units, assign
    ratings         ratings import
    instruments     instruments
    reliability     reliability
    events          events export (coded events as CSV or ELAN files)
    measures        measures (session process measures of a transcript file)
    pictures        pictures timeline, trajectories (the measures drawn: a session, a dyad across sessions)
    analysis        outcomes, aggregate, analyze
    coordination    study, design, reassign, progress, calibration
    accounts        users
    server          serve, demo

``common`` holds what they share, ``engines`` the engine options of transcribe and process.

A module imports at its top what defining its commands takes (click, the choices that coder.pipeline and
coder.stats name); a command imports the services it calls in its body. Between them the services load
SQLAlchemy's ORM, pydantic, pandas, SciPy, statsmodels and Flask, which every ``coder`` invocation, ``--help``
included, would otherwise pay for (about 1.8 s against 0.25 s).
"""
from __future__ import annotations

import click

from coder import __version__
from coder.cli import (accounts, analysis, coordination, database, deid, events, instruments, measures, pictures,
                       ratings, recordings, reliability, review, search, server, transcription, units)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coder")
@click.option("--home", type=click.Path(file_okay=False), envvar="CODER_HOME",
              help="Data directory (database, transcripts, secret key). Env: CODER_HOME.")
@click.pass_context
def main(ctx: click.Context, home: str | None):
    """coder: transcribe, rate and analyse recorded therapy sessions."""
    ctx.obj = {"home": home}


for module in (database, recordings, transcription, review, deid, search, units, ratings, instruments, reliability,
               events, measures, pictures, analysis, coordination, accounts, server):
    for command in module.COMMANDS:
        main.add_command(command)
