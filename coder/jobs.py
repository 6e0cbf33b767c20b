"""Processing recordings in the background of the web app.

A coordinator queues recordings (status ``queued``); one background thread of the serving process takes
them in the order they were queued, transcribes and diarises each with the study's processing options
(``study.settings["processing"]``: engine, model, diarizer, speakers, language) and stores the audio
seconds done on the recording as it goes, for the progress bars. The queue is the recordings table
itself, so nothing is lost when the server stops: on start, recordings left ``transcribing`` go back to
``queued`` and the thread picks them up again.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .asr import ENGINES, Engine, load_engine
from .config import Settings
from .db import Database
from .models import Recording, User, utcnow
from .study import audit

log = logging.getLogger(__name__)
DIARIZERS = ("builtin", "pyannote", "none")
DEFAULT_OPTIONS: dict[str, Any] = {"engine": "openai-whisper", "model": None, "diarizer": "builtin",
                                   "num_speakers": 2, "language": None}


class JobError(ValueError):
    pass


def options_of(study) -> dict[str, Any]:
    return {**DEFAULT_OPTIONS, **((study.settings or {}).get("processing") or {})}


def check_options(engine: str, model: str | None, diarizer: str, num_speakers: int | None,
                  language: str | None) -> dict[str, Any]:
    if engine not in ENGINES:
        raise JobError(f"unknown engine {engine}; choose one of {', '.join(ENGINES)}")
    if diarizer not in DIARIZERS:
        raise JobError(f"unknown diarizer {diarizer}; choose one of {', '.join(DIARIZERS)}")
    if num_speakers is not None and not 1 <= num_speakers <= 10:
        raise JobError("the number of speakers must lie between 1 and 10")
    return {"engine": engine, "model": model or None, "diarizer": diarizer, "num_speakers": num_speakers,
            "language": language or None}


def queue(db: Session, recordings: list[Recording], actor: User | None, reason: str = "") -> list[int]:
    """Mark recordings for processing; those already queued or running are left alone."""
    queued = []
    for rec in recordings:
        if rec.deleted_at is not None or rec.status in ("queued", "transcribing"):
            continue
        rec.status, rec.queued_at, rec.progress_s, rec.error = "queued", utcnow(), 0.0, None
        queued.append(rec.id)
    if queued:
        audit(db, "queue_processing", "recordings", actor, recordings=queued, reason=reason)
    db.flush()
    return queued


class Processor:
    """The serving process's background worker for queued recordings."""

    def __init__(self, settings: Settings, database: Database, model_override: str | None = None):
        self.settings, self.database = settings, database
        self.model_override = model_override or settings.whisper_model
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._engines: dict[tuple[str, str | None], Engine] = {}

    def resume(self) -> None:
        """Requeue what a stopped server left half done, and start on the queue."""
        with self.database.session() as db:
            for rec in db.scalars(select(Recording).where(Recording.status == "transcribing")):
                rec.status, rec.progress_s = "queued", 0.0
        self.wake()

    def wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._drain, name="coder-processing", daemon=True)
                self._thread.start()

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _engine(self, options: dict[str, Any]) -> Engine:
        model = options.get("model") or self.model_override
        key = (options["engine"], model)
        if key not in self._engines:
            self._engines[key] = load_engine(options["engine"], model, self.settings.models_dir)
        return self._engines[key]

    def _next(self) -> tuple[int, dict[str, Any]] | None:
        with self.database.session() as db:
            rec = db.scalar(select(Recording).where(Recording.status == "queued", Recording.deleted_at.is_(None))
                            .order_by(Recording.queued_at, Recording.id).limit(1))
            if rec is None:
                return None
            return rec.id, options_of(rec.session.dyad.study)

    def _drain(self) -> None:
        from .processing import process_one

        while True:
            nxt = self._next()
            if nxt is None:
                return
            recording_id, options = nxt
            try:
                engine = self._engine(options)
            except Exception as exc:  # a model that cannot be loaded fails the recording, with the reason
                with self.database.session() as db:
                    rec = db.get(Recording, recording_id)
                    rec.status, rec.error = "failed", f"model not loaded: {' '.join(str(exc).split())[:900]}"
                continue
            last = [0.0]

            def progress(seconds: float, _id=recording_id) -> None:
                if time.monotonic() - last[0] < 1.0:
                    return
                last[0] = time.monotonic()
                with self.database.session() as db:
                    rec = db.get(Recording, _id)
                    if rec is not None:
                        rec.progress_s = float(seconds)

            name, error, _warnings = process_one(
                self.database, recording_id, engine, self.settings.transcripts_dir, diarizer=options["diarizer"],
                num_speakers=options["num_speakers"], language=options["language"],
                playback_dir=self.settings.playback_dir, progress=progress)
            with self.database.session() as db:
                rec = db.get(Recording, recording_id)
                if error is None:
                    rec.progress_s = rec.duration_s
            log.info("%s: %s", name, error or "transcribed")
