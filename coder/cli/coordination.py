"""The command line of study coordination: ``coder design``, ``coder reassign``, ``coder progress`` and
``coder calibration`` (the study page, dashboard and calibration page in the browser do the same)."""
from __future__ import annotations

import json

import click
from sqlalchemy import select

from coder.cli.analysis import _study
from coder.cli.common import _database, fail


def _user(db, username: str):
    from coder.study.models import User

    user = db.scalar(select(User).where(User.username == username))
    if user is None or user.role != "rater":
        fail(f"no rater named {username}")
    return user


def stored_instrument(db, ref: str):
    """The stored instrument KEY[:VERSION] (its newest version by default), or exit with the reason."""
    from coder.study import instruments

    key, _, version = ref.partition(":")
    row = instruments.find(db, key, version or None)
    if row is None:
        fail(f"instrument {ref} is not stored; store it with `coder instruments store`")
    return row


@click.command("design")
@click.argument("study")
@click.option("--instrument", "instrument_ref", required=True, help="Stored instrument key[:version].")
@click.option("--kind", type=click.Choice(["overlap", "crossed", "calibration"]), default="overlap",
              show_default=True, help="overlap: one rater per unit and a fraction multiply coded; crossed: every "
              "rater every unit; calibration: every calibration unit to every rater and the master.")
@click.option("--rater", "raters", multiple=True, required=True, help="A rater (repeatable).")
@click.option("--overlap", default=0.2, show_default=True, type=float, help="Fraction of units multiply coded.")
@click.option("--coders", default=2, show_default=True, type=int, help="Raters per multiply-coded unit (2 or 3).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the draw and the queue orders.")
@click.option("--due", type=click.DateTime(["%Y-%m-%d"]), help="Due date (YYYY-MM-DD) of the new assignments.")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.option("--dry-run", is_flag=True, help="Show the plan without storing it.")
@click.pass_context
def design_cmd(ctx, study, instrument_ref, kind, raters, overlap, coders, seed, due, reason, dry_run):
    """Assign STUDY's unassigned rating units to raters with a design."""
    from coder.rating import designs

    _s, database = _database(ctx.parent)
    with database.session() as db:
        s = _study(db, study)
        instrument = stored_instrument(db, instrument_ref)
        due_at = designs.due_end_of(due.date()) if due else None
        try:
            d = designs.create(db, s, instrument, kind, list(raters), None, overlap=overlap, coders=coders,
                               seed=seed, due=due_at, reason=reason)
        except designs.DesignError as exc:
            fail(str(exc))
        summary = d.summary
        click.echo(f"design {d.id} ({kind}, seed {seed}) on {instrument.key} {instrument.version}: "
                   f"{summary['added']} assignment(s) over {summary['units']} unit(s), "
                   f"{summary['multiply_coded']} coded by more than one rater")
        for rater, n in summary["per_rater"].items():
            click.echo(f"  {rater}\t{n} unit(s), {summary['multiply_coded_per_rater'][rater]} multiply coded")
        if dry_run:
            db.rollback()
            click.echo("dry run: nothing stored")


@click.command("reassign")
@click.argument("rater")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--to", "to", multiple=True, help="Only to these raters (repeatable; default: every other active one).")
@click.option("--study", help="Only this study's assignments.")
@click.option("--deactivate", is_flag=True, help="Deactivate RATER too (their ratings stay).")
@click.pass_context
def reassign_cmd(ctx, rater, reason, to, study, deactivate):
    """Move RATER's unrated assignments to other raters (a rater who leaves)."""
    from coder.rating import designs
    from coder.study.accounts import set_active

    _s, database = _database(ctx.parent)
    with database.session() as db:
        user = _user(db, rater)
        try:
            moved = designs.reassign(db, user, None, reason, list(to) or None,
                                     [_study(db, study).id] if study else None)
        except designs.DesignError as exc:
            fail(str(exc))
        for unit_id, new in moved:
            click.echo(f"unit {unit_id}: {rater} -> {new}")
        if deactivate:
            set_active(db, user, False, None, reason)
        click.echo(f"{len(moved)} assignment(s) moved" + (f"; {rater} deactivated" if deactivate else ""))


