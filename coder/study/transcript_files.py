"""A transcript corrected outside coder (a WebVTT, ELAN or Word file, as ``coder export`` writes them) imported
back as a new revision (``coder.study.transcripts.save``: history, restore and the check against a stale
revision apply). How the file's turns become segments: ``coder.pipeline.corrected``."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from coder.pipeline import corrected, interchange
from coder.study.models import Transcript, TranscriptRevision, User
from coder.study.transcripts import ReviewError, RevisionConflict, save


def speakers_of(transcript: Transcript) -> dict[str, dict[str, str | None]]:
    return {s.label: {"name": s.name, "role": s.role} for s in transcript.speakers}


def import_file(db: Session, transcript: Transcript, path: str | Path, based_on: int | None = None,
                author: User | None = None, fmt: str | None = None) -> TranscriptRevision | None:
    """Save the corrected transcript in ``path`` (``fmt``: vtt, eaf or docx; by default the extension's) as the
    transcript's next revision, made against revision ``based_on`` (the current one by default). ReviewError,
    saving nothing, when the file cannot be read, names an unknown speaker or a time out of range; None when
    it changes nothing."""
    if based_on is not None and based_on != transcript.revision:
        raise RevisionConflict(transcript, based_on)
    speakers = speakers_of(transcript)
    doc = {"speakers": speakers, "segments": transcript.segments or []}
    names = {*interchange.tier_names(doc).values(), *speakers,
             *(info["name"] for info in speakers.values() if info["name"]),
             *(info["role"].capitalize() for info in speakers.values() if info["role"])}
    end = transcript.duration_s or transcript.recording.duration_s
    try:
        turns = interchange.read(Path(path), fmt, sorted(names))
        segments = corrected.segments_from(turns, speakers, transcript.segments or [], end)
    except interchange.InterchangeError as exc:
        message = str(exc)
        raise ReviewError(message if message.startswith(Path(path).name) else f"{Path(path).name}: {message}") from None
    return save(db, transcript, transcript.revision, segments, author, note=f"imported {Path(path).name}")
