"""``coder measures``: the session process measures of a transcript file (CONTRACTS.md §1), with its recording
for the voice measures, or of stored recordings (one, a study's, or all) over their rating units
(docs/measures.md). Stored recordings' measures are stored too (per unit and session, with the definitions
version and the transcript revision), where the tables and analyses read them."""
from __future__ import annotations

import json
from pathlib import Path

import click

from coder.cli.common import chosen_recordings, fail, json_text, open_database, study_named
from coder.pipeline.measures import DEFINITIONS_VERSION, GROUPINGS
from coder.pipeline.measures.voice import ESTIMATORS


def _span(text: str) -> tuple[float, float]:
    try:
        start, end = (float(x) for x in text.split(":"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not START:END in seconds (e.g. 300:600)") from None
    return start, end


@click.command("measures")
@click.argument("transcript", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--audio", type=click.Path(exists=True, dir_okay=False),
              help="With TRANSCRIPT: the recording, for F0, intensity, arousal and synchrony (left out without it).")
@click.option("--unit", "units", multiple=True, metavar="START:END",
              help="With TRANSCRIPT: a rating unit in seconds (repeatable); the session is always measured.")
@click.option("--recording", "recordings", multiple=True, metavar="REF",
              help="A stored recording (id or file name; repeatable), over its rating units.")
@click.option("--study", help="Every transcribed recording of this study.")
@click.option("--all", "every", is_flag=True, help="Every transcribed recording.")
@click.option("--voice", is_flag=True, help="With stored recordings: the voice measures too, from their audio.")
@click.option("--by", type=click.Choice(GROUPINGS), default="role", show_default=True,
              help="Count per role (therapist, client) or per diarised speaker.")
@click.option("--estimator", type=click.Choice(ESTIMATORS), default="praat", show_default=True,
              help="F0 by Praat's autocorrelation or by pYIN (slower).")
@click.option("--store/--no-store", default=True, show_default=True,
              help="With stored recordings: store the measures (grouped by role) for the tables and analyses.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="Also write one row per recording, range and speaker to this CSV file.")
@click.option("--svg", "svg_dir", type=click.Path(file_okay=False),
              help="Also draw each session's timeline into this folder (STEM.svg, or recording-ID.svg).")
@click.pass_context
def measures_cmd(ctx, transcript, audio, units, recordings, study, every, voice, by, estimator, store, csv_path,
                 svg_dir):
    """Talk, turn-taking, questions and voice measures of TRANSCRIPT (a coder transcript JSON), or of stored
    recordings (--recording, --study or --all) from their current transcript revision; printed as JSON and, for
    stored recordings grouped by role, stored (measures stored with the voice are kept unless --voice)."""
    if sum(map(bool, (transcript, recordings, study, every))) != 1:
        fail("give one of TRANSCRIPT, --recording, --study or --all")
    if transcript:
        if voice:
            fail("--voice is for stored recordings; give a transcript file its recording with --audio")
        doc, result = file_measures(transcript, audio, [_span(u) for u in units], by, estimator)
        if csv_path:
            _write_csv([result], Path(csv_path))
        if svg_dir:
            name = Path(transcript).name
            _write_svg(doc, result, Path(svg_dir) / f"{name.split('.')[0]}.svg", name)
        click.echo(json_text(result))
        return
    if audio or units:
        fail("--audio and --unit go with TRANSCRIPT; a stored recording has its own audio and rating units")
    results = _stored_measures(ctx, recordings, study, voice, by, estimator, svg_dir, store and by == "role")
    if csv_path:
        _write_csv(results, Path(csv_path))
    click.echo(json_text({"definitions_version": DEFINITIONS_VERSION, "recordings": results}))


def file_measures(transcript: str, audio: str | None, spans=(), by: str = "role",
                  estimator: str = "praat") -> tuple[dict, dict]:
    """(the transcript document, its measures); exit with a one-line error on bad input. `coder pictures` too."""
    from coder.pipeline.audio import AudioError, load_channels
    from coder.pipeline.measures import MeasuresError, compute

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
        return doc, compute(doc, samples, ranges=spans, by=by, estimator=estimator)
    except MeasuresError as exc:
        fail(f"{transcript}: {exc}")


def _stored_measures(ctx, refs, study, voice: bool, by: str, estimator: str, svg_dir: str | None,
                     store: bool) -> list[dict]:
    from coder.pipeline.audio import AudioError
    from coder.pipeline.measures import MeasuresError
    from coder.study.measures import NoTranscript, recording_measures, state, store_measures, stored_row, \
        study_recordings
    from coder.study.speakers import transcript_document

    out = []
    with open_database(ctx).session() as db:
        if study:
            chosen = study_recordings(db, study_named(db, study))
        elif refs:
            chosen = chosen_recordings(db, refs)
        else:  # --all
            chosen = [r for r in chosen_recordings(db) if r.transcript is not None]
        if not chosen:
            fail(f"study {study} has no transcribed recording" if study else "no transcribed recording")
        if store:
            click.echo(f"storing the measures of {len(chosen)} recording(s)", err=True)
        for rec in chosen:
            try:
                out.append(recording_measures(rec, voice, by, estimator))
                kept = stored_row(db, rec)
                # figures with the voice measures are not replaced by figures without them from the same inputs
                if store and (voice or kept is None or not kept.voice or state(db, rec, kept) != "current"):
                    store_measures(db, rec, voice, estimator, out[-1])
                if svg_dir:
                    _write_svg(transcript_document(rec.transcript), out[-1],
                               Path(svg_dir) / f"recording-{rec.id}.svg", rec.original_name)
            except (NoTranscript, MeasuresError) as exc:
                fail(str(exc))
            except (AudioError, OSError) as exc:
                fail(f"recording {rec.id} ({rec.original_name}): cannot read its audio {rec.path}: {exc}")
    return out


def _write_svg(doc: dict, result: dict, path: Path, title: str) -> None:
    from coder.pipeline.formats import atomic_write
    from coder.reports.timeline import timeline_of
    from coder.stats.session_plot import TimelineError

    try:
        atomic_write(path, timeline_of(doc, result, f"{title}: who speaks when").svg)
    except TimelineError as exc:  # a silent session: its measures stand, it has no picture
        click.echo(f"warning: {title}: no timeline drawn: {exc}", err=True)


def _write_csv(results: list[dict], path: Path) -> None:
    import pandas as pd

    from coder.stats import sheetsafe

    rows = []
    for result in results:
        source = {k: result[k] for k in ("recording_id", "recording", "transcript_id", "revision") if k in result}
        for kind, item in [("session", result["session"]), *[("unit", u) for u in result["units"]]]:
            common = {k: v for k, v in item.items() if not isinstance(v, dict)}
            for speaker, values in item["speakers"].items():
                rows.append({"definitions_version": result["definitions_version"], **source, "range": kind,
                             **common, "speaker": speaker, **values})
    sheetsafe.frame(pd.DataFrame(rows)).to_csv(path, index=False)


COMMANDS = (measures_cmd,)
