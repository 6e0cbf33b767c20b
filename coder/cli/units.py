"""Rating units and who rates them: ``coder units add|list|delete`` and, by hand, ``coder assign``."""
from __future__ import annotations

import click

from coder.cli.common import fail, open_database, rater, recording, stored_instrument

HOW = ("whole", "window", "range", "find")  # the ways of cutting units, in the order of their options


@click.group("units")
def units_group():
    """Rating units: the stretches of a recording that raters score."""


def _span_line(unit) -> str:
    return f"unit {unit.id}\t{unit.kind}\t{unit.start_s:.1f}–{unit.end_s:.1f} s\t{unit.label}"


@units_group.command("add")
@click.argument("recording_ref", metavar="RECORDING")
@click.option("--whole", is_flag=True, help="The whole session.")
@click.option("--window", "window_min", type=float, help="Fixed windows of this many minutes (e.g. 5, 10, 15), "
                                                         "boundaries moved to a pause within 5 s.")
@click.option("--range", "span", nargs=2, type=float, metavar="START END", help="A hand-picked range in seconds.")
@click.option("--find", "pattern", help="Ranges where the transcript mentions PATTERN (e.g. 'homework').")
@click.option("--context", type=float, default=120.0, show_default=True,
              help="With --find: seconds kept after each mention.")
@click.option("--label", default="", help="Label for a --range unit.")
@click.option("--instrument", "instrument_keys", multiple=True, required=True,
              help="A stored instrument the units are for (repeatable); the units must fit how it is rated.")
@click.option("--calibration", is_flag=True, help="Calibration units, rated by the master rater and all raters.")
@click.pass_context
def units_add(ctx, recording_ref, whole, window_min, span, pattern, context, label, instrument_keys, calibration):
    """Add rating units to RECORDING (id or file name)."""
    from coder.study import units

    chosen = [bool(whole), window_min is not None, bool(span), pattern is not None]
    if sum(chosen) != 1:
        fail("choose one of --whole, --window, --range or --find")
    how = HOW[chosen.index(True)]
    from coder.study import instruments

    with open_database(ctx).session() as db:
        rec = recording(db, recording_ref)
        definitions = [instruments.stored(stored_instrument(db, key)) for key in instrument_keys]
        try:
            units.check_for(how, window_min, definitions)
            spans = units.plan(rec, how, window_min, pattern, context, tuple(span) if span else None, label)
        except ValueError as exc:
            fail(str(exc))
        for unit in units.add(db, rec, spans, instrument_keys=sorted({d.id for d in definitions}),
                              calibration=calibration):
            click.echo(_span_line(unit) + ("\tcalibration" if calibration else ""))


@units_group.command("list")
@click.argument("recording_ref", metavar="RECORDING")
@click.pass_context
def units_list(ctx, recording_ref):
    """RECORDING's rating units, each with the start of its transcript excerpt."""
    from coder.study.units import excerpt

    with open_database(ctx).session() as db:
        rec = recording(db, recording_ref)
        transcript = rec.transcript
        roles = {s.label: s.role for s in transcript.speakers} if transcript else {}
        for unit in rec.rating_units:
            if not unit.live:
                continue
            part = excerpt(transcript.segments, unit.start_s, unit.end_s, roles) if transcript else []
            first = f"{(part[0]['role'] or part[0]['speaker']).capitalize()}: {part[0]['text'][:60]}" if part else ""
            click.echo(f"{_span_line(unit)}\t{len(part)} segments\t{first}"
                       + (f"\tfor {','.join(unit.instrument_keys)}" if unit.instrument_keys else "")
                       + ("\tcalibration" if unit.calibration else ""))


@units_group.command("delete")
@click.argument("unit_ids", nargs=-1, type=int, required=True)
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.pass_context
def units_delete(ctx, unit_ids, reason):
    """Delete rating units (ids from `coder units list`) that nobody has rated; their unrated assignments are
    withdrawn. A unit with any rating (a draft included) is refused, and then nothing is deleted."""
    from coder.study import units
    from coder.study.models import RatingUnit

    with open_database(ctx).session() as db:
        lines = []
        for unit_id in unit_ids:
            unit = db.get(RatingUnit, unit_id)
            if unit is None or not unit.live:
                fail(f"no rating unit {unit_id}")
            try:
                withdrawn = units.delete(db, unit, None, reason)
            except units.UnitError as exc:
                fail(f"{exc}; nothing deleted")
            lines.append(f"unit {unit_id} deleted" + (f" ({withdrawn} unrated assignment(s) withdrawn)"
                                                      if withdrawn else ""))
        click.echo("\n".join(lines))


@click.command("assign")
@click.argument("rater_name", metavar="RATER")
@click.argument("unit_ids", nargs=-1, type=int, required=True)
@click.option("--instrument", "instrument_ref", required=True,
              help="Stored instrument id, optionally with :VERSION (default: its newest version).")
@click.pass_context
def assign_cmd(ctx, rater_name, unit_ids, instrument_ref):
    """Assign rating units (ids from `coder units list`) to RATER on an instrument."""
    from coder.rating import designs
    from coder.study.models import RatingUnit

    with open_database(ctx).session() as db:
        user = rater(db, rater_name, active=True)
        instrument = stored_instrument(db, instrument_ref)
        chosen = []
        for unit_id in unit_ids:
            unit = db.get(RatingUnit, unit_id)
            if unit is None or not unit.live:
                fail(f"no rating unit {unit_id}")
            chosen.append(unit)
        try:
            placed = designs.assign(db, user, chosen, instrument, None)
        except designs.DesignError as exc:
            fail(str(exc))
        for unit, assignment in placed:
            click.echo(f"unit {unit.id}: already assigned to {rater_name}" if assignment is None else
                       f"unit {unit.id}: assigned to {rater_name} on {instrument.key} version {instrument.version}")


COMMANDS = (units_group, assign_cmd)
