"""Transcript review: corrections saved as revisions, a status, and what raters are shown.

A stored transcript's ``segments`` are its current revision; ``revision`` counts the saves (0: the recogniser's
own). Every save keeps the whole new version in ``transcript_revisions`` with its author, time and the changes
from the version before (``coder.pipeline.edits.changes``); the recogniser's version is kept there as
revision 0 at the first save, so any revision can be restored (which saves it again as the newest). A save
names the revision it was based on and is refused when that is no longer the current one, so two editors
never overwrite each other (as ratings are saved, ``coder.rating.workspace``).

Status: ``automatic`` → ``in_review`` (set by the first correction) → ``verified`` (set by a person; a later
correction takes it back to in review). A study chooses what its raters read beside the audio
(``transcripts`` setting): ``automatic`` (the current revision, whatever its status; the default),
``verified`` (only verified transcripts) or ``none`` (audio only); a study may further show raters only the
de-identified version (``coder.study.deidentification.shown_to_raters``, which the rater's page uses).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coder.pipeline import edits
from coder.study.audit import audit
from coder.study.models import TRANSCRIPT_STATUSES, Study, Transcript, TranscriptRevision, User

RATER_VIEWS = ("automatic", "verified", "none")
OPERATIONS = {"replace_words": edits.replace_words, "edit_text": edits.edit_text, "split_turn": edits.split_turn,
              "merge_turns": edits.merge_turns, "move_words": edits.move_words, "set_speaker": edits.set_speaker,
              "insert_turn": edits.insert_turn, "check_turn": edits.check_turn}


class ReviewError(ValueError):
    """A correction or setting that cannot be made; the message says why."""
    status = 422


class RevisionConflict(ReviewError):
    """The transcript was saved by someone else since this version was loaded."""
    status = 409

    def __init__(self, transcript: Transcript, based_on: int):
        self.transcript = transcript
        super().__init__(f"the transcript was changed since revision {based_on}: it is at revision "
                         f"{transcript.revision} now; reload it and apply the change again")


def speaker_names(transcript: Transcript) -> dict[str, str]:
    """Speaker label -> the name the review pages show: the given name, else the role, else the label."""
    return {s.label: s.name or (s.role.capitalize() if s.role else s.label) for s in transcript.speakers}


def check_segments(segments: Any) -> list[dict[str, Any]]:
    """The segments, if they are a list of turns with a speaker, text, start ≤ end and timed words in order."""
    if not isinstance(segments, list):
        raise ReviewError("segments must be a list of turns")
    for i, seg in enumerate(segments):
        if not isinstance(seg, dict) or not isinstance(seg.get("text", ""), str):
            raise ReviewError(f"turn {i}: expected an object with a text")
        try:
            start, end = float(seg["start"]), float(seg["end"])
        except (KeyError, TypeError, ValueError):
            raise ReviewError(f"turn {i}: start and end must be numbers") from None
        if not 0 <= start <= end:
            raise ReviewError(f"turn {i}: it must start at or after 0 and end after it starts")
        previous = start
        for k, w in enumerate(seg.get("words") or []):
            try:
                ws, we = float(w["start"]), float(w["end"])
            except (KeyError, TypeError, ValueError):
                raise ReviewError(f"turn {i}, word {k}: start and end must be numbers") from None
            if not (previous - 1e-6 <= ws <= we) or not isinstance(w.get("text"), str):
                raise ReviewError(f"turn {i}, word {k}: words must have text and times in order")
            previous = ws
    return segments


def _first_save(db: Session, transcript: Transcript) -> None:
    """Keep the recogniser's version as revision 0 before the first correction replaces it."""
    if transcript.revision == 0 and not transcript.revisions:
        db.add(TranscriptRevision(transcript_id=transcript.id, number=0, segments=transcript.segments or [],
                                  changes=[], author_id=None, note="as transcribed"))
        db.flush()


