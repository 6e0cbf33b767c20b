"""De-identification on the command line: ``coder deid`` enters a dyad's lists of people, detects candidate
identifiers in a transcript, lists them, takes a person's decisions and added words, applies the pseudonyms,
writes the anonymisation log, and sets what a study's raters read and hear (docs/deidentification.md)."""
from __future__ import annotations

from pathlib import Path

import click

from coder.cli.common import fail, open_database, study_named, transcript

# coder.pipeline.deidentify.ENTITIES and coder.study.deidentification.TOWN
ENTITIES = ("PERSON", "LOCATION", "TOWN", "ORGANIZATION", "NRP", "DATE_TIME", "PHONE_NUMBER", "EMAIL_ADDRESS")
TEXT_VIEWS = ("original", "deidentified")  # coder.study.deidentification.TEXT_VIEWS
AUDIO_VIEWS = ("original", "muted", "tone")  # coder.study.deidentification.AUDIO_VIEWS


@click.group("deid")
def deid_group():
    """De-identify transcripts: candidates, decisions, pseudonyms, the anonymisation log (docs/deidentification.md)."""


def _checked(action):
    """Run a de-identification step, exiting with its message when it is refused."""
    from coder.study.deidentification import DeidError

    try:
        return action()
    except DeidError as exc:
        fail(str(exc))


def _dyad(db, code: str, study_name: str | None):
    from sqlalchemy import select

    from coder.study.models import Dyad

    stmt = select(Dyad).where(Dyad.live, Dyad.code == code)
    if study_name:
        stmt = stmt.where(Dyad.study_id == study_named(db, study_name).id)
    found = list(db.scalars(stmt))
    if len(found) != 1:
        fail(f"no dyad {code}" + (f" in study {study_name}" if study_name else "") if not found
             else f"{len(found)} studies have a dyad {code}; name the study with --study")
    return found[0]


def _lists_from_file(path: str) -> dict:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        fail(f"{path}: cannot read the lists ({str(exc).splitlines()[0]})")
    if not isinstance(data, dict):
        fail(f'{path}: expected roles and their names, e.g. {{"Client": ["Maria"]}}')
    return data


@deid_group.command("people")
@click.argument("dyad_code", metavar="DYAD")
@click.option("--study", "study_name", help="The dyad's study (needed where two studies have a dyad DYAD).")
@click.option("--set", "entries", multiple=True, metavar="ROLE=NAME",
              help="A name to look for, e.g. Client=Maria, Client='Maria Lopez', Sister='Beth|Bethany' (forms of one "
                   "person's name joined by |); repeat for each. Replaces the dyad's lists.")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="The lists as JSON or YAML: {Client: [Maria]}.")
@click.option("--clear", is_flag=True, help="Remove the dyad's lists.")
@click.pass_context
def deid_people(ctx, dyad_code, study_name, entries, path, clear):
    """The names to look for in DYAD's transcripts (the client's, the therapist's, family members'); without
    options, the lists as they are."""
    from coder.study import deidentification

    lists: dict[str, list[str]] = _lists_from_file(path) if path else {}
    for entry in entries:
        role, sep, name = entry.partition("=")
        if not sep or not role.strip() or not name.strip():
            fail(f"--set takes ROLE=NAME, e.g. Client=Maria, not {entry!r}")
        lists.setdefault(role.strip(), []).append(name.strip())
    with open_database(ctx).session() as db:
        dyad = _dyad(db, dyad_code, study_name)
        if lists or clear:
            stored = _checked(lambda: deidentification.set_identifiers(db, dyad, lists, None))
            db.commit()
        else:
            stored = deidentification.identifiers(dyad)
        if not stored:
            click.echo(f"{dyad.code}: no names listed")
        for role, names in stored.items():
            click.echo(f"{role}: {'; '.join(names)}")


@deid_group.command("detect")
@click.argument("recording_ref", metavar="RECORDING")
@click.pass_context
def deid_detect(ctx, recording_ref):
    """Find candidate identifiers in RECORDING's transcript (its edited turns only, where it was edited since);
    decisions already made are kept."""
    from coder.study import deidentification

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        done = _checked(lambda: deidentification.detect(db, found, None))
        db.commit()
        total = len(done.deidentification.candidates)
        pending = sum(1 for c in done.deidentification.candidates if c["decision"] == "pending")
        click.echo(f"{total} candidates ({pending} pending, {done.new} new) in {len(done.analysed)} turn(s) analysed")


