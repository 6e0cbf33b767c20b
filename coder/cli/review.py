"""Transcript review on the command line: ``coder review`` shows a transcript's turns, applies corrections,
imports a corrected file, lists and restores revisions, sets its status and speakers' names, and what a study's
raters read."""
from __future__ import annotations

import json

import click

from coder.cli.common import fail, open_database, settings, study_named, transcript

STATUSES = ("automatic", "in_review", "verified")  # coder.study.models.TRANSCRIPT_STATUSES
RATER_VIEWS = ("automatic", "verified", "none")  # coder.study.transcripts.RATER_VIEWS
IMPORTS = ("vtt", "eaf", "docx")  # coder.pipeline.interchange.IMPORTS


@click.group("review")
def review_group():
    """Correct stored transcripts before raters read them (docs/transcription.md)."""


def _exported(ctx, db, found) -> None:
    """Commit, then rewrite the transcript's export files where processing wrote them."""
    from coder.study.speakers import refresh_exports

    db.commit()
    refresh_exports(found, settings(ctx).transcripts_dir)


def _checked(action):
    """Run a review action, exiting with its message when it is refused."""
    from coder.study import transcripts

    try:
        return action()
    except transcripts.ReviewError as exc:
        fail(str(exc))


@review_group.command("show")
@click.argument("recording_ref", metavar="RECORDING")
@click.pass_context
def review_show(ctx, recording_ref):
    """RECORDING's transcript: status, revision, and its turns numbered with their words."""
    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        names = {s.label: s.name or (s.role or s.label) for s in found.speakers}
        click.echo(f"status {found.status}, revision {found.revision}")
        for i, seg in enumerate(found.segments or []):
            words = " ".join(f"{k}:{w['text'].strip()}" for k, w in enumerate(seg.get("words") or []))
            who = names.get(seg.get("speaker"), seg.get("speaker"))
            click.echo(f"{i}\t{seg['start']:.2f}–{seg['end']:.2f}\t{who}\t{seg.get('text', '').strip()}"
                       + (f"\n\t\t{words}" if words else ""))


@review_group.command("apply")
@click.argument("recording_ref", metavar="RECORDING")
@click.argument("operation", metavar="JSON")
@click.option("--based-on", type=int, required=True, help="The revision the correction was made against.")
@click.pass_context
def review_apply(ctx, recording_ref, operation, based_on):
    """Apply one correction, e.g. '{"op": "replace_words", "turn": 3, "first": 2, "last": 2, "text": "homework"}'
    (ops: replace_words, edit_text, split_turn, merge_turns, move_words, set_speaker, insert_turn, check_turn)."""
    from coder.study import transcripts

    try:
        op = json.loads(operation)
    except json.JSONDecodeError as exc:
        fail(f"the correction is not JSON: {exc}")
    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        row = _checked(lambda: transcripts.apply(db, found, based_on, op, None))
        _exported(ctx, db, found)
        click.echo(f"revision {row.number}: {len(row.changes)} turn(s) changed" if row else "nothing changed")


@review_group.command("import")
@click.argument("recording_ref", metavar="RECORDING")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--revision", "based_on", type=int,
              help="The revision the file was exported from (default: the current one); refused if it is no longer "
                   "current.")
@click.option("--format", "fmt", type=click.Choice(IMPORTS, case_sensitive=False),
              help="The file's format (default: from its extension).")
@click.pass_context
def review_import(ctx, recording_ref, path, based_on, fmt):
    """Save FILE, RECORDING's transcript corrected elsewhere (WebVTT with <v Name> voices, ELAN .eaf, or the Word
    file of `coder export` with its [hh:mm:ss] Name: lines), as its next revision."""
    from coder.study.transcript_files import import_file

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        row = _checked(lambda: import_file(db, found, path, based_on, None, fmt))
        _exported(ctx, db, found)
        click.echo(f"revision {row.number}: {len(row.changes)} turn(s) changed" if row else "nothing changed")


@review_group.command("history")
@click.argument("recording_ref", metavar="RECORDING")
@click.pass_context
def review_history(ctx, recording_ref):
    """RECORDING's transcript revisions, newest first: number, time, author, note, turns changed."""
    from coder.study import transcripts

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        rows = transcripts.history(db, found)
        if not rows:
            click.echo("as transcribed (no corrections)")
        for row in rows:
            who = row.author.username if row.author else "-"
            click.echo(f"{row.number}\t{row.created_at:%Y-%m-%d %H:%M}\t{who}\t{row.note}\t{len(row.changes)} changed")


@review_group.command("restore")
@click.argument("recording_ref", metavar="RECORDING")
@click.argument("number", type=int)
@click.option("--based-on", type=int, required=True, help="The current revision, as you last saw it.")
@click.pass_context
def review_restore(ctx, recording_ref, number, based_on):
    """Save revision NUMBER of RECORDING's transcript again as its newest."""
    from coder.study import transcripts

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        row = _checked(lambda: transcripts.restore(db, found, number, based_on, None))
        _exported(ctx, db, found)
        click.echo(f"revision {row.number}: restored revision {number}" if row else "nothing changed")


@review_group.command("status")
@click.argument("recording_ref", metavar="RECORDING")
@click.argument("status", type=click.Choice(STATUSES))
@click.pass_context
def review_status(ctx, recording_ref, status):
    """Mark RECORDING's transcript automatic, in_review or verified."""
    from coder.study import transcripts

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        _checked(lambda: transcripts.set_status(db, found, status, None))
        _exported(ctx, db, found)
        click.echo(f"{status} (revision {found.revision})")


@review_group.command("name")
@click.argument("recording_ref", metavar="RECORDING")
@click.argument("label")
@click.argument("name")
@click.pass_context
def review_name(ctx, recording_ref, label, name):
    """Give speaker LABEL of RECORDING's transcript a display name ("" removes it)."""
    from coder.study import transcripts

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        _checked(lambda: transcripts.rename_speaker(db, found, label, name, None))
        _exported(ctx, db, found)
        click.echo(f"{label}: {name or '(no name)'}")


@review_group.command("raters")
@click.argument("study_name", metavar="STUDY")
@click.argument("view", type=click.Choice(RATER_VIEWS))
@click.pass_context
def review_raters(ctx, study_name, view):
    """What STUDY's raters read beside the audio: automatic (the current transcript), verified (only verified
    transcripts) or none (audio only)."""
    from coder.study import transcripts

    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        _checked(lambda: transcripts.set_rater_view(db, study, view, None))
        click.echo(f"{study_name}: raters read {view} transcripts" if view != "none" else
                   f"{study_name}: raters listen without a transcript")


COMMANDS = (review_group,)