@click.command("progress")
@click.argument("study")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def progress_cmd(ctx, study, as_json):
    """Units done per rater and instrument, overdue assignments, processing and current reliability."""
    from coder.rating import calibration, progress
    from coder.stats.jsonsafe import json_safe

    _s, database = _database(ctx.parent)
    with database.session() as db:
        s = _study(db, study)
        work = progress.work(db, s)
        out = {"study": s.name, "processing": progress.processing(db, s), "work": work["rows"],
               "totals": work["totals"], "overdue": work["overdue"], "reliability": progress.reliability(db, s),
               "calibration_flags": calibration.flags(db, s, progress.instrument_keys(db, s))}
    if as_json:
        click.echo(json.dumps(json_safe(out), default=str, indent=1))
        return
    recordings = ", ".join(f"{n} {k}" for k, n in sorted(out["processing"].items())) or "none"
    click.echo(f"study {out['study']}: recordings {recordings}")
    click.echo("rater\tinstrument\tassigned\tto do\tdraft\tsubmitted\toverdue")
    for r in out["work"]:
        click.echo(f"{r['rater']}\t{r['instrument']}\t{r['assigned']}\t{r['to do']}\t{r['draft']}\t{r['submitted']}"
                   f"\t{r['overdue']}")
    for r in out["reliability"]:
        a1 = (r.get("icc") or {}).get("ICC(A,1)")
        click.echo(f"reliability {r['instrument']} ({r['measure']}): {r['units']} unit(s) multiply rated; ICC(A,1) "
                   + (f"{a1['value']:.3f}" if a1 and a1.get("value") is not None else "-")
                   + (f", alpha {r['alpha']:.3f}" if r.get("alpha") is not None else "")
                   + (f" ({r['note']})" if r.get("note") else ""))
    for f in out["calibration_flags"]:
        click.echo(f"flag: {f['rater']} on {f['instrument']}: {f['statistic']} {f['current']:.2f} below "
                   f"{f['threshold']:.2f}" + (" (drift)" if f["drifting"] else ""))


@click.command("calibration")
@click.argument("study")
@click.option("--instrument", "instrument_keys", multiple=True, help="Instrument key (repeatable; default: all "
              "the study's).")
