"""The demo: a study built from sample_audio/, transcribed, its session process measures computed, with accounts,
served in the browser."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from sqlalchemy import select

from coder.config import SOURCE_ROOT, Settings, load_settings
from coder.db import Database
from coder.jobs.processing import measure_one, pending_recordings, process_recordings
from coder.pipeline.asr import DEFAULT_ENGINE, Engine, load_engine
from coder.pipeline.progress import AudioProgress
from coder.rating import designs
from coder.study import access, instruments, measures, scope, units
from coder.study.accounts import create_user, generate_password, set_password
from coder.study.ingest import ingest_manifest
from coder.study.models import RatingUnit, Recording, Study, User

DEMO_STUDY = "Demo study"
DEMO_USERS = (("coordinator", "coordinator", "Demo coordinator"), ("transcriber", "transcriber", "Demo transcriber"),
              ("rater1", "rater", "Rater One"), ("rater2", "rater", "Rater Two"))
# The demo raters rate the whole session on the built-in observer alliance short form, and code rupture markers
# (events in time) on its 5-minute segments: one here, as the demo session is shorter than five minutes.
DEMO_INSTRUMENT = "wai-o-s"
DEMO_MARKERS = "rupture-markers"


class DemoError(Exception):
    pass


@dataclass
class DemoResult:
    settings: Settings
    database: Database
    credentials: list[tuple[str, str, str]] = field(default_factory=list)  # (user, role, password)
    transcribed: int = 0
    measured: int = 0


def default_sample_dir() -> Path:
    return SOURCE_ROOT / "sample_audio"


def prepare_demo(home: Path, sample_dir: Path | None = None, engine: str = DEFAULT_ENGINE,
                 model: str | None = None, echo: Callable[[str], None] = print,
                 bar_file: TextIO | None = None) -> DemoResult:
    """The demo study in ``home``: ingested, transcribed where it is not yet, with accounts and assignments.
    Transcription shows its progress (audio minutes done, time left) as a bar on ``bar_file`` (a terminal) or,
    without one, as lines through ``echo``."""
    sample_dir = Path(sample_dir or default_sample_dir())
    manifest = sample_dir / "manifest.csv"
    if not manifest.is_file():
        raise DemoError(f"no demo manifest at {manifest}; pass --sample-dir")
    settings = load_settings(home=home, database_url=f"sqlite:///{Path(home).resolve() / 'coder.db'}")
    database = Database(settings.database_url)
    database.migrate()
    report = ingest_manifest(database, manifest, study=DEMO_STUDY)
    if report.errors:
        raise DemoError("; ".join(f"{name}: {why}" for _row, name, why in report.errors))
    result = DemoResult(settings=settings, database=database)

    # Load the model only when a recording has no transcript yet, so a finished demo restarts offline.
    with database.session() as db:
        untranscribed = db.scalar(select(Recording.id).where(~Recording.transcripts.any()))
    if untranscribed is not None:
        echo(f"Loading the speech model ({engine}) ...")
        asr = load_engine(engine, model, settings.models_dir)
        result.transcribed = _transcribe(database, asr, settings, echo, bar_file)
    # recordings uploaded to the demo study in the browser are processed with the same engine and model
    with database.session() as db:
        study = db.scalar(select(Study).where(Study.name == DEMO_STUDY))
        processing = {"engine": engine, **({"model": str(model)} if model else {})}
        if (study.settings or {}).get("processing", {}) != processing:
            study.settings = {**(study.settings or {}), "processing": processing}
    _accounts_and_assignments(database, result)
    result.measured = _measure(database, echo)  # after the units, which the measures are also computed over
    return result


def _measure(database: Database, echo: Callable[[str], None]) -> int:
    """The session process measures of the demo recordings that have none current (the measures job's work)."""
    with database.session() as db:
        study = db.scalar(select(Study).where(Study.name == DEMO_STUDY))
        pending = [(r.id, r.original_name) for r in measures.needing_measures(db, study)]
    if pending:
        echo(f"Computing the session process measures of {len(pending)} demo recording(s) ...")
    for rid, name in pending:
        error = measure_one(database, rid)
        if error:
            raise DemoError(f"{name}: {error}")
    return len(pending)


def _transcribe(database: Database, asr: Engine, settings: Settings, echo: Callable[[str], None],
                bar_file: TextIO | None) -> int:
    pending = pending_recordings(database, asr)
    with database.session() as db:
        durations = dict(db.execute(select(Recording.id, Recording.duration_s).where(Recording.id.in_(pending))).all())
    echo(f"Transcribing {len(pending)} demo recording(s) with {asr.name} ({asr.model_label}), "
         f"{sum(durations.values()) / 60:.1f} min of audio ...")
    before, done = {}, 0.0  # audio seconds of the recordings ahead of each
    for rid in pending:
        before[rid], done = done, done + (durations.get(rid) or 0.0)
    with AudioProgress(done, write=echo, bar_file=bar_file, label="transcribing") as shown:
        ok, failed = process_recordings(
            database, asr, settings.transcripts_dir, playback_dir=settings.playback_dir,
            on_progress=lambda rid, seconds: shown.update(before[rid] + seconds),
            on_done=lambda rid, name, err: shown.say(f"  {name}: " + (f"failed: {err}" if err else "done")))
    if failed:
        raise DemoError(f"{failed} demo recording(s) failed to transcribe")
    return ok


def _accounts_and_assignments(database: Database, result: DemoResult) -> None:
    with database.session() as db:
        study = db.scalar(select(Study).where(Study.name == DEMO_STUDY))
        raters = []
        for username, role, display in DEMO_USERS:
            password = generate_password()
            user = db.scalar(select(User).where(User.username == username))
            if user is None:
                user = create_user(db, username, password, role, display)
            else:  # passwords are stored hashed only, so a rerun issues new ones
                set_password(user, password)
                user.active = True
            result.credentials.append((username, role, password))
            if role == "rater":
                raters.append(user)
            else:
                access.grant(db, study, user, None)
        alliance = instruments.store(db, instruments.builtin(DEMO_INSTRUMENT))
        markers = instruments.store(db, instruments.builtin(DEMO_MARKERS))
        minutes = instruments.builtin(DEMO_MARKERS).segment_minutes
        for recording in db.scalars(scope.in_study(select(Recording), Recording, study)):
            for instrument, kind in ((alliance, "whole_session"), (markers, "fixed_window")):
                made = db.scalars(select(RatingUnit).where(RatingUnit.recording_id == recording.id,
                                                           RatingUnit.kind == kind)).all()
                if not made:
                    spans = units.whole_session(recording.duration_s) if kind == "whole_session" else \
                        units.fixed_windows(recording.duration_s, minutes, _segments(recording))
                    made = units.add(db, recording, spans, instrument_keys=[instrument.key])
                for rater in raters:
                    designs.assign(db, rater, made, instrument, None, reason="demo")


def _segments(recording: Recording) -> list[dict]:
    transcript = recording.transcript
    return list(transcript.segments) if transcript is not None else []
