"""Transcribing registered recordings and storing the transcripts in the study database; then their session
process measures (``measure_one``)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy import select

from coder.db import Database
from coder.pipeline import formats, playback
from coder.pipeline.asr import Engine
from coder.pipeline.audio import AudioError
from coder.pipeline.diarize import DEFAULT_SPEAKERS, Turn
from coder.pipeline.transcribe import transcribe_file
from coder.study import scope
from coder.study.measures import record_failure, store_measures
from coder.study.models import Recording, Speaker, Transcript
from coder.study.speakers import therapist_of, therapist_voiceprint


def pending_recordings(database: Database, engine: Engine) -> list[int]:
    """Recordings without a transcript from this engine and model."""
    with database.session() as db:
        done = select(Transcript.recording_id).where(Transcript.engine == engine.name,
                                                     Transcript.model == engine.model_label)
        return list(db.scalars(scope.in_study(select(Recording.id), Recording, None)
                               .where(Recording.id.not_in(done)).order_by(Recording.id)))


def store_transcript(database: Database, recording_id: int, doc: dict) -> int:
    with database.session() as db:
        old = db.scalar(select(Transcript).where(Transcript.recording_id == recording_id,
                                                 Transcript.engine == doc["engine"],
                                                 Transcript.model == doc["model"]))
        if old is not None:
            db.delete(old)
            db.flush()
        transcript = Transcript(recording_id=recording_id, engine=doc["engine"], model=doc["model"],
                                language=doc["language"], duration_s=doc["duration"], segments=doc["segments"],
                                timings=doc["timings"],
                                notes={"channels": doc["channels"], "no_speech": doc["no_speech"],
                                       "processing": doc["processing"], "sha256": doc["sha256"],
                                       "diarization": doc.get("diarization")})
        embeddings = (doc.get("diarization") or {}).get("embeddings", {})
        transcript.speakers = [Speaker(label=label, role=info.get("role"), role_confidence=info.get("confidence"),
                                       role_source=info.get("role_source", "auto"), embedding=embeddings.get(label))
                               for label, info in doc["speakers"].items()]
        db.add(transcript)
        recording = db.get(Recording, recording_id)
        recording.status, recording.error, recording.progress_s = "transcribed", None, recording.duration_s
        db.flush()
        return transcript.id


def process_one(database: Database, recording_id: int, engine: Engine, out_dir: Path | None,
                diarizer: str = "builtin", num_speakers: int | None = DEFAULT_SPEAKERS, language: str | None = None,
                use_vad: bool = True, diarizer_options: dict | None = None, playback_dir: Path | None = None,
                progress: Callable[[float], None] | None = None, raise_on: tuple[type[BaseException], ...] = (),
                job: bool = False) -> tuple[str, Exception | None, list[str]]:
    """Transcribe one recording and store its transcript; returns (name, the error or None, warnings).

    The recording is marked ``transcribing`` while it runs, then ``transcribed``, or ``failed`` with the error
    (one bad recording never stops a batch). As a ``job`` of the queue (coder.tasks) it leaves the status to
    the job, which has claimed the recording and decides on retries. ``progress`` gets the audio seconds
    done; exceptions of the ``raise_on`` types propagate.
    """
    with database.session() as db:
        recording = db.get(Recording, recording_id)
        if not job:
            recording.status, recording.progress_s, recording.error = "transcribing", 0.0, None
        path, name = recording.path, recording.original_name
        turns = [Turn(float(a), float(b), str(c)) for a, b, c in recording.speaker_turns] \
            if recording.speaker_turns else None
        voiceprint = therapist_voiceprint(db, therapist_of(db, recording))
    try:
        doc = transcribe_file(path, engine, diarizer=diarizer, num_speakers=num_speakers, language=language,
                              audio_label=path, use_vad=use_vad, turns=turns, therapist_voiceprint=voiceprint,
                              diarizer_options=diarizer_options, progress=progress)
        store_transcript(database, recording_id, doc)
        if playback_dir is not None:
            with database.session() as db:
                sha = db.get(Recording, recording_id).sha256
            playback.prepare(path, sha, playback_dir)
        if out_dir is not None:
            formats.write_all(doc, out_dir, f"recording-{recording_id}")
        return name, None, list(doc["diarization"]["warnings"])
    except raise_on:
        raise
    except Exception as exc:  # recorded for the coordinator, then the next recording
        if not job:
            with database.session() as db:
                recording = db.get(Recording, recording_id)
                recording.status, recording.error = "failed", " ".join(str(exc).split())[:1000]
        return name, exc, []


def process_recordings(database: Database, engine: Engine, out_dir: Path | None, diarizer: str = "builtin",
                       num_speakers: int | None = DEFAULT_SPEAKERS, language: str | None = None, use_vad: bool = True,
                       on_done: Callable[[int, str, str | None], None] | None = None,
                       on_warning: Callable[[int, str, str], None] | None = None,
                       diarizer_options: dict | None = None, playback_dir: Path | None = None,
                       on_progress: Callable[[int, float], None] | None = None,
                       measure: bool = False) -> tuple[int, int]:
    """Transcribe every pending recording; returns (succeeded, failed). Failures are stored on the recording.

    With ``playback_dir``, each recording's listening copy for the rating page is made too (else on first play).
    ``on_progress`` gets a recording's id and its audio seconds done, as they go. With ``measure``, each
    transcribed recording's process measures are computed and stored after it, as the queue's measures job does;
    a failure there is a warning (the transcript stands).
    """
    ok = failed = 0
    for recording_id in pending_recordings(database, engine):
        progress = (lambda seconds, rid=recording_id: on_progress(rid, seconds)) if on_progress else None
        name, error, warnings = process_one(database, recording_id, engine, out_dir, diarizer, num_speakers,
                                            language, use_vad, diarizer_options, playback_dir, progress=progress)
        for warning in warnings:
            if on_warning:
                on_warning(recording_id, name, warning)
        if error is None:
            ok += 1
            problem = measure_one(database, recording_id) if measure else None
            if problem and on_warning:
                on_warning(recording_id, name, problem)
        else:
            failed += 1
        if on_done:
            on_done(recording_id, name, None if error is None else str(error))
    return ok, failed


def measure_one(database: Database, recording_id: int, voice: bool = True) -> str | None:
    """Compute and store the recording's process measures (with the voice measures from its audio); returns
    None, or why they could not be computed, which is recorded beside the measures. The transcript is stored
    in a transaction of its own before this runs, so a failure here never loses it."""
    path = None
    try:
        with database.session() as db:
            recording = db.get(Recording, recording_id)
            if recording is None or not recording.live:
                return None
            path = recording.path
            store_measures(db, recording, voice=voice)
        return None
    except Exception as exc:  # recorded for the coordinator; the transcript stays as it is
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, (AudioError, OSError)):
            detail = f"cannot read the audio {path}: {detail}"
        error = f"measures not computed: {detail}"
        with database.session() as db:
            recording = db.get(Recording, recording_id)
            if recording is not None:
                record_failure(db, recording, error)
        return error
