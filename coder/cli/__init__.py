"""The coder command line."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from coder import __version__
from coder.cli.analysis import aggregate_cmd, analyze_cmd, outcomes
from coder.cli.common import _database, _settings, fail
from coder.cli.coordination import COMMANDS as COORDINATION
from coder.config import load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coder")
@click.option("--home", type=click.Path(file_okay=False), envvar="CODER_HOME",
              help="Data directory (database, transcripts, secret key). Env: CODER_HOME.")
@click.pass_context
def main(ctx: click.Context, home: str | None):
    """coder: transcribe, rate and analyse recorded therapy sessions."""
    ctx.obj = {"home": home}


for command in (outcomes, aggregate_cmd, analyze_cmd, *COORDINATION):
    main.add_command(command)


@main.command()
@click.pass_context
def init(ctx):
    """Create the database (or migrate it to the current schema)."""
    from coder.db import current_revision

    settings, database = _database(ctx, must_exist=False)
    settings.home.mkdir(parents=True, exist_ok=True)
    database.migrate()
    settings.secret_key()
    click.echo(f"database ready at {database.engine.url.render_as_string(hide_password=True)} "
               f"(schema {current_revision(database.engine)})")


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--study", help="Study name for rows without a study column.")
@click.pass_context
def ingest(ctx, manifest, study):
    """Register recordings with their dyad and session from a CSV MANIFEST.

    Columns: file, therapist, client, session (required); dyad, study, date,
    time_point, arm (optional). Paths are relative to the manifest.
    """
    from coder.study.ingest import ManifestError, ingest_manifest

    _settings_, database = _database(ctx)
    try:
        report = ingest_manifest(database, manifest, study=study)
    except ManifestError as exc:
        fail(str(exc))
    for _row, name, why in report.skipped:
        click.echo(f"skipped: {name}: {why}")
    for row, name, why in report.errors:
        click.echo(f"error: {name or '(no file)'} (row {row}): {why}", err=True)
    click.echo(f"{len(report.registered)} registered, {len(report.skipped)} already registered, "
               f"{len(report.errors)} rejected")
    sys.exit(0 if report.ok else 1)


class SpeakerCount(click.ParamType):
    """A speaker count from 1 to 20, or "auto" to estimate it."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        if str(value).lower() == "auto":
            return "auto"
        try:
            n = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of speakers or 'auto'", param, ctx)
        if not 1 <= n <= 20:
            self.fail(f"{n} is not between 1 and 20", param, ctx)
        return n


def _diarizer_options(diarizer, diarizer_model):
    return {"model": diarizer_model} if diarizer == "pyannote" and diarizer_model else None


def _speaker_count(value):
    return None if value == "auto" else value


