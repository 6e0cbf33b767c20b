"""``coder measures``: the session process measures of a transcript file (CONTRACTS.md §1), with its recording
for the voice measures (docs/measures.md)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from coder.cli.common import fail, json_text
from coder.pipeline.measures import GROUPINGS
from coder.pipeline.measures.voice import ESTIMATORS


def _span(text: str) -> tuple[float, float]:
    try:
        start, end = (float(x) for x in text.split(":"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not START:END in seconds (e.g. 300:600)") from None
    return start, end


@click.command("measures")
@click.argument("transcript", type=click.Path(exists=True, dir_okay=False))
@click.option("--audio", type=click.Path(exists=True, dir_okay=False),
              help="The recording, for F0, intensity, arousal and synchrony (left out without it).")
@click.option("--unit", "units", multiple=True, metavar="START:END",
              help="A rating unit in seconds (repeatable); the session is always measured.")
@click.option("--by", type=click.Choice(GROUPINGS), default="role", show_default=True,
              help="Count per role (therapist, client) or per diarised speaker.")
@click.option("--estimator", type=click.Choice(ESTIMATORS), default="praat", show_default=True,
              help="F0 by Praat's autocorrelation or by pYIN (slower).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="Also write one row per range and speaker to this CSV file.")
def measures_cmd(transcript, audio, units, by, estimator, csv_path):
    """Talk, turn-taking, questions and (with --audio) voice measures of TRANSCRIPT (a coder transcript JSON),
    printed as one JSON object."""
    from coder.pipeline.audio import AudioError, load_channels
    from coder.pipeline.measures import MeasuresError, compute

    spans = [_span(u) for u in units]
    try:
        doc = json.loads(Path(transcript).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{transcript}: not a JSON transcript ({exc})")
    if not isinstance(doc, dict) or not isinstance(doc.get("segments"), list):
        fail(f"{transcript}: not a coder transcript (no list of segments)")
    samples = None
    if audio:
        try:
            samples = load_channels(audio)[0]
        except AudioError as exc:
            fail(f"{audio}: {exc}")
    try:
        result = compute(doc, samples, ranges=spans, by=by, estimator=estimator)
    except MeasuresError as exc:
        fail(f"{transcript}: {exc}")
    if csv_path:
        _write_csv(result, Path(csv_path))
    click.echo(json_text(result))


def _write_csv(result: dict, path: Path) -> None:
    import pandas as pd

    from coder.stats import sheetsafe

    rows = []
    for kind, item in [("session", result["session"]), *[("unit", u) for u in result["units"]]]:
        common = {k: v for k, v in item.items() if not isinstance(v, dict)}
        for speaker, values in item["speakers"].items():
            rows.append({"range": kind, **common, "speaker": speaker, **values})
    frame = sheetsafe.frame(pd.DataFrame(rows))
    frame.insert(0, "definitions_version", result["definitions_version"])
    frame.to_csv(path, index=False)


COMMANDS = (measures_cmd,)