@deid_group.command("show")
@click.argument("recording_ref", metavar="RECORDING")
@click.option("--json", "as_json", is_flag=True, help="The review's whole state as JSON.")
@click.pass_context
def deid_show(ctx, recording_ref, as_json):
    """RECORDING's candidates, numbered: turn, words, time, type, text, decision and the pseudonym it gets."""
    from coder.cli.common import json_text
    from coder.study import deidentification

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        state = deidentification.state(db, found)
    if as_json:
        click.echo(json_text(state))
        return
    counts = ", ".join(f"{n} {k}" for k, n in state["counts"].items())
    click.echo(f"{state['status']}, revision {state['revision']} (transcript at {state['current_revision']}"
               f"{'; edited since: detect again' if state['stale'] else ''}): {counts}")
    for c in state["candidates"]:
        click.echo(f"{c['id']}\tturn {c['turn']} words {c['first']}-{c['last']}\t{c['start']:.2f}s\t{c['entity']}"
                   f"{'/' + c['role'] if c['role'] else ''}\t{c['text']}\t{c['decision']}"
                   f"{' (added)' if c['source'] == 'added' else ''}\t{c['pseudonym'] or '-'}")


def _decide(ctx, recording_ref, ids, everything, accepted):
    from coder.study import deidentification

    if not ids and not everything:
        fail("name the candidates (numbers from `coder deid show`), or --all for every pending one")
    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        for ident in ids:
            _checked(lambda: deidentification.decide(db, found, ident, accepted, None))
        n = _checked(lambda: deidentification.decide_all(db, found, accepted, None)) if everything else 0
        db.commit()
        click.echo(f"{'accepted' if accepted else 'rejected'} {len(ids) + n}")


@deid_group.command("accept")
@click.argument("recording_ref", metavar="RECORDING")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every pending candidate.")
@click.pass_context
def deid_accept(ctx, recording_ref, ids, everything):
    """Accept candidates IDS of RECORDING's transcript: they will be replaced by their pseudonyms."""
    _decide(ctx, recording_ref, ids, everything, True)


@deid_group.command("reject")
@click.argument("recording_ref", metavar="RECORDING")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every pending candidate.")
@click.pass_context
def deid_reject(ctx, recording_ref, ids, everything):
    """Reject candidates IDS of RECORDING's transcript: they stay as they are."""
    _decide(ctx, recording_ref, ids, everything, False)


@deid_group.command("add")
@click.argument("recording_ref", metavar="RECORDING")
@click.argument("turn", type=int)
@click.argument("first", type=int)
@click.argument("last", type=int)
@click.option("--type", "entity", type=click.Choice(ENTITIES), default="PERSON", show_default=True,
              help="What the words are (TOWN: a town, city or country).")
@click.option("--person", help="The listed person (or candidate text) these words name, to share their pseudonym.")
@click.pass_context
def deid_add(ctx, recording_ref, turn, first, last, entity, person):
    """Add words FIRST..LAST of turn TURN (numbered from 0, as `coder review show` numbers them) as an identifier
    the detection missed; accepted at once."""
    from coder.study import deidentification

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        entry = _checked(lambda: deidentification.add(db, found, turn, first, last, entity, None, person=person))
        db.commit()
        click.echo(f"{entry['id']}\t{entry['text']}\t{entry['entity']}\taccepted")


@deid_group.command("apply")
@click.argument("recording_ref", metavar="RECORDING")
@click.pass_context
def deid_apply(ctx, recording_ref):
    """Make RECORDING's de-identified transcript from the accepted candidates (refused while any is pending)."""
    from coder.study import deidentification

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        row = _checked(lambda: deidentification.apply(db, found, None))
        db.commit()
        click.echo(f"revision {row.applied_revision} de-identified: {len(row.log)} span(s) replaced")


@deid_group.command("log")
@click.argument("recording_ref", metavar="RECORDING")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="The CSV file to write; it holds the original words: keep it with the originals.")
@click.pass_context
def deid_log(ctx, recording_ref, out_path):
    """Write RECORDING's anonymisation log (what was replaced, where, by which pseudonym) as CSV."""
    from coder.pipeline.formats import atomic_write
    from coder.study import deidentification

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        if not deidentification.log_rows(db, found):
            fail(f"recording {found.recording_id}: no anonymisation log (apply the de-identification first)")
        atomic_write(Path(out_path), deidentification.log_csv(db, found))
        click.echo(f"{len(deidentification.log_rows(db, found))} entries written to {out_path}")


@deid_group.command("raters")
@click.argument("study_name", metavar="STUDY")
@click.option("--text", type=click.Choice(TEXT_VIEWS), help="Raters read the original or only the de-identified "
              "transcript (none where no de-identification was applied).")
@click.option("--audio", type=click.Choice(AUDIO_VIEWS), help="Raters hear the recording as it is, or with the "
              "replaced words muted or under a tone (no audio where no de-identification was applied).")
@click.pass_context
def deid_raters(ctx, study_name, text, audio):
    """What STUDY's raters read and hear; without options, the current settings."""
    from coder.study import deidentification

    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        if text or audio:
            chosen = _checked(lambda: deidentification.set_rater_settings(db, study, None, text=text, audio=audio))
            db.commit()
        else:
            chosen = deidentification.rater_settings(study)
        click.echo(f"{study_name}: raters read {'de-identified' if chosen['text'] == 'deidentified' else 'original'} "
                   f"transcripts and hear {'the original' if chosen['audio'] == 'original' else chosen['audio']} audio")


COMMANDS = (deid_group,)
