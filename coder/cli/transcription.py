"""Transcripts and who speaks in them: ``coder transcribe`` (files, no database), ``coder models``, and for stored
recordings ``coder roles``, ``coder rttm``, ``coder export`` and ``coder therapists``."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from coder.cli import engines
from coder.cli.common import REASON, chosen_recordings, fail, open_database, recording, settings, transcript
from coder.pipeline import rttm
from coder.pipeline.audio import AudioError
from coder.pipeline.batch import transcribe_batch
from coder.pipeline.diarize import Turn
from coder.pipeline.diarize.embeddings import EncoderUnavailable
from coder.pipeline.modelstore import ModelStoreError, import_model, list_models


def _read_rttm(path: str) -> dict[str, list[Turn]]:
    try:
        return rttm.read(path)
    except rttm.RTTMError as exc:
        fail(str(exc))


def _voiceprint(path: str):
    from coder.study.speakers import voice_sample

    try:
        return voice_sample(path)[0]
    except (AudioError, EncoderUnavailable, ValueError) as exc:
        fail(str(exc))


@click.command()
@click.argument("audio", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@engines.engine_options
@click.option("--force", is_flag=True, help="Transcribe again even where DIR holds a finished transcript.")
@click.option("--rttm", "rttm_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Speaker turns to use instead of automatic diarisation, matched to inputs by URI = file stem "
                   "(repeatable).")
@click.option("--therapist-voice", type=click.Path(dir_okay=False),
              help="A recording of the therapist alone; the speaker whose voice matches becomes the therapist.")
@click.pass_context
def transcribe(ctx, audio, out_dir, engine, model, diarizer, num_speakers, diarizer_model, language, no_vad,
               beam_size, force, rttm_paths, therapist_voice):
    """Transcribe AUDIO files to DIR/STEM.{json,rttm,vtt,txt}.

    Resumable: inputs already transcribed into DIR with the same engine and
    model (same audio checksum) are skipped.
    """
    turns: dict = {}
    for path in rttm_paths:
        turns.update(_read_rttm(path))
    voiceprint = _voiceprint(therapist_voice) if therapist_voice else None
    asr = engines.load(settings(ctx).models_dir, engine, model, diarizer, beam_size, diarizer_model)
    report = transcribe_batch(list(audio), asr, Path(out_dir), diarizer=diarizer,
                              num_speakers=engines.speaker_count(num_speakers), language=language,
                              use_vad=not no_vad, force=force, log=lambda line: click.echo(line, err=True),
                              rttm=turns or None, therapist_voiceprint=voiceprint,
                              diarizer_options=engines.diarizer_options(diarizer, diarizer_model))
    click.echo(f"{len(report.done)} transcribed, {len(report.skipped)} skipped, {len(report.failed)} failed",
               err=True)
    sys.exit(1 if report.failed else 0)


@click.group(invoke_without_command=True)
@click.pass_context
def models(ctx):
    """List the models in the local model store (CODER_MODELS_DIR)."""
    if ctx.invoked_subcommand is not None:
        return
    store = settings(ctx).models_dir
    found = list_models(store)
    click.echo(f"model store: {store}")
    if not found:
        click.echo("  (empty) - add one with 'coder models import PATH'")
    for m in found:
        click.echo(f"  {m.name:<32} {m.engine:<15} {m.size_bytes / 1e6:8.1f} MB")


@models.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--name", help="Name in the store (default: the file or folder name).")
@click.option("--force", is_flag=True, help="Replace a model of the same name.")
@click.pass_context
def models_import(ctx, path, name, force):
    """Copy a model (an openai-whisper .pt or a CTranslate2 directory) into the store."""
    store = settings(ctx).models_dir
    try:
        model = import_model(Path(path), store, name=name, force=force)
    except ModelStoreError as exc:
        fail(str(exc))
    click.echo(f"imported {model.name} ({model.engine}, {model.size_bytes / 1e6:.1f} MB) into {store}")


@click.group()
def roles():
    """Show and correct which speaker is the therapist and which the client."""


@roles.command("show")
@click.argument("recording_ref", metavar="RECORDING")
@click.pass_context
def roles_show(ctx, recording_ref):
    """Speakers of RECORDING (id or file name) with role, confidence and whether it was set by hand."""
    from coder.study.speakers import speaking_time

    with open_database(ctx).session() as db:
        found = transcript(db, recording_ref)
        for s in found.speakers:
            speech = speaking_time(found.segments, s.label)
            conf = "" if s.role_confidence is None else f"{s.role_confidence:.2f}"
            click.echo(f"{s.label}\t{s.role or '-'}\t{conf}\t{s.role_source}\t{speech:.1f} s")


def _wanted_roles(assignments: tuple[str, ...]) -> dict[str, str | None]:
    wanted = {}
    for item in assignments:
        label, sep, role = item.partition("=")
        if not sep:
            fail(f"{item!r}: write SPEAKER=ROLE, for example SPEAKER_00=therapist")
        wanted[label] = None if role.lower() in ("none", "") else role.lower()
    return wanted


@roles.command("set")
@click.argument("recording_ref", metavar="RECORDING")
@click.argument("assignments", nargs=-1, required=True)
@REASON
@click.pass_context
def roles_set(ctx, recording_ref, assignments, reason):
    """Set roles by hand: coder roles set REC SPEAKER_00=client SPEAKER_01=therapist (or =none)."""
    from coder.study.speakers import RoleError, set_roles

    database = open_database(ctx)
    wanted = _wanted_roles(assignments)
    with database.session() as db:
        try:
            set_roles(db, transcript(db, recording_ref), wanted, reason=reason,
                      transcripts_dir=settings(ctx).transcripts_dir)
        except RoleError as exc:
            fail(str(exc))
    click.echo("roles saved")


@roles.command("swap")
@click.argument("recording_ref", metavar="RECORDING")
@REASON
@click.pass_context
def roles_swap(ctx, recording_ref, reason):
    """Exchange therapist and client in RECORDING's transcript."""
    from coder.study.speakers import RoleError, swap_roles

    with open_database(ctx).session() as db:
        try:
            swap_roles(db, transcript(db, recording_ref), reason=reason, transcripts_dir=settings(ctx).transcripts_dir)
        except RoleError as exc:
            fail(str(exc))
    click.echo("roles swapped")


