"""Searching a study's transcripts: ``coder search STUDY QUERY``, ``coder search units`` and ``coder search reindex``."""
from __future__ import annotations

import click

from coder.cli.common import fail, open_database, study_named

ROLE_CHOICES = ("therapist", "client")


class _SearchGroup(click.Group):
    """``coder search STUDY QUERY`` runs ``coder search find STUDY QUERY``: a first word that names no
    subcommand is the study's (a study called "units", say, is searched with ``coder search find units ...``)."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["find", *args]
        return super().parse_args(ctx, args)


def _clock(seconds: float) -> str:
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _filters(f):
    for option in reversed([
            click.option("--role", type=click.Choice(ROLE_CHOICES), help="Only the turns of speakers in this role."),
            click.option("--speaker", help="Only the turns of this speaker (label, e.g. SPEAKER_00, or display name)."),
            click.option("--exact-diacritics", is_flag=True,
                         help="Match diacritics as written ('café' does not find 'cafe'); default: ignore them.")]):
        f = option(f)
    return f


@click.group("search", cls=_SearchGroup, invoke_without_command=False)
def search_group():
    """Search a study's transcripts: `coder search STUDY QUERY` (words, "a phrase", prefix*)."""


@search_group.command("find")
@click.argument("study_name", metavar="STUDY")
@click.argument("query")
@_filters
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Hits shown.")
@click.option("--offset", type=click.IntRange(0), default=0, help="Hits skipped (the next page).")
@click.pass_context
def search_find(ctx, study_name, query, role, speaker, exact_diacritics, limit, offset):
    """The turns of STUDY's transcripts that match QUERY: all its words, "quoted phrases" in order, prefix*
    (home* finds homework), in the order of dyad, session and time: session, time, speaker, the turn with
    the matched words in [brackets]."""
    from coder.study import search

    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        try:
            found = search.search(db, study, query, role=role, speaker=speaker, exact_diacritics=exact_diacritics,
                                  limit=limit, offset=offset)
        except search.SearchError as exc:
            fail(str(exc))
        for hit in found.hits:
            context = "".join(f"[{part}]" if matched else part for part, matched in hit.fragments)
            click.echo(f"{hit.dyad_code} session {hit.session_number}\t{_clock(hit.start_s)}\t"
                       f"recording {hit.recording_id} transcript {hit.transcript_id} turn {hit.turn}\t"
                       f"{hit.who}\t{context}")
        shown = f"{offset + 1}–{offset + len(found.hits)} of " if found.hits else ""
        click.echo(f"{shown}{found.total} hit(s) for {' '.join(str(t) for t in found.terms)}"
                   + (f"; the next page: --offset {offset + len(found.hits)}" if found.more else ""), err=True)


@search_group.command("units")
@click.argument("study_name", metavar="STUDY")
@click.argument("query")
@_filters
@click.option("--before", "before_s", type=click.FloatRange(0), default=30.0, show_default=True,
              help="Seconds kept before each hit.")
@click.option("--after", "after_s", type=click.FloatRange(0), default=90.0, show_default=True,
              help="Seconds kept after each hit.")
@click.option("--instrument", "instrument_keys", multiple=True,
              help="An instrument the units are for (repeatable; default: any).")
@click.option("--calibration", is_flag=True, help="Calibration units.")
@click.pass_context
def search_units(ctx, study_name, query, role, speaker, exact_diacritics, before_s, after_s, instrument_keys,
                 calibration):
    """Rating units around every hit of QUERY in STUDY's transcripts (overlapping stretches of a recording
    merged), as `coder units add --find` makes them for one recording."""
    from coder.study import search

    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        try:
            found = search.search(db, study, query, role=role, speaker=speaker, exact_diacritics=exact_diacritics,
                                  limit=search.MAX_LIMIT)
            if found.more:
                fail(f"{found.total} hits: more than {search.MAX_LIMIT}; narrow the search")
            made, skipped = search.make_units(db, found.hits, before_s, after_s, None, list(instrument_keys),
                                              calibration=calibration, label=query)
        except search.SearchError as exc:
            fail(str(exc))
        for unit in made:
            click.echo(f"unit {unit.id}\trecording {unit.recording_id}\t{unit.start_s:.1f}–{unit.end_s:.1f} s\t"
                       f"{unit.label}")
        for reason in skipped:
            click.echo(f"skipped {reason}", err=True)
        click.echo(f"{len(made)} unit(s) around {found.total} hit(s)", err=True)


@search_group.command("reindex")
@click.argument("study_name", metavar="[STUDY]", required=False)
@click.pass_context
def search_reindex(ctx, study_name):
    """Write the search index of STUDY's transcripts (default: every transcript) again."""
    from coder.study import search

    with open_database(ctx).session() as db:
        study = study_named(db, study_name) if study_name else None
        transcripts, turns = search.reindex(db, study=study)
        click.echo(f"{transcripts} transcript(s), {turns} turn(s) indexed")


COMMANDS = (search_group,)
