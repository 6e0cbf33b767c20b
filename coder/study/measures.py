"""The session process measures of stored recordings, computed when asked (not stored yet): from the transcript's
current revision (the reviewed one where a person has corrected it, else the recogniser's), over the recording's
live rating units, with the revision and review status recorded beside them (docs/measures.md)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coder.pipeline.audio import load_channels
from coder.pipeline.measures import compute
from coder.study.models import Recording, Study
from coder.study.scope import in_study
from coder.study.speakers import transcript_document


class NoTranscript(LookupError):
    pass


def recording_measures(recording: Recording, voice: bool = False, by: str = "role",
                       estimator: str = "praat") -> dict[str, Any]:
    """The measures of ``recording`` (with ``voice``, from its audio file too) and of each live rating unit of it."""
    transcript = recording.transcript
    if transcript is None:
        raise NoTranscript(f"recording {recording.id} ({recording.original_name}) has no transcript yet")
    units = sorted((u for u in recording.rating_units if u.live and u.end_s > u.start_s),
                   key=lambda u: (u.start_s, u.end_s, u.id))
    audio = load_channels(recording.path)[0] if voice else None
    result = compute(transcript_document(transcript), audio, ranges=[(u.start_s, u.end_s) for u in units], by=by,
                     estimator=estimator)
    for unit, row in zip(units, result["units"]):
        row["unit_id"], row["label"] = unit.id, unit.label
    return {"recording_id": recording.id, "recording": recording.original_name, "transcript_id": transcript.id,
            "review_status": transcript.status, **result}


def study_recordings(db: Session, study: Study) -> list[Recording]:
    """The study's live recordings that have a transcript, by id."""
    rows = db.scalars(in_study(select(Recording), Recording, study).order_by(Recording.id))
    return [r for r in rows if r.transcript is not None]