@click.group("rttm")
def rttm_cmd():
    """Import speaker turns that override automatic diarisation."""


@rttm_cmd.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--recording", "recording_ref", help="Recording (id or file name) for a file with one URI; "
                                                   "by default each URI is matched to a recording's file stem.")
@click.option("--force", is_flag=True, help="Import turns that cover less than 80% of a transcript's speech.")
@click.pass_context
def rttm_import(ctx, path, recording_ref, force):
    """Use the turns in RTTM file PATH for its recordings, now and in later processing. Turns that cover less
    than 80% of a transcript's speech are refused unless --force."""
    from coder.study.speakers import coverage, import_turns

    database = open_database(ctx)
    by_uri = _read_rttm(path)
    if recording_ref and len(by_uri) > 1:
        fail(f"{path} holds {len(by_uri)} URIs; --recording applies to a file with one")
    with database.session() as db:
        for uri, turns in by_uri.items():
            found = recording(db, recording_ref or uri)
            share = coverage(found, turns)
            try:
                n = import_turns(db, found, turns, path, transcripts_dir=settings(ctx).transcripts_dir,
                                 force=force)
            except ValueError as exc:
                fail(str(exc))
            click.echo(f"{found.original_name}: {len(turns)} turns of "
                       f"{len({t.speaker for t in turns})} speakers; {n} transcript(s) updated"
                       + (f"; the turns cover {share:.0%} of the transcript's speech" if share is not None else ""))
            if share is not None and share < 0.95:
                click.echo(f"warning: {found.original_name}: {1 - share:.0%} of the transcript's speech lies outside "
                           "the turns; its words went to the nearest turn's speaker", err=True)


EXPORTS = ("json", "rttm", "vtt", "txt", "docx", "eaf", "textgrid")  # coder.pipeline.interchange.EXPORTS


def _export_formats(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "all":
        return EXPORTS
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in chosen if f not in EXPORTS]
    if unknown or not chosen:
        fail(f"unknown format {', '.join(unknown) if unknown else repr(text)}; choose from {', '.join(EXPORTS)} "
             f"or all")
    return chosen


@click.command("export")
@click.argument("recordings", nargs=-1)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--format", "fmt", default="json,rttm,vtt,txt", show_default=True,
              help="Comma-separated formats from json, rttm, vtt, txt, docx (Word), eaf (ELAN), textgrid (Praat), "
                   "or all.")
@click.option("--deidentified", is_flag=True,
              help="The de-identified versions instead (pseudonyms for the identifiers, speakers by role), as "
                   "OUT/recording-ID.deidentified.*; transcripts without one are skipped.")
@click.pass_context
def export_cmd(ctx, recordings, out_dir, fmt, deidentified):
    """Write stored transcripts (all, or RECORDINGS by id or name) in their current revision, with the current
    roles and speakers' names, to OUT/recording-ID.* (.TextGrid for Praat)."""
    from coder.study import deidentification
    from coder.study.speakers import write_exports

    chosen = _export_formats(fmt)
    n = 0
    with open_database(ctx).session() as db:
        for found in chosen_recordings(db, recordings):
            if found.transcript is None:
                click.echo(f"skipped: {found.original_name}: no transcript", err=True)
                continue
            if deidentified:
                try:
                    deidentification.write_exports(found.transcript, Path(out_dir), chosen)
                except deidentification.DeidError as exc:
                    click.echo(f"skipped: {exc}", err=True)
                    continue
            else:
                write_exports(found.transcript, Path(out_dir), chosen)
            n += 1
    click.echo(f"{n} {'de-identified ' if deidentified else ''}transcript(s) written to {out_dir}")


@click.group()
def therapists():
    """Therapists' enrolled voices (used to tell the therapist from the client)."""


def _therapist(db, study: str, code: str):
    from sqlalchemy import select

    from coder.study.models import Study, Therapist

    found = db.scalar(select(Therapist).join(Study).where(Study.name == study, Therapist.code == code))
    if found is None:
        fail(f"no therapist {code!r} in study {study!r}")
    return found


@therapists.command("enrol")
@click.argument("study")
@click.argument("therapist")
@click.argument("audio_path", type=click.Path(dir_okay=False))
@click.option("--start", type=float, help="Start of the therapist-only stretch (s).")
@click.option("--end", type=float, help="End of it (s).")
@click.pass_context
def therapists_enrol(ctx, study, therapist, audio_path, start, end):
    """Enrol THERAPIST's voice (of STUDY) from AUDIO_PATH, a recording of them alone."""
    from coder.study.speakers import enrol_sample

    with open_database(ctx).session() as db:
        row = _therapist(db, study, therapist)
        try:
            vp = enrol_sample(db, row, audio_path, start, end)
        except (AudioError, ValueError) as exc:
            fail(str(exc))
        click.echo(f"enrolled {therapist}'s voice from {vp.speech_s:.1f} s of speech")


COMMANDS = (transcribe, models, roles, rttm_cmd, export_cmd, therapists)
