"""Registered recordings and their processing: ``coder ingest``, ``coder process`` (in this process), and the job
queue, ``coder jobs`` and ``coder worker``."""
from __future__ import annotations

import logging
import os
import sys

import click

from coder.cli import engines
from coder.cli.common import fail, open_database, settings, study_named

JOB_REASON = click.option("--reason", default="")


@click.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--study", help="Study name for rows without a study column.")
@click.pass_context
def ingest(ctx, manifest, study):
    """Register recordings with their dyad and session from a CSV MANIFEST.

    Columns: file, therapist, client, session (required); dyad, study, date,
    time_point, arm (optional). Paths are relative to the manifest.
    """
    from coder.study.ingest import ManifestError, ingest_manifest

    database = open_database(ctx)
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


def _done(recording_id: int, name: str, error: str | None) -> None:
    click.echo(f"{'error: ' if error else ''}{name}: {error or 'transcribed'}", err=bool(error))


def _warning(recording_id: int, name: str, warning: str) -> None:
    click.echo(f"warning: {name}: {warning}", err=True)


@click.command()
@engines.engine_options
@click.pass_context
def process(ctx, engine, model, diarizer, num_speakers, diarizer_model, language, no_vad, beam_size):
    """Transcribe every registered recording not yet transcribed with this engine and model, then compute and
    store each one's session process measures."""
    from coder.jobs.processing import pending_recordings, process_recordings

    database, config = open_database(ctx), settings(ctx)
    asr = engines.load(config.models_dir, engine, model, diarizer, beam_size, diarizer_model)
    todo = pending_recordings(database, asr)
    click.echo(f"{len(todo)} recording(s) to transcribe with {asr.name} ({asr.model_label})")
    ok, failed = process_recordings(
        database, asr, config.transcripts_dir, diarizer=diarizer, num_speakers=engines.speaker_count(num_speakers),
        language=language, use_vad=not no_vad, diarizer_options=engines.diarizer_options(diarizer, diarizer_model),
        playback_dir=config.playback_dir, on_done=_done, on_warning=_warning, measure=True)
    click.echo(f"{ok} transcribed, {failed} failed")
    sys.exit(1 if failed else 0)


@click.command("worker")
@click.option("--workers", default=1, show_default=True, type=int, help="Jobs run at once in this process.")
@click.option("--processes", is_flag=True, help="Run them in processes instead of threads.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where the engine runs (default: CUDA when "
              "available). Env: CODER_DEVICE.")
@click.pass_context
def worker_cmd(ctx, workers, processes, device):
    """Process queued recordings (transcription and diarisation) until interrupted.

    Jobs come from CODER_QUEUE_URL (default: the embedded SQLite queue in CODER_HOME); run as many workers,
    on as many machines, as you like against one queue and one DATABASE_URL.
    """
    from coder.jobs import queue

    if device:
        os.environ["CODER_DEVICE"] = device
    database, config = open_database(ctx), settings(ctx)
    queue.configure(config, database)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo(f"coder worker {queue.worker_name()}: {workers} {'process' if processes else 'thread'}(s) on "
               f"{queue.queue_url(config)}")
    queue.run_worker(workers, "process" if processes else "thread")


@click.group("jobs", invoke_without_command=True)
@click.option("--study", help="Only this study's recordings.")
@click.pass_context
def jobs_cmd(ctx, study):
    """Processing jobs: their status and progress; `coder jobs submit|cancel` to add or stop them."""
    if ctx.invoked_subcommand is None:
        _list_jobs(ctx, study)


def _recordings(db, study: str | None, ids: tuple[int, ...] = ()):
    """The live recordings of the study named (of every study: None), only ``ids`` when given, by id."""
    from coder.study.tree import recordings

    return recordings(db, study_named(db, study) if study else None, ids or None, by_id=True)


def _list_jobs(ctx, study):
    with open_database(ctx).session() as db:
        click.echo("recording\tstatus\tprogress\tattempts\tworker\terror")
        for r in _recordings(db, study):
            share = f"{100 * r.progress_s / r.duration_s:.0f} %" if r.duration_s else "-"
            click.echo(f"{r.id} {r.original_name}\t{r.status}\t{share} ({r.progress_s:.0f}/{r.duration_s:.0f} s)"
                       f"\t{r.attempts}\t{r.worker or ''}\t{r.error or ''}")


@jobs_cmd.command("submit")
@click.argument("recording_ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every recording not yet transcribed (or failed).")
@JOB_REASON
@click.pass_context
def jobs_submit(ctx, recording_ids, everything, reason):
    """Queue recordings for `coder worker` (or the server's embedded worker)."""
    from coder.jobs import queue

    if not recording_ids and not everything:
        fail("name recordings, or --all")
    database = open_database(ctx)
    with database.session() as db:
        chosen = _recordings(db, ctx.parent.params["study"], recording_ids)
        if everything and not recording_ids:
            chosen = queue.unprocessed(chosen)
        queued = queue.submit(db, chosen, None, reason)
    queue.enqueue(queued, queue.make_huey(settings(ctx)))
    click.echo(f"{len(queued)} recording(s) queued")


@jobs_cmd.command("cancel")
@click.argument("recording_ids", nargs=-1, type=int, required=True)
@JOB_REASON
@click.pass_context
def jobs_cancel(ctx, recording_ids, reason):
    """Cancel queued or running jobs (a running one stops at its next progress report)."""
    from coder.jobs import queue

    with open_database(ctx).session() as db:
        done = queue.cancel(db, _recordings(db, ctx.parent.params["study"], recording_ids), None, reason)
    click.echo(f"{len(done)} job(s) cancelled")


COMMANDS = (ingest, process, worker_cmd, jobs_cmd)
