"""The session process measures of stored recordings: computed from the transcript's current revision (the
reviewed one where a person has corrected it, else the recogniser's) over the recording's live rating units,
and stored (``ProcessMeasures``, one row per recording) with the definitions version, the revision and review
status they came from (docs/measures.md).

Stored figures are current while a fingerprint of their inputs matches: the transcript document (segments,
speakers and roles, review revision), the live units' ranges and ``DEFINITIONS_VERSION``. A new revision, a
changed role, a unit added or removed, or new definitions make them stale; ``stored_measures`` then gives
None, so stale figures never pass for current ones, until ``store_measures`` (the measures job, ``coder
measures``) computes them again."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coder.pipeline.audio import load_channels
from coder.pipeline.measures import DEFINITIONS_VERSION, compute
from coder.stats.jsonsafe import json_safe
from coder.study.models import ProcessMeasures, RatingUnit, Recording, Study, utcnow
from coder.study.scope import in_study
from coder.study.speakers import transcript_document

STATES = ("current", "stale", "failed", "missing")


class NoTranscript(LookupError):
    pass


def live_units(recording: Recording) -> list[RatingUnit]:
    """The recording's live rating units with a time range, in time order."""
    return sorted((u for u in recording.rating_units if u.live and u.end_s > u.start_s),
                  key=lambda u: (u.start_s, u.end_s, u.id))


def recording_measures(recording: Recording, voice: bool = False, by: str = "role",
                       estimator: str = "praat") -> dict[str, Any]:
    """The measures of ``recording`` (with ``voice``, from its audio file too) and of each live rating unit of it."""
    transcript = recording.transcript
    if transcript is None:
        raise NoTranscript(f"recording {recording.id} ({recording.original_name}) has no transcript yet")
    units = live_units(recording)
    audio = load_channels(recording.path)[0] if voice else None
    result = compute(transcript_document(transcript), audio, ranges=[(u.start_s, u.end_s) for u in units], by=by,
                     estimator=estimator)
    for unit, row in zip(units, result["units"]):
        row["unit_id"], row["label"] = unit.id, unit.label
    return {"recording_id": recording.id, "recording": recording.original_name, "transcript_id": transcript.id,
            "review_status": transcript.status, **result}


def inputs_digest(recording: Recording) -> str | None:
    """SHA-256 of what the stored measures depend on (None without a transcript)."""
    transcript = recording.transcript
    if transcript is None:
        return None
    inputs = {"definitions_version": DEFINITIONS_VERSION, "transcript_id": transcript.id,
              "document": transcript_document(transcript),
              "units": [[u.id, u.start_s, u.end_s] for u in live_units(recording)]}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def stored_row(db: Session, recording: Recording) -> ProcessMeasures | None:
    return db.scalar(select(ProcessMeasures).where(ProcessMeasures.recording_id == recording.id))


def state(db: Session, recording: Recording, row: ProcessMeasures | None = None) -> str:
    """``current`` (stored and up to date), ``stale`` (stored from other inputs), ``failed`` (the last measures
    job failed and nothing current is stored) or ``missing``."""
    row = row or stored_row(db, recording)
    if row is None:
        return "missing"
    if row.figures and row.inputs_sha256 == inputs_digest(recording):
        return "current"
    return "failed" if row.error else "stale"


def stored_measures(db: Session, recording: Recording) -> dict[str, Any] | None:
    """The stored measures of ``recording`` as ``recording_measures`` gives them (with ``definitions_version``,
    ``revision``, ``review_status`` and ``voice``: whether the voice measures are in), or None when none are
    stored or the stored ones are stale."""
    return measures_and_state(db, recording)[0]


def measures_and_state(db: Session, recording: Recording) -> tuple[dict[str, Any] | None, str, str | None]:
    """(``stored_measures``, ``state``, the last failure's reason) at the cost of one look at the inputs."""
    row = stored_row(db, recording)
    now = state(db, recording, row) if row is not None else "missing"
    figures = {**row.figures, "voice": row.voice, "computed_at": row.computed_at.isoformat()} \
        if now == "current" else None
    return figures, now, row.error if row is not None else None


def store_measures(db: Session, recording: Recording, voice: bool = True, estimator: str = "praat",
                   result: dict[str, Any] | None = None) -> ProcessMeasures:
    """Compute (or take ``result``, ``recording_measures``'s by role) and store the recording's measures,
    replacing what was stored. Errors (no transcript, audio that cannot be read, bad segments) propagate and
    store nothing."""
    if result is None:
        result = recording_measures(recording, voice, "role", estimator)
    elif result.get("by") != "role":
        raise ValueError("only measures grouped by role are stored")
    row = stored_row(db, recording) or ProcessMeasures(recording_id=recording.id)
    row.transcript_id = result["transcript_id"]
    row.definitions_version = result["definitions_version"]
    row.revision, row.review_status = result["revision"], result["review_status"]
    row.inputs_sha256 = inputs_digest(recording)
    row.voice = "estimator" in result
    row.figures = json_safe(result)
    row.error, row.computed_at = None, utcnow()
    db.add(row)
    db.flush()
    return row


def record_failure(db: Session, recording: Recording, error: str) -> ProcessMeasures:
    """Note why the measures could not be computed; figures stored before are kept (and shown only while current)."""
    row = stored_row(db, recording)
    if row is None:
        row = ProcessMeasures(recording_id=recording.id, transcript_id=None, definitions_version=DEFINITIONS_VERSION,
                              revision=0, review_status="automatic", inputs_sha256="", voice=False, figures={})
        db.add(row)
    row.error, row.computed_at = " ".join(str(error).split())[:1000], utcnow()
    db.flush()
    return row


def study_recordings(db: Session, study: Study | None) -> list[Recording]:
    """The study's (None: every study's) live recordings that have a transcript, by id."""
    rows = db.scalars(in_study(select(Recording), Recording, study).order_by(Recording.id))
    return [r for r in rows if r.transcript is not None]


def needing_measures(db: Session, study: Study | None) -> list[Recording]:
    """The transcribed recordings whose measures are missing, stale or failed."""
    return [r for r in study_recordings(db, study) if state(db, r) != "current"]
