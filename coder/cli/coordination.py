"""Running a study: its settings and coordinators (``coder study``), designs (``coder design``), a leaving rater's
work (``coder reassign``), and how the work goes (``coder progress``, ``coder calibration``). The study page, the
dashboard and the calibration page in the browser do the same."""
from __future__ import annotations

import click

from coder.cli.common import REASON, fail, json_text, open_database, rater, stored_instrument, study_named


@click.command("study")
@click.argument("name")
@click.option("--show", multiple=True, metavar="FIELD",
              help="Let raters see FIELD: session_number, time_point, treatment_arm, dyad, other_ratings.")
@click.option("--hide", multiple=True, metavar="FIELD", help="Hide FIELD from raters again (the default).")
@click.option("--queue-order", type=click.Choice(["random", "assigned", "chronological"]),
              help="The order of each rater's queue (default random).")
@click.option("--queue-seed", type=int, help="Seed of the random queue order.")
@click.option("--gold-standard", "gold", metavar="RATER", help="The rater whose ratings are the gold standard in "
              "reliability reports (\"\" to clear).")
@click.option("--rater-study-label", "rater_label", metavar="LABEL",
              help="What raters read for the study instead of its name (a neutral label such as \"Study 1\").")
@click.option("--hide-study-name", is_flag=True, help="Raters read nothing for the study's name.")
@click.option("--show-study-name", is_flag=True, help="Raters read the study's name again (the default).")
@click.option("--add-coordinator", "add_coordinators", multiple=True, metavar="USER",
              help="Let coordinator USER see and run the study.")
@click.option("--remove-coordinator", "remove_coordinators", multiple=True, metavar="USER",
              help="Take the study away from coordinator USER (not its last coordinator).")
@click.option("--add-transcriber", "add_transcribers", multiple=True, metavar="USER",
              help="Let transcriber USER correct the study's transcripts.")
@click.option("--remove-transcriber", "remove_transcribers", multiple=True, metavar="USER",
              help="Take the study's transcripts away from transcriber USER.")
@click.pass_context
def study_cmd(ctx, name, show, hide, queue_order, queue_seed, gold, rater_label, hide_study_name, show_study_name,
              add_coordinators, remove_coordinators, add_transcribers, remove_transcribers):
    """Show or change what raters of study NAME may see (and read for its name), how their queues are ordered,
    and who coordinates it and corrects its transcripts."""
    from coder.rating import workspace

    try:
        workspace.check_blinding((*show, *hide))
    except workspace.SettingsError as exc:
        fail(str(exc))
    label_choices = [c for c, given in (("label", rater_label is not None), ("hidden", hide_study_name),
                                        ("name", show_study_name)) if given]
    if len(label_choices) > 1:
        fail("give one of --rater-study-label, --hide-study-name and --show-study-name")
    with open_database(ctx).session() as db:
        study = study_named(db, name)
        try:
            settings = workspace.configure(db, study, None, show, hide, queue_order, queue_seed, gold)
            if label_choices:
                settings = workspace.set_study_label(db, study, None, label_choices[0], rater_label or "")
        except workspace.SettingsError as exc:
            fail(str(exc))
        _coordinators(db, study, add_coordinators, remove_coordinators, "coordinator")
        _coordinators(db, study, add_transcribers, remove_transcribers, "transcriber")
        _echo_study(db, study, settings)


def _coordinators(db, study, add: tuple[str, ...], remove: tuple[str, ...], role: str) -> None:
    from coder.study import access
    from coder.study.accounts import find_user

    for username in (*add, *remove):
        user = find_user(db, username)
        if user is None:
            fail(f"no user named {username}")
        if user.role != role:
            fail(f"{username} is a {user.role}, not a {role}")
        try:
            (access.grant if username in add else access.revoke)(db, study, user, None)
        except access.AccessError as exc:
            fail(str(exc))


def _echo_study(db, study, settings: dict) -> None:
    from coder.rating.workspace import blinding, study_label
    from coder.study.access import coordinators_of, transcribers_of

    visible = [f for f, v in blinding(study).items() if v]
    label = study_label(study)
    read = ("no study name" if not label else "the study's name" if label == study.name else f"the study as {label!r}")
    coordinators = ", ".join(u.username for u in coordinators_of(db, study)) or "none"
    transcribers = ", ".join(u.username for u in transcribers_of(db, study))
    click.echo(f"study {study.name}: coordinators {coordinators}; "
               + (f"transcribers {transcribers}; " if transcribers else "")
               + f"raters see {', '.join(visible) or 'no unblinding detail'}; "
               f"queue order {settings.get('queue_order', 'random')}"
               + (f" (seed {settings['queue_seed']})" if "queue_seed" in settings else "")
               + (f"; gold standard {settings['gold_standard']}" if settings.get("gold_standard") else "")
               + f"; raters read {read}")


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
@REASON
@click.option("--dry-run", is_flag=True, help="Show the plan without storing it.")
@click.pass_context
def design_cmd(ctx, study, instrument_ref, kind, raters, overlap, coders, seed, due, reason, dry_run):
    """Assign STUDY's unassigned rating units to raters with a design."""
    from coder.rating import designs

    with open_database(ctx).session() as db:
        s = study_named(db, study)
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
        for name, n in summary["per_rater"].items():
            click.echo(f"  {name}\t{n} unit(s), {summary['multiply_coded_per_rater'][name]} multiply coded")
        if dry_run:
            db.rollback()
            click.echo("dry run: nothing stored")


