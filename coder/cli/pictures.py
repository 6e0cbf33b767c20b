"""``coder pictures``: the session timeline of a transcript file or of stored recordings, and each dyad's
measures across its sessions, as SVG and PNG files (docs/measures.md, Pictures)."""
from __future__ import annotations

from pathlib import Path

import click

from coder.cli.common import chosen_recordings, fail, open_database, study_named
from coder.cli.measures import file_measures

FORMATS = ("svg", "png")


@click.group("pictures")
def pictures_group():
    """Pictures of the session process measures: timelines and trajectories."""


def _write(picture, stem: Path, formats) -> list[Path]:
    from coder.pipeline.formats import atomic_save

    written = []
    for fmt in dict.fromkeys(formats):
        path = stem.with_name(f"{stem.name}.{fmt}")
        data = picture.file(fmt)[0]
        atomic_save(path, lambda tmp, data=data: tmp.write_bytes(data))
        written.append(path)
    return written


@pictures_group.command("timeline")
@click.argument("transcript", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--audio", type=click.Path(exists=True, dir_okay=False),
              help="With TRANSCRIPT: the recording, to draw each speaker's vocal arousal.")
@click.option("--recording", "recordings", multiple=True, metavar="REF",
              help="A stored recording (id or file name; repeatable).")
@click.option("--study", help="Every transcribed recording of this study.")
@click.option("--all", "every", is_flag=True, help="Every transcribed recording.")
@click.option("--voice", is_flag=True, help="With stored recordings: the arousal too, from their audio (slower).")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), default=("svg",),
              show_default=True, help="svg, png, or both (repeat the option).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.pass_context
def timeline_cmd(ctx, transcript, audio, recordings, study, every, voice, formats, out_dir):
    """Draw the session timeline (who speaks when, overlaps, long silences, vocal arousal) of TRANSCRIPT (a coder
    transcript JSON; OUT/STEM.svg) or of stored recordings (OUT/recording-ID.svg), from the transcript's
    current revision."""
    from coder.pipeline.measures import MeasuresError
    from coder.reports.timeline import timeline_of
    from coder.stats.session_plot import TimelineError

    if sum(map(bool, (transcript, recordings, study, every))) != 1:
        fail("give one of TRANSCRIPT, --recording, --study or --all")
    if transcript and voice:
        fail("--voice is for stored recordings; give a transcript file its recording with --audio")
    if audio and not transcript:
        fail("--audio goes with TRANSCRIPT; a stored recording has its own audio")
    out = Path(out_dir)
    written: list[Path] = []
    if transcript:
        doc, result = file_measures(transcript, audio)
        name = Path(transcript).name
        try:
            written += _write(timeline_of(doc, result, f"{name}: who speaks when"), out / name.split(".")[0],
                              formats)
        except TimelineError as exc:
            fail(f"{transcript}: {exc}")
    else:
        from coder.pipeline.audio import AudioError
        from coder.study.measures import NoTranscript, recording_measures, study_recordings
        from coder.study.speakers import transcript_document

        with open_database(ctx).session() as db:
            if study:
                chosen = study_recordings(db, study_named(db, study))
            elif recordings:
                chosen = chosen_recordings(db, recordings)
            else:  # --all
                chosen = [r for r in chosen_recordings(db) if r.transcript is not None]
            if not chosen:
                fail(f"study {study} has no transcribed recording" if study else "no transcribed recording")
            for rec in chosen:
                try:
                    result = recording_measures(rec, voice)
                    picture = timeline_of(transcript_document(rec.transcript), result,
                                          f"{rec.original_name}: who speaks when")
                except (NoTranscript, MeasuresError) as exc:
                    fail(str(exc))
                except TimelineError as exc:
                    click.echo(f"warning: recording {rec.id} ({rec.original_name}): {exc}", err=True)
                    continue
                except (AudioError, OSError) as exc:
                    fail(f"recording {rec.id} ({rec.original_name}): cannot read its audio {rec.path}: {exc}")
                written += _write(picture, out / f"recording-{rec.id}", formats)
    click.echo(f"wrote {len(written)} file{'' if len(written) == 1 else 's'} to {out_dir}")


@pictures_group.command("trajectories")
@click.argument("study_name", metavar="STUDY")
@click.option("--dyad", "dyad_codes", multiple=True, metavar="CODE", help="Only this dyad (repeatable).")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), default=("svg",),
              show_default=True, help="svg, png, or both (repeat the option).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.pass_context
def trajectories_cmd(ctx, study_name, dyad_codes, formats, out_dir):
    """Each dyad's measures by session (talk share, switching pause, interruptions, ...; therapist and client
    lines): OUT/dyad-CODE.svg (or .png) and the values in OUT/trajectories.csv, one row per dyad, session,
    measure and line."""
    from coder.reports import trajectories
    from coder.stats import sheetsafe
    from coder.stats.session_plot import TimelineError

    with open_database(ctx).session() as db:
        study = study_named(db, study_name)
        found = trajectories.study_trajectories(db, study)
    if dyad_codes:
        unknown = set(dyad_codes) - {t.code for t in found}
        if unknown:
            fail(f"study {study_name} has no dyad {', '.join(sorted(unknown))}")
        found = [t for t in found if t.code in dyad_codes]
    out = Path(out_dir)
    written: list[Path] = []
    for t in found:
        for problem in t.problems:
            click.echo(f"warning: dyad {t.code}: {problem}", err=True)
        try:
            picture = trajectories.picture(t)
        except TimelineError:
            click.echo(f"warning: dyad {t.code}: no transcribed session to draw", err=True)
            continue
        written += _write(picture, out / trajectories.file_stem(t), formats)
    if not written:
        fail(f"study {study_name}: no dyad has a transcribed session")
    from coder.pipeline.formats import atomic_save

    table = sheetsafe.frame(trajectories.long_table(found))
    atomic_save(out / "trajectories.csv", lambda tmp: table.to_csv(tmp, index=False))
    click.echo(f"wrote {len(written) + 1} files to {out_dir}")


COMMANDS = (pictures_group,)