def save(db: Session, transcript: Transcript, based_on: int, segments: Any, author: User | None,
         note: str = "") -> TranscriptRevision | None:
    """Store ``segments`` as the transcript's next revision (audited); RevisionConflict unless ``based_on`` is
    the current revision. A save that changes nothing stores nothing and returns None."""
    if based_on != transcript.revision:
        raise RevisionConflict(transcript, based_on)
    segments = check_segments(segments)
    if segments == (transcript.segments or []):
        return None
    changed = edits.changes(transcript.segments or [], segments)
    _first_save(db, transcript)
    number = transcript.revision + 1
    row = TranscriptRevision(transcript_id=transcript.id, number=number, segments=segments, changes=changed,
                             author_id=author.id if author else None, note=note[:1000])
    db.add(row)
    transcript.segments = segments
    transcript.revision = number
    if transcript.status != "in_review":
        transcript.status = "in_review"
    db.flush()
    audit(db, "revise_transcript", transcript, author, revision=number, changes=len(changed), note=note[:200])
    return row


def apply(db: Session, transcript: Transcript, based_on: int, operation: dict[str, Any],
          author: User | None) -> TranscriptRevision | None:
    """Apply one correction (``{"op": "replace_words", "turn": 3, "first": 2, "last": 2, "text": "homework"}``,
    the operations of ``coder.pipeline.edits``) to the current revision and save the result."""
    if not isinstance(operation, dict) or operation.get("op") not in OPERATIONS:
        raise ReviewError(f"op must be one of {', '.join(OPERATIONS)}")
    arguments = {k: v for k, v in operation.items() if k != "op"}
    if based_on != transcript.revision:
        raise RevisionConflict(transcript, based_on)
    try:
        segments = OPERATIONS[operation["op"]](transcript.segments or [], **arguments)
    except TypeError as exc:
        raise ReviewError(f"{operation['op']}: {exc}") from None
    except edits.EditError as exc:
        raise ReviewError(str(exc)) from None
    return save(db, transcript, based_on, segments, author, note=operation["op"])


def history(db: Session, transcript: Transcript) -> list[TranscriptRevision]:
    """Every saved revision, newest first (empty while the transcript is as transcribed)."""
    return list(db.scalars(select(TranscriptRevision).where(TranscriptRevision.transcript_id == transcript.id)
                           .order_by(TranscriptRevision.number.desc())))


def restore(db: Session, transcript: Transcript, number: int, based_on: int,
            author: User | None) -> TranscriptRevision | None:
    """Save revision ``number`` again as the newest."""
    old = db.scalar(select(TranscriptRevision).where(TranscriptRevision.transcript_id == transcript.id,
                                                     TranscriptRevision.number == number))
    if old is None:
        raise ReviewError(f"the transcript has no revision {number}")
    return save(db, transcript, based_on, list(old.segments), author, note=f"restored revision {number}")


def rename_speaker(db: Session, transcript: Transcript, label: str, name: str, actor: User | None) -> None:
    """Give a speaker a display name (exports and pages use it; empty: none), audited."""
    speaker = next((s for s in transcript.speakers if s.label == label), None)
    if speaker is None:
        raise ReviewError(f"the transcript has no speaker {label}")
    name = " ".join(name.split())[:100] or None
    if name != speaker.name:
        audit(db, "rename_speaker", transcript, actor, speaker=label, before=speaker.name, after=name)
        speaker.name = name
        db.flush()


def set_status(db: Session, transcript: Transcript, status: str, actor: User | None) -> None:
    """Mark the transcript automatic, in review or verified (audited)."""
    if status not in TRANSCRIPT_STATUSES:
        raise ReviewError(f"status must be one of {', '.join(TRANSCRIPT_STATUSES)}")
    if status != transcript.status:
        audit(db, "transcript_status", transcript, actor, before=transcript.status, after=status,
              revision=transcript.revision)
        transcript.status = status
        db.flush()


def rater_view(study: Study) -> str:
    """What the study's raters read beside the audio: automatic, verified or none."""
    view = (study.settings or {}).get("transcripts", "automatic")
    return view if view in RATER_VIEWS else "automatic"


def set_rater_view(db: Session, study: Study, view: str, actor: User | None) -> None:
    if view not in RATER_VIEWS:
        raise ReviewError(f"choose what raters read from {', '.join(RATER_VIEWS)}")
    if view != rater_view(study):
        audit(db, "settings", study, actor, before={"transcripts": rater_view(study)}, after={"transcripts": view})
        study.settings = {**(study.settings or {}), "transcripts": view}
        db.flush()


def shown_to_raters(study: Study, transcript: Transcript | None) -> Transcript | None:
    """The transcript a rater may read under the study's setting, or None (audio only)."""
    if transcript is None:
        return None
    view = rater_view(study)
    if view == "none" or (view == "verified" and transcript.status != "verified"):
        return None
    return transcript