def _engine_options(f):
    from coder.pipeline.asr import DEFAULT_ENGINE, ENGINES
    from coder.pipeline.diarize import DIARIZERS

    options = [
        click.option("--engine", type=click.Choice(ENGINES), default=DEFAULT_ENGINE, show_default=True),
        click.option("--model", help="Model name or local path (.pt for openai-whisper, CTranslate2 directory for "
                                     "faster-whisper). Env: CODER_WHISPER_MODEL."),
        click.option("--diarizer", type=click.Choice(DIARIZERS), default="builtin", show_default=True),
        click.option("--num-speakers", type=SpeakerCount(), default="2", show_default=True,
                     help="Number of speakers, or 'auto' to estimate it (one voice, or more than asked, "
                          "gives a warning)."),
        click.option("--diarizer-model", help="pyannote pipeline: a local directory (config.yaml) or a hub name "
                                              "(needs HF_TOKEN). Env: CODER_PYANNOTE_MODEL."),
        click.option("--language", help="Language code (e.g. en); detected when omitted."),
        click.option("--no-vad", is_flag=True, help="Hand the engine the whole recording, silences included."),
        click.option("--beam-size", type=click.IntRange(1, 10), help="Beam width (default 5; 1 is greedy and faster)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _voice_sample(path):
    from coder.pipeline.audio import AudioError
    from coder.pipeline.diarize.embeddings import EncoderUnavailable
    from coder.study.speakers import voice_sample

    try:
        return voice_sample(path)[0]
    except (AudioError, EncoderUnavailable, ValueError) as exc:
        fail(str(exc))


def _load_engine(settings, engine, model, diarizer="none", beam_size=None, diarizer_model=None):
    from coder.pipeline.asr import ModelUnavailable, load_engine
    from coder.pipeline.diarize import DiarizerUnavailable, check_available

    try:
        check_available(diarizer, **({"model": diarizer_model} if diarizer == "pyannote" else {}))
    except DiarizerUnavailable as exc:
        fail(str(exc), code=2)
    try:
        return load_engine(engine, model, settings.models_dir, beam_size=beam_size)
    except ModelUnavailable as exc:
        fail(str(exc), code=2)


@main.command()
@click.argument("audio", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@_engine_options
@click.option("--force", is_flag=True, help="Transcribe again even where DIR holds a finished transcript.")
@click.option("--rttm", "rttm_files", multiple=True, type=click.Path(dir_okay=False),
              help="Speaker turns to use instead of automatic diarisation, matched to inputs by URI = file stem "
                   "(repeatable).")
@click.option("--therapist-voice", type=click.Path(dir_okay=False),
              help="A recording of the therapist alone; the speaker whose voice matches becomes the therapist.")
@click.pass_context
def transcribe(ctx, audio, out_dir, engine, model, diarizer, num_speakers, diarizer_model, language, no_vad,
               beam_size, force, rttm_files, therapist_voice):
    """Transcribe AUDIO files to DIR/STEM.{json,rttm,vtt,txt}.

    Resumable: inputs already transcribed into DIR with the same engine and
    model (same audio checksum) are skipped.
    """
    from coder.pipeline.batch import transcribe_batch
    from coder.pipeline.rttm import RTTMError, read

    settings = _settings(ctx)
    turns: dict = {}
    for path in rttm_files:
        try:
            turns.update(read(path))
        except RTTMError as exc:
            fail(str(exc))
    voiceprint = _voice_sample(therapist_voice) if therapist_voice else None
    asr = _load_engine(settings, engine, model, diarizer, beam_size, diarizer_model)
    report = transcribe_batch(list(audio), asr, Path(out_dir), diarizer=diarizer,
                              num_speakers=_speaker_count(num_speakers), language=language, use_vad=not no_vad,
                              force=force, log=lambda line: click.echo(line, err=True), rttm=turns or None,
                              therapist_voiceprint=voiceprint, diarizer_options=_diarizer_options(diarizer,
                                                                                                  diarizer_model))
    click.echo(f"{len(report.done)} transcribed, {len(report.skipped)} skipped, {len(report.failed)} failed",
               err=True)
    sys.exit(1 if report.failed else 0)


@main.command()
@_engine_options
@click.pass_context
def process(ctx, engine, model, diarizer, num_speakers, diarizer_model, language, no_vad, beam_size):
    """Transcribe every registered recording not yet transcribed with this engine and model."""
    from coder.jobs.processing import pending_recordings, process_recordings

    settings, database = _database(ctx)
    asr = _load_engine(settings, engine, model, diarizer, beam_size, diarizer_model)
    todo = pending_recordings(database, asr)
    click.echo(f"{len(todo)} recording(s) to transcribe with {asr.name} ({asr.model_label})")
    ok, failed = process_recordings(
        database, asr, settings.transcripts_dir, diarizer=diarizer, num_speakers=_speaker_count(num_speakers),
        language=language, use_vad=not no_vad, diarizer_options=_diarizer_options(diarizer, diarizer_model),
        playback_dir=settings.playback_dir,
        on_done=lambda rid, name, err: click.echo(f"{'error: ' if err else ''}{name}: {err or 'transcribed'}",
                                                  err=bool(err)),
        on_warning=lambda rid, name, warning: click.echo(f"warning: {name}: {warning}", err=True))
    click.echo(f"{ok} transcribed, {failed} failed")
    sys.exit(1 if failed else 0)


@main.group(invoke_without_command=True)
@click.pass_context
def models(ctx):
    """List the models in the local model store (CODER_MODELS_DIR)."""
    if ctx.invoked_subcommand is not None:
        return
    from coder.pipeline.modelstore import list_models

    store = _settings(ctx.parent).models_dir
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
    from coder.pipeline.modelstore import ModelStoreError, import_model

    store = _settings(ctx.parent.parent).models_dir
    try:
        model = import_model(Path(path), store, name=name, force=force)
    except ModelStoreError as exc:
        fail(str(exc))
    click.echo(f"imported {model.name} ({model.engine}, {model.size_bytes / 1e6:.1f} MB) into {store}")


def _recording(db, ref: str):
    """A recording by id, original file name or file stem."""
    from sqlalchemy import or_, select

    from coder.study.models import Recording

    q = select(Recording).where(Recording.live)
    if ref.isdigit():
        found = db.scalars(q.where(Recording.id == int(ref))).all()
    else:
        found = [r for r in db.scalars(q.where(or_(Recording.original_name == ref,
                                                   Recording.original_name.like(f"{ref}.%"))))]
    if len(found) != 1:
        fail(f"no recording {ref!r}" if not found else f"{ref!r} names {len(found)} recordings; use the id")
    return found[0]


def _transcript(db, ref: str):
    recording = _recording(db, ref)
    if recording.transcript is None:
        fail(f"recording {recording.id} ({recording.original_name}) has no transcript yet; run 'coder process'")
    return recording.transcript


@main.group()
def roles():
    """Show and correct which speaker is the therapist and which the client."""


@roles.command("show")
@click.argument("recording")
@click.pass_context
def roles_show(ctx, recording):
    """Speakers of RECORDING (id or file name) with role, confidence and whether it was set by hand."""
    from coder.study.speakers import speaking_time

    settings, database = _database(ctx.parent)
    with database.session() as db:
        transcript = _transcript(db, recording)
        for s in transcript.speakers:
            speech = speaking_time(transcript.segments, s.label)
            conf = "" if s.role_confidence is None else f"{s.role_confidence:.2f}"
            click.echo(f"{s.label}\t{s.role or '-'}\t{conf}\t{s.role_source}\t{speech:.1f} s")


@roles.command("set")
@click.argument("recording")
@click.argument("assignments", nargs=-1, required=True)
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.pass_context
def roles_set(ctx, recording, assignments, reason):
    """Set roles by hand: coder roles set REC SPEAKER_00=client SPEAKER_01=therapist (or =none)."""
    from coder.study.speakers import RoleError, set_roles

    settings, database = _database(ctx.parent)
    wanted = {}
    for item in assignments:
        label, sep, role = item.partition("=")
        if not sep:
            fail(f"{item!r}: write SPEAKER=ROLE, for example SPEAKER_00=therapist")
        wanted[label] = None if role.lower() in ("none", "") else role.lower()
    with database.session() as db:
        try:
            set_roles(db, _transcript(db, recording), wanted, reason=reason, transcripts_dir=settings.transcripts_dir)
        except RoleError as exc:
            fail(str(exc))
    click.echo("roles saved")


@roles.command("swap")
@click.argument("recording")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.pass_context
def roles_swap(ctx, recording, reason):
    """Exchange therapist and client in RECORDING's transcript."""
    from coder.study.speakers import RoleError, swap_roles

    settings, database = _database(ctx.parent)
    with database.session() as db:
        try:
            swap_roles(db, _transcript(db, recording), reason=reason, transcripts_dir=settings.transcripts_dir)
        except RoleError as exc:
            fail(str(exc))
    click.echo("roles swapped")


@main.group()
def rttm():
    """Import speaker turns that override automatic diarisation."""


@rttm.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--recording", "recording_ref", help="Recording (id or file name) for a file with one URI; "
                                                   "by default each URI is matched to a recording's file stem.")
@click.pass_context
def rttm_import(ctx, path, recording_ref):
    """Use the turns in RTTM file PATH for its recordings, now and in later processing."""
    from coder.pipeline.rttm import RTTMError, read
    from coder.study.speakers import import_turns

    settings, database = _database(ctx.parent)
    try:
        by_uri = read(path)
    except RTTMError as exc:
        fail(str(exc))
    if recording_ref and len(by_uri) > 1:
        fail(f"{path} holds {len(by_uri)} URIs; --recording applies to a file with one")
    with database.session() as db:
        for uri, turns in by_uri.items():
            recording = _recording(db, recording_ref or uri)
            try:
                n = import_turns(db, recording, turns, path, transcripts_dir=settings.transcripts_dir)
            except ValueError as exc:
                fail(str(exc))
            click.echo(f"{recording.original_name}: {len(turns)} turns of "
                       f"{len({t.speaker for t in turns})} speakers; {n} transcript(s) updated")


@main.command("export")
@click.argument("recordings", nargs=-1)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.pass_context
def export_cmd(ctx, recordings, out_dir):
    """Write stored transcripts (all, or RECORDINGS by id or name) as JSON, RTTM, WebVTT and text, with the
    current roles, to OUT/recording-ID.*"""
    from sqlalchemy import select

    from coder.study.models import Recording
    from coder.study.speakers import write_exports

    _s, database = _database(ctx)
    n = 0
    with database.session() as db:
        chosen = [_recording(db, r) for r in recordings] if recordings else \
            db.scalars(select(Recording).where(Recording.live).order_by(Recording.id)).all()
        for recording in chosen:
            if recording.transcript is None:
                click.echo(f"skipped: {recording.original_name}: no transcript", err=True)
                continue
            write_exports(recording.transcript, Path(out_dir))
            n += 1
    click.echo(f"{n} transcript(s) written to {out_dir}")


@main.group()
def therapists():
    """Therapists' enrolled voices (used to tell the therapist from the client)."""


@therapists.command("enrol")
@click.argument("study")
@click.argument("therapist")
@click.argument("audio_path", type=click.Path(dir_okay=False))
@click.option("--start", type=float, help="Start of the therapist-only stretch (s).")
@click.option("--end", type=float, help="End of it (s).")
@click.pass_context
def therapists_enrol(ctx, study, therapist, audio_path, start, end):
    """Enrol THERAPIST's voice (of STUDY) from AUDIO_PATH, a recording of them alone."""
    from sqlalchemy import select

    from coder.pipeline.audio import AudioError
    from coder.study.models import Study, Therapist
    from coder.study.speakers import enrol_sample

    _s, database = _database(ctx.parent)
    with database.session() as db:
        row = db.scalar(select(Therapist).join(Study).where(Study.name == study, Therapist.code == therapist))
        if row is None:
            fail(f"no therapist {therapist!r} in study {study!r}")
        try:
            vp = enrol_sample(db, row, audio_path, start, end)
        except (AudioError, ValueError) as exc:
            fail(str(exc))
        click.echo(f"enrolled {therapist}'s voice from {vp.speech_s:.1f} s of speech")


@main.group()
def units():
    """Rating units: the stretches of a recording that raters score."""


@units.command("add")
@click.argument("recording")
@click.option("--whole", is_flag=True, help="The whole session.")
@click.option("--window", "window_min", type=float, help="Fixed windows of this many minutes (e.g. 5, 10, 15), "
                                                         "boundaries moved to a pause within 5 s.")
@click.option("--range", "span", nargs=2, type=float, metavar="START END", help="A hand-picked range in seconds.")
@click.option("--find", "pattern", help="Ranges where the transcript mentions PATTERN (e.g. 'homework').")
@click.option("--context", type=float, default=120.0, show_default=True,
              help="With --find: seconds kept after each mention.")
@click.option("--label", default="", help="Label for a --range unit.")
@click.option("--instrument", "instrument_keys", multiple=True,
              help="An instrument the units are for (repeatable; default: any).")
@click.option("--calibration", is_flag=True, help="Calibration units, rated by the master rater and all raters.")
@click.pass_context
def units_add(ctx, recording, whole, window_min, span, pattern, context, label, instrument_keys, calibration):
    """Add rating units to RECORDING (id or file name)."""
    from coder.study import units as u

    chosen = [bool(whole), window_min is not None, bool(span), pattern is not None]
    if sum(chosen) != 1:
        fail("choose one of --whole, --window, --range or --find")
    how = ("whole", "window", "range", "find")[chosen.index(True)]
    _s, database = _database(ctx.parent)
    with database.session() as db:
        rec = _recording(db, recording)
        try:
            spans = u.plan(rec, how, window_min, pattern, context, tuple(span) if span else None, label)
        except ValueError as exc:
            fail(str(exc))
        for unit in u.add(db, rec, spans, instrument_keys=list(instrument_keys), calibration=calibration):
            click.echo(f"unit {unit.id}\t{unit.kind}\t{unit.start_s:.1f}–{unit.end_s:.1f} s\t{unit.label}"
                       + ("\tcalibration" if calibration else ""))


@units.command("list")
@click.argument("recording")
@click.pass_context
def units_list(ctx, recording):
    """RECORDING's rating units, each with the start of its transcript excerpt."""
    from coder.study import units as u

    _s, database = _database(ctx.parent)
    with database.session() as db:
        rec = _recording(db, recording)
        roles = {s.label: s.role for s in rec.transcript.speakers} if rec.transcript else {}
        for unit in rec.rating_units:
            if not unit.live:
                continue
            part = u.excerpt(rec.transcript.segments, unit.start_s, unit.end_s, roles) if rec.transcript else []
            first = f"{(part[0]['role'] or part[0]['speaker']).capitalize()}: {part[0]['text'][:60]}" if part else ""
            click.echo(f"unit {unit.id}\t{unit.kind}\t{unit.start_s:.1f}–{unit.end_s:.1f} s\t{unit.label}"
                       f"\t{len(part)} segments\t{first}"
                       + (f"\tfor {','.join(unit.instrument_keys)}" if unit.instrument_keys else "")
                       + ("\tcalibration" if unit.calibration else ""))


@main.group()
def instruments():
    """Rating instruments: the built-in definitions, and checking your own."""


@instruments.command("list")
def instruments_list():
    """The built-in instrument definitions."""
    from coder.study.instruments import builtin

    for inst in builtin().values():
        parts = [f"{len(inst.items)} items"] + ([f"{len(inst.markers)} markers"] if inst.markers else [])
        click.echo(f"{inst.id}\tversion {inst.version}\t{inst.rating_unit}\t{', '.join(parts)}\t{inst.name}")


@instruments.command("show")
@click.argument("instrument")
def instruments_show(instrument):
    """A built-in definition (by id) or a definition file, as YAML."""
    import yaml

    from coder.study.instruments import InstrumentError, builtin, load, to_data

    try:
        inst = load(instrument) if Path(instrument).is_file() else builtin(instrument)
    except (InstrumentError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    click.echo(yaml.safe_dump(to_data(inst), sort_keys=False,
                              allow_unicode=True, width=100), nl=False)


@instruments.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
def instruments_validate(paths):
    """Check definition files; every mistake is listed with its field. Exit status 1 if any is invalid."""
    from coder.study.instruments import InstrumentError, load

    bad = 0
    for path in paths:
        try:
            inst = load(path)
        except InstrumentError as exc:
            bad += 1
            click.echo(f"{path}: invalid", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            continue
        click.echo(f"{path}: valid ({inst.id} version {inst.version}, {len(inst.items)} items)")
    sys.exit(1 if bad else 0)


def _instrument(ref):
    from coder.study.instruments import InstrumentError, builtin, load

    try:
        return load(ref) if Path(ref).is_file() else builtin(ref)
    except (InstrumentError, KeyError) as exc:
        fail(str(exc).strip("'\""))


@instruments.command("import")
@click.argument("instrument")
@click.argument("wording", type=click.Path(dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the new definition here (YAML).")
@click.option("--version", "version", help="Version of the new definition (default: BASE-licensed).")
@click.option("--store", "store_it", is_flag=True, help="Store it in the study database.")
@click.pass_context
def instruments_import(ctx, instrument, wording, out_path, version, store_it):
    """Give INSTRUMENT (a built-in id or a definition file) the licensed item wording in WORDING
    (CSV with columns item, text[, description, reverse, required, subscale], or YAML item: text)."""
    import yaml

    from coder.study.instruments import InstrumentError, import_wording, store, to_data

    if not out_path and not store_it:
        fail("say where the result goes: --out FILE, --store, or both")
    try:
        result = import_wording(_instrument(instrument), wording, version)
    except InstrumentError as exc:
        click.echo(f"error: {exc.source}: nothing imported", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    if out_path:
        from coder.pipeline.formats import atomic_write

        atomic_write(Path(out_path), yaml.safe_dump(to_data(result), sort_keys=False, allow_unicode=True, width=100))
        click.echo(f"wrote {result.id} version {result.version} to {out_path}")
    if store_it:
        _s, database = _database(ctx.parent.parent)
        with database.session() as db:
            row = store(db, result)
            click.echo(f"stored {row.key} version {row.version}")


@instruments.command("store")
@click.argument("instrument")
@click.pass_context
def instruments_store(ctx, instrument):
    """Store INSTRUMENT (a built-in id or a definition file) in the study database. A changed definition whose
    version already has ratings is stored as a new version; the old ratings keep theirs."""
    from coder.study.instruments import store

    inst = _instrument(instrument)
    _s, database = _database(ctx.parent.parent)
    with database.session() as db:
        row = store(db, inst)
        click.echo(f"stored {row.key} version {row.version}" + (
            f" (version {inst.version} has ratings and was left as it was)" if row.version != inst.version else ""))


@main.command("reliability")
@click.argument("ratings_csv", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--target", help="Column naming the rated unit.")
@click.option("--rater", help="Column naming the rater.")
@click.option("--score", help="Column holding the score.")
@click.option("--level", type=click.Choice(["nominal", "ordinal", "interval", "ratio"]), default="interval",
              show_default=True, help="Level of measurement for Krippendorff's alpha (nominal adds Fleiss' kappa).")
@click.option("--weights", type=click.Choice(["linear", "quadratic"]), help="Weights of Cohen's kappa (two raters).")
@click.option("--bootstrap", "n_boot", default=1000, show_default=True, type=int,
              help="Bootstrap samples for alpha's interval (0: none).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--study", help="Report on the stored ratings of this study instead of a CSV.")
@click.option("--instrument", "instrument_key", help="With --study: the instrument's key[:version].")
@click.option("--gold", help="With --study: the gold-standard rater (default: the study's, if set).")
@click.option("--measure", default="total", show_default=True,
              help="With --study: the measure for drift (total, subscale:ID or item:ID).")
@click.option("--periods", default=4, show_default=True, type=int, help="With --study: periods for drift.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="With --study: write reliability.json and "
              "reliability.csv here.")
@click.pass_context
def reliability_cmd(ctx, ratings_csv, target, rater, score, level, weights, n_boot, seed, as_json, study,
                    instrument_key, gold, measure, periods, out_dir):
    """Inter-rater reliability of RATINGS_CSV (long format: one row per target × rater score), or with
    --study and --instrument the full report on a study's submitted ratings."""
    import json

    import pandas as pd

    from coder.stats.reliability import ReliabilityError, summary

    if study:
        if ratings_csv:
            fail("give either RATINGS_CSV or --study, not both")
        _study_report(ctx, study, instrument_key, level, gold, measure, periods, n_boot, seed, as_json, out_dir)
        return
    if not ratings_csv or not (target and rater and score):
        fail("give RATINGS_CSV with --target, --rater and --score (or --study with --instrument)")
    try:
        data = pd.read_csv(ratings_csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        fail(f"{ratings_csv}: not a readable CSV ({' '.join(str(exc).split())[:200]})")
    try:
        result = summary(data, target, rater, score, level, weights, n_boot, seed)
    except ReliabilityError as exc:
        fail(f"{ratings_csv}: {exc}")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{result['n_targets']} targets, {result['n_raters']} raters")
    if result["icc"]:
        for name, f in result["icc"].items():
            if f is None:
                click.echo(f"{name:9s} not estimable in this design")
                continue
            test = (f"F({f['df1']:g}, {f['df2']:g}) = {f['F']:.2f}, p = {f['p']:.4g}  " if f["F"] is not None
                    else "")
            label = f"{f['name']} (k̂ = {f['k']:.2f})" if f.get("name") else name
            click.echo(f"{label:9s} {f['value']:7.3f}  95% CI [{f['ci95'][0]:.3f}, {f['ci95'][1]:.3f}]  "
                       f"{test}({f['model']}, {f['type']}, {f['definition']})")
        click.echo(result["icc_estimator"])
    else:
        click.echo(f"ICC: {result['icc_error']}")
    ka = result["krippendorff_alpha"]
    if ka["value"] is None:
        click.echo(f"Krippendorff's alpha: {ka['error']}")
    else:
        ci = f"  95% CI [{ka['ci95'][0]:.3f}, {ka['ci95'][1]:.3f}]" if ka.get("ci95") else ""
        click.echo(f"Krippendorff's alpha ({level}) {ka['value']:.3f}{ci}")
    for key, label in (("fleiss_kappa", "Fleiss' kappa"), ("weighted_kappa", "Cohen's kappa")):
        if key in result:
            value = result[key]["value"]
            click.echo(f"{label} {value:.3f}" if value is not None else f"{label}: {result[key]['error']}")


def _study_report(ctx, study_name, instrument_key, level, gold, measure, periods, n_boot, seed, as_json, out_dir):
    import json

    from coder.rating.scores import NoRatings, ratings_table
    from coder.reports import reliability as rr
    from coder.stats.jsonsafe import json_safe
    from coder.study.tree import find_study

    if not instrument_key:
        fail("--study needs --instrument KEY[:VERSION]")
    key, _, version = instrument_key.partition(":")
    _s, database = _database(ctx)
    with database.session() as db:
        study = find_study(db, study_name)
        if study is None:
            fail(f"no study named {study_name}")
        try:
            definition, table = ratings_table(db, study, key, version or None)
        except NoRatings as exc:
            fail(str(exc))
        gold = gold or (study.settings or {}).get("gold_standard")
    if gold and gold not in set(table["rater"]):
        fail(f"gold-standard rater {gold} has no submitted ratings on {key} in {study_name}")
    report = rr.build(table, definition, study_name, level, gold, measure, periods, n_boot, seed)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "reliability.json").write_text(json.dumps(json_safe(report), indent=1, default=str))
        rr.to_rows(report).to_csv(out / "reliability.csv", index=False)
    if as_json:
        click.echo(json.dumps(json_safe(report), indent=1, default=str))
        return
    click.echo(f"{study_name} · {definition.name} v{definition.version}: {report['n_ratings']} ratings of "
               f"{report['n_units']} units by {len(report['raters'])} raters")
    for m in report["measures"]:
        a1 = (m.get("icc") or {}).get("ICC(A,1)")
        ka = m["krippendorff_alpha"]
        icc_text = (f"{a1['value']:.3f} [{a1['ci95'][0]:.2f}, {a1['ci95'][1]:.2f}] {a1['interpretation']}"
                    if a1 else "–")
        click.echo(f"{m['label'][:40]:40s} ICC(A,1) {icc_text}"
                   + "  alpha " + (f"{ka['value']:.3f}" if ka["value"] is not None else "–"))
    if out_dir:
        click.echo(f"wrote {Path(out_dir) / 'reliability.json'} and {Path(out_dir) / 'reliability.csv'}")


@main.command("study")
@click.argument("name")
@click.option("--show", multiple=True, metavar="FIELD",
              help="Let raters see FIELD: session_number, time_point, treatment_arm, dyad, other_ratings.")
@click.option("--hide", multiple=True, metavar="FIELD", help="Hide FIELD from raters again (the default).")
@click.option("--queue-order", type=click.Choice(["random", "assigned", "chronological"]),
              help="The order of each rater's queue (default random).")
@click.option("--queue-seed", type=int, help="Seed of the random queue order.")
@click.option("--gold-standard", "gold", metavar="RATER", help="The rater whose ratings are the gold standard in "
              "reliability reports (\"\" to clear).")
@click.option("--add-coordinator", "add_coordinators", multiple=True, metavar="USER",
              help="Let coordinator USER see and run the study.")
@click.option("--remove-coordinator", "remove_coordinators", multiple=True, metavar="USER",
              help="Take the study away from coordinator USER (not its last coordinator).")
@click.pass_context
def study_cmd(ctx, name, show, hide, queue_order, queue_seed, gold, add_coordinators, remove_coordinators):
    """Show or change what raters of study NAME may see, how their queues are ordered, and who coordinates it."""
    from sqlalchemy import select

    from coder.study import access
    from coder.study.models import User
    from coder.study.tree import find_study
    from coder.rating.workspace import BLINDING_FIELDS, blinding
    from coder.study.audit import audit

    for field in (*show, *hide):
        if field not in BLINDING_FIELDS:
            fail(f"unknown field {field}; choose from {', '.join(BLINDING_FIELDS)}")
    _s, database = _database(ctx)
    with database.session() as db:
        study = find_study(db, name)
        if study is None:
            fail(f"no study named {name}")
        settings = dict(study.settings or {})
        shown = {k: v for k, v in blinding(study).items() if v}
        shown.update({f: True for f in show})
        for f in hide:
            shown.pop(f, None)
        settings["blinding"] = shown
        if queue_order:
            settings["queue_order"] = queue_order
        if queue_seed is not None:
            settings["queue_seed"] = queue_seed
        if gold is not None:
            if gold and db.scalar(select(User).where(User.username == gold, User.role == "rater")) is None:
                fail(f"no rater named {gold}")
            if gold:
                settings["gold_standard"] = gold
            else:
                settings.pop("gold_standard", None)
        if settings != (study.settings or {}):
            audit(db, "settings", study, before=study.settings or {}, after=settings)
            study.settings = settings
        for username in (*add_coordinators, *remove_coordinators):
            user = db.scalar(select(User).where(User.username == username))
            if user is None:
                fail(f"no user named {username}")
            try:
                (access.grant if username in add_coordinators else access.revoke)(db, study, user, None)
            except access.AccessError as exc:
                fail(str(exc))
        visible = [f for f, v in blinding(study).items() if v]
        coordinators = ", ".join(u.username for u in access.coordinators_of(db, study)) or "none"
        click.echo(f"study {study.name}: coordinators {coordinators}; "
                   f"raters see {', '.join(visible) or 'no unblinding detail'}; "
                   f"queue order {settings.get('queue_order', 'random')}"
                   + (f" (seed {settings['queue_seed']})" if "queue_seed" in settings else "")
                   + (f"; gold standard {settings['gold_standard']}" if settings.get("gold_standard") else ""))


@main.command("assign")
@click.argument("rater")
@click.argument("unit_ids", nargs=-1, type=int, required=True)
@click.option("--instrument", "instrument_ref", required=True,
              help="Stored instrument id, optionally with :VERSION (default: its newest version).")
@click.pass_context
def assign_cmd(ctx, rater, unit_ids, instrument_ref):
    """Assign rating units (ids from `coder units list`) to RATER on an instrument."""
    from sqlalchemy import select

    from coder.cli.coordination import stored_instrument
    from coder.rating import designs
    from coder.study.models import RatingUnit, User

    _s, database = _database(ctx)
    with database.session() as db:
        user = db.scalar(select(User).where(User.username == rater))
        if user is None or user.role != "rater" or not user.active:
            fail(f"no active rater {rater}")
        instrument = stored_instrument(db, instrument_ref)
        units = []
        for unit_id in unit_ids:
            unit = db.get(RatingUnit, unit_id)
            if unit is None or not unit.live:
                fail(f"no rating unit {unit_id}")
            units.append(unit)
        for unit, assignment in designs.assign(db, user, units, instrument, None):
            click.echo(f"unit {unit.id}: already assigned to {rater}" if assignment is None else
                       f"unit {unit.id}: assigned to {rater} on {instrument.key} version {instrument.version}")


@main.group()
def users():
    """Manage coordinator and rater accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["coordinator", "rater"]), required=True)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password", help="Password (prompted when omitted; at least 10 characters).")
@click.option("--study", "studies", multiple=True, metavar="NAME", help="A study the coordinator coordinates.")
@click.pass_context
def users_add(ctx, username, role, display_name, password, studies):
    """Create an account."""
    from sqlalchemy import select

    from coder.study import access
    from coder.study.accounts import AccountError, create_user
    from coder.study.tree import find_study

    _s, database = _database(ctx.parent)
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with database.session() as db:
            user = create_user(db, username, password, role, display_name)
            for name in studies:
                study = find_study(db, name)
                if study is None:
                    raise AccountError(f"no study named {name}")
                access.grant(db, study, user, None)
    except (AccountError, access.AccessError) as exc:
        fail(str(exc))
    click.echo(f"created {role} {username}")


@users.command("list")
@click.pass_context
def users_list(ctx):
    """List accounts."""
    from sqlalchemy import select

    from coder.study.models import User

    _s, database = _database(ctx.parent)
    with database.session() as db:
        for user in db.scalars(select(User).order_by(User.role, User.username)):
            click.echo(f"{user.username}\t{user.role}\t{'active' if user.active else 'inactive'}")


@main.command("backup")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-missing", is_flag=True, help="Back up even when recording files are missing (listed in "
              "the manifest).")
@click.pass_context
def backup_cmd(ctx, archive, allow_missing):
    """Write the database and the recordings to ARCHIVE (a tar file; see docs/security.md#backups)."""
    from coder.ops.backup import BackupError, backup

    settings, database = _database(ctx)
    try:
        summary = backup(settings, database, archive, allow_missing)
    except BackupError as exc:
        fail(str(exc))
    rows = sum(summary.tables.values())
    click.echo(f"wrote {summary.path}: {rows} rows in {len(summary.tables)} tables, {summary.files} recording "
               f"file(s) ({summary.bytes / 1e6:.1f} MB), schema revision {summary.revision}")


@main.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def restore_cmd(ctx, archive):
    """Restore ARCHIVE (from coder backup) into the configured, empty database and CODER_HOME."""
    from coder.ops.backup import BackupError, restore

    settings, database = _database(ctx, must_exist=False)
    try:
        summary = restore(archive, settings, database)
    except BackupError as exc:
        fail(str(exc))
    click.echo(f"restored {sum(summary.tables.values())} rows in {len(summary.tables)} tables and "
               f"{summary.files} recording file(s) into {settings.home}; schema revision {summary.revision}")


def _serve(app, host: str, port: int, worker: bool = True):
    from waitress import serve as waitress_serve

    from coder.jobs import queue as tasks

    embedded = None
    if worker:  # an embedded worker for the recordings queued in the browser (coder worker adds more)
        embedded = tasks.start_embedded(app.extensions["coder.settings"], app.extensions["coder.db"])
        click.echo(f"Processing jobs from {tasks.queue_url(app.extensions['coder.settings'])} in this process "
                   "(--no-worker to leave them to `coder worker`)")
    click.echo(f"Serving coder on http://{host}:{port}  (Ctrl+C to stop)")
    try:
        # waitress refuses bodies over 1 GiB by default; the app's own limit (CODER_MAX_UPLOAD_BYTES) governs
        waitress_serve(app, host=host, port=port, threads=8, ident="coder",
                       max_request_body_size=app.config["MAX_CONTENT_LENGTH"])
    finally:
        if embedded is not None:
            embedded.stop()


NO_WORKER = click.option("--no-worker", is_flag=True,
                         help="Do not process queued recordings in this process (run `coder worker` instead).")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@NO_WORKER
@click.pass_context
def serve(ctx, host, port, no_worker):
    """Serve the web app for the configured database (SQLite by default, PostgreSQL via DATABASE_URL)."""
    from coder.web.app import create_app

    settings, database = _database(ctx)
    _serve(create_app(settings, database), host, port, worker=not no_worker)


@main.command()
@click.option("--engine", type=click.Choice(["openai-whisper", "faster-whisper"]), default="openai-whisper",
              show_default=True)
@click.option("--model", help="Whisper model name or local path. Env: CODER_WHISPER_MODEL.")
@click.option("--sample-dir", type=click.Path(file_okay=False), help="Folder with the demo manifest.csv.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Set up the demo and exit without serving.")
@NO_WORKER
@click.pass_context
def demo(ctx, engine, model, sample_dir, host, port, no_serve, no_worker):
    """Set up a demo study from sample_audio/, transcribe it, create accounts and serve the app."""
    from coder.web.app import create_app
    from coder.pipeline.asr import ModelUnavailable
    from coder.ops.demo import DemoError, prepare_demo

    home = Path(ctx.obj.get("home") or load_settings().home) / "demo"
    try:
        result = prepare_demo(home, sample_dir=sample_dir, engine=engine, model=model, echo=click.echo)
    except ModelUnavailable as exc:
        fail(str(exc), code=2)
    except DemoError as exc:
        fail(f"demo: {exc}")
    click.echo(f"Demo study ready in {home}")
    click.echo("Demo accounts (new passwords each run):")
    for username, role, password in result.credentials:
        click.echo(f"  {role:<12} user {username:<12} password {password}")
    if no_serve:
        return
    _serve(create_app(result.settings, result.database), host, port, worker=not no_worker)


