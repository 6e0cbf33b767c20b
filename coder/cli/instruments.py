"""Rating instruments: ``coder instruments list|show|validate`` for the definitions, ``import`` to give one
licensed item wording, and ``store`` to keep one, versioned, in the study database."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from coder.cli.common import fail, open_database
from coder.pipeline.formats import atomic_write


def _definition(ref: str):
    """The built-in definition with id ``ref``, or the definition file at path ``ref``."""
    from coder.study.instruments import InstrumentError, builtin, load

    try:
        return load(ref) if Path(ref).is_file() else builtin(ref)
    except (InstrumentError, KeyError) as exc:
        fail(str(exc).strip("'\""))


def _yaml(definition) -> str:
    from coder.study.instruments import to_data

    return yaml.safe_dump(to_data(definition), sort_keys=False, allow_unicode=True, width=100)


def _problems(message: str, problems: list[str]) -> None:
    click.echo(message, err=True)
    for problem in problems:
        click.echo(f"  {problem}", err=True)


@click.group()
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
    click.echo(_yaml(_definition(instrument)), nl=False)


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
            _problems(f"{path}: invalid", exc.problems)
            continue
        click.echo(f"{path}: valid ({inst.id} version {inst.version}, {len(inst.items)} items)")
    sys.exit(1 if bad else 0)


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
    from coder.study.instruments import InstrumentError, import_wording, store

    if not out_path and not store_it:
        fail("say where the result goes: --out FILE, --store, or both")
    try:
        result = import_wording(_definition(instrument), wording, version)
    except InstrumentError as exc:
        _problems(f"error: {exc.source}: nothing imported", exc.problems)
        sys.exit(1)
    if out_path:
        atomic_write(Path(out_path), _yaml(result))
        click.echo(f"wrote {result.id} version {result.version} to {out_path}")
    if store_it:
        with open_database(ctx).session() as db:
            row = store(db, result)
            click.echo(f"stored {row.key} version {row.version}")


@instruments.command("store")
@click.argument("instrument")
@click.pass_context
def instruments_store(ctx, instrument):
    """Store INSTRUMENT (a built-in id or a definition file) in the study database. A changed definition whose
    version already has ratings is stored as a new version; the old ratings keep theirs."""
    from coder.study.instruments import store

    inst = _definition(instrument)
    with open_database(ctx).session() as db:
        row = store(db, inst)
        click.echo(f"stored {row.key} version {row.version}" + (
            f" (version {inst.version} has ratings and was left as it was)" if row.version != inst.version else ""))


COMMANDS = (instruments,)