@click.option("--master", help="Set the master (gold-standard) rater.")
@click.option("--statistic", type=click.Choice(["within_one", "icc"]), help="Set the agreement statistic.")
@click.option("--threshold", type=float, help="Set the threshold below which a rater is flagged.")
@click.option("--window", type=int, help="Set how many recent calibration ratings the statistic covers.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def calibration_cmd(ctx, study, instrument_keys, master, statistic, threshold, window, as_json):
    """Each rater's agreement with the master rater on calibration units, and who is flagged."""
    from coder.rating import calibration as cal
    from coder.rating import progress
    from coder.stats.jsonsafe import json_safe

    _s, database = _database(ctx.parent)
    with database.session() as db:
        s = _study(db, study)
        if any(v is not None for v in (master, statistic, threshold, window)):
            conf = cal.settings_of(s)
            try:
                cal.save_settings(db, s, None, statistic or conf["statistic"],
                                  conf["threshold"] if threshold is None else threshold, window or conf["window"],
                                  master)
            except cal.CalibrationError as exc:
                fail(str(exc))
        reports = [cal.agreement(db, s, key) for key in (instrument_keys or progress.instrument_keys(db, s))]
    if as_json:
        click.echo(json.dumps(json_safe(reports), default=str, indent=1))
        return
    for report in reports:
        click.echo(f"{report['instrument']}: master {report['master'] or '-'}; {report['statistic']} over the "
                   f"latest {report['window']}, threshold {report['threshold']}"
                   + (f" ({report['note']})" if report.get("note") else ""))
        for r in report["raters"]:
            value = "-" if r["current"] is None else f"{r['current']:.2f}"
            flag = "DRIFTED BELOW" if r["drifting"] else "BELOW" if r["flagged"] else "ok"
            click.echo(f"  {r['rater']}\t{r['n']} rating(s)\tcurrent {value}\t{flag}")


COMMANDS = (design_cmd, reassign_cmd, progress_cmd, calibration_cmd)


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
    import logging
    import os

    from coder.jobs import queue as tasks
    from coder.cli.common import _settings

    if device:
        os.environ["CODER_DEVICE"] = device
    settings, database = _database(ctx.parent)
    tasks.configure(settings, database)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo(f"coder worker {tasks.worker_name()}: {workers} {'process' if processes else 'thread'}(s) on "
               f"{tasks.queue_url(_settings(ctx.parent))}")
    tasks.run_worker(workers, "process" if processes else "thread")


@click.group("jobs", invoke_without_command=True)
@click.option("--study", help="Only this study's recordings.")
@click.pass_context
def jobs_cmd(ctx, study):
    """Processing jobs: their status and progress; `coder jobs submit|cancel` to add or stop them."""
    ctx.ensure_object(dict)
    ctx.obj["jobs_study"] = study
    if ctx.invoked_subcommand is None:
        _list_jobs(ctx, study)


def _recordings(db, study: str | None, ids: tuple[int, ...] = ()):
    from coder.study import scope
    from coder.study.models import Recording

    stmt = scope.in_study(select(Recording), Recording, _study(db, study) if study else None).order_by(Recording.id)
    if ids:
        stmt = stmt.where(Recording.id.in_(ids))
    return list(db.scalars(stmt))


def _list_jobs(ctx, study):
    _s, database = _database(ctx.parent)
    with database.session() as db:
        click.echo("recording\tstatus\tprogress\tattempts\tworker\terror")
        for r in _recordings(db, study):
            share = f"{100 * r.progress_s / r.duration_s:.0f} %" if r.duration_s else "-"
            click.echo(f"{r.id} {r.original_name}\t{r.status}\t{share} ({r.progress_s:.0f}/{r.duration_s:.0f} s)"
                       f"\t{r.attempts}\t{r.worker or ''}\t{r.error or ''}")


@jobs_cmd.command("submit")
@click.argument("recording_ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every recording not yet transcribed (or failed).")
@click.option("--reason", default="")
@click.pass_context
def jobs_submit(ctx, recording_ids, everything, reason):
    """Queue recordings for `coder worker` (or the server's embedded worker)."""
    from coder.jobs import queue as tasks

    if not recording_ids and not everything:
        fail("name recordings, or --all")
    settings, database = _database(ctx.parent.parent)
    with database.session() as db:
        chosen = _recordings(db, ctx.obj.get("jobs_study"), recording_ids)
        if everything and not recording_ids:
            chosen = [r for r in chosen if r.status in ("registered", "failed", "cancelled")]
        queued = tasks.submit(db, chosen, None, reason)
    tasks.enqueue(queued, tasks.make_huey(settings))
    click.echo(f"{len(queued)} recording(s) queued")


@jobs_cmd.command("cancel")
@click.argument("recording_ids", nargs=-1, type=int, required=True)
@click.option("--reason", default="")
@click.pass_context
def jobs_cancel(ctx, recording_ids, reason):
    """Cancel queued or running jobs (a running one stops at its next progress report)."""
    from coder.jobs import queue as tasks

    _s, database = _database(ctx.parent.parent)
    with database.session() as db:
        done = tasks.cancel(db, _recordings(db, ctx.obj.get("jobs_study"), recording_ids), None, reason)
    click.echo(f"{len(done)} job(s) cancelled")


COMMANDS = (*COMMANDS, worker_cmd, jobs_cmd)