@click.command("reassign")
@click.argument("rater_name", metavar="RATER")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--to", "to", multiple=True, help="Only to these raters (repeatable; default: every other active one).")
@click.option("--study", help="Only this study's assignments.")
@click.option("--deactivate", is_flag=True, help="Deactivate RATER too (their ratings stay).")
@click.pass_context
def reassign_cmd(ctx, rater_name, reason, to, study, deactivate):
    """Move RATER's unrated assignments to other raters (a rater who leaves)."""
    from coder.rating import designs
    from coder.study.accounts import set_active

    with open_database(ctx).session() as db:
        user = rater(db, rater_name)
        try:
            moved = designs.reassign(db, user, None, reason, list(to) or None,
                                     [study_named(db, study).id] if study else None)
        except designs.DesignError as exc:
            fail(str(exc))
        for unit_id, new in moved:
            click.echo(f"unit {unit_id}: {rater_name} -> {new}")
        if deactivate:
            set_active(db, user, False, None, reason)
        click.echo(f"{len(moved)} assignment(s) moved" + (f"; {rater_name} deactivated" if deactivate else ""))


@click.command("progress")
@click.argument("study")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def progress_cmd(ctx, study, as_json):
    """Units done per rater and instrument, overdue assignments, processing and current reliability."""
    from coder.rating import progress

    with open_database(ctx).session() as db:
        out = progress.overview(db, study_named(db, study))
    if as_json:
        click.echo(json_text(out))
        return
    recordings = ", ".join(f"{n} {k}" for k, n in sorted(out["processing"].items())) or "none"
    click.echo(f"study {out['study']}: recordings {recordings}")
    click.echo("rater\tinstrument\tassigned\tto do\tdraft\tsubmitted\toverdue")
    for r in out["work"]:
        click.echo(f"{r['rater']}\t{r['instrument']}\t{r['assigned']}\t{r['to do']}\t{r['draft']}\t{r['submitted']}"
                   f"\t{r['overdue']}")
    for r in out["reliability"]:
        _echo_reliability(r)
    for f in out["calibration_flags"]:
        click.echo(f"flag: {f['rater']} on {f['instrument']}: {f['statistic']} {f['current']:.2f} below "
                   f"{f['threshold']:.2f}" + (" (drift)" if f["drifting"] else ""))


def _echo_reliability(r: dict) -> None:
    a1 = (r.get("icc") or {}).get("ICC(A,1)")
    click.echo(f"reliability {r['instrument']} ({r['measure']}): {r['units']} unit(s) multiply rated; ICC(A,1) "
               + (f"{a1['value']:.3f}" if a1 and a1.get("value") is not None else "-")
               + (f", alpha {r['alpha']:.3f}" if r.get("alpha") is not None else "")
               + (f" ({r['note']})" if r.get("note") else ""))


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
    from coder.rating import calibration, progress

    with open_database(ctx).session() as db:
        s = study_named(db, study)
        if any(v is not None for v in (master, statistic, threshold, window)):
            try:
                calibration.save_settings(db, s, None, statistic or None, threshold, window or None, master)
            except calibration.CalibrationError as exc:
                fail(str(exc))
        reports = [calibration.agreement(db, s, key) for key in (instrument_keys or progress.instrument_keys(db, s))]
    if as_json:
        click.echo(json_text(reports))
        return
    for report in reports:
        _echo_agreement(report)


def _echo_agreement(report: dict) -> None:
    click.echo(f"{report['instrument']}: master {report['master'] or '-'}; {report['statistic']} over the "
               f"latest {report['window']}, threshold {report['threshold']}"
               + (f" ({report['note']})" if report.get("note") else ""))
    for r in report["raters"]:
        value = "-" if r["current"] is None else f"{r['current']:.2f}"
        flag = "DRIFTED BELOW" if r["drifting"] else "BELOW" if r["flagged"] else "ok"
        click.echo(f"  {r['rater']}\t{r['n']} rating(s)\tcurrent {value}\t{flag}")


COMMANDS = (study_cmd, design_cmd, reassign_cmd, progress_cmd, calibration_cmd)
