"""Who may see what: the security model's rules in one place.

- A **rater** reaches only their own assignments: the rating page, the audio and the transcript excerpt of
  the units assigned to them, and their own ratings. They never see another rater's rating, a study page, a
  report or an export.
- A **coordinator** reaches the studies they coordinate (``study_coordinators``) and everything in them:
  recordings, transcripts, units, assignments, ratings, consensus, reliability, analyses and the audit
  events of those studies. A coordinator who creates a study coordinates it, and may add other coordinators.
- A **transcriber** reaches the transcripts of the studies they transcribe (``study_transcribers``): the
  transcript editor, its audio and the transcript's history; nothing else of the study (no ratings, units,
  reports or exports). Coordinators may do everything a transcriber may in their studies.
- The **command line** runs with the rights of whoever can read the data directory and the database; it is
  the administrator's tool (``coder study NAME --add-coordinator USER``).

Which study a row belongs to is ``coder.study.scope``'s to say. The web app's guards (``coder.web.guards``)
ask ``coordinates`` and answer 404 for anything outside the user's reach, so that ids of other studies
reveal nothing.
"""
from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from coder.study import scope
from coder.study.audit import audit
from coder.study.models import (Dyad, RatingUnit, Recording, Study, StudyCoordinator, StudyTranscriber,
                                TherapySession, User)


class AccessError(Exception):
    pass


def _is_coordinator(user: User | None) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.role == "coordinator"


def study_ids(db: Session, user: User | None) -> set[int]:
    """The studies the user coordinates (none for raters and for the logged-out)."""
    if not _is_coordinator(user):
        return set()
    return set(db.scalars(select(StudyCoordinator.study_id).where(StudyCoordinator.user_id == user.id)))


def coordinates(db: Session, user: User | None, study_id: int | None) -> bool:
    if study_id is None or not _is_coordinator(user):
        return False
    return db.scalar(select(StudyCoordinator.id).where(StudyCoordinator.user_id == user.id,
                                                       StudyCoordinator.study_id == study_id)) is not None


def visible_studies(db: Session, user: User | None, with_recordings: bool = False) -> list[Study]:
    """The live studies the user coordinates, by name (``with_recordings``: their dyads, sessions, recordings
    and transcripts loaded, for the list of studies)."""
    stmt = (select(Study).join(StudyCoordinator, StudyCoordinator.study_id == Study.id)
            .where(StudyCoordinator.user_id == (user.id if user is not None else -1), Study.live)
            .order_by(Study.name))
    if with_recordings:
        stmt = stmt.options(selectinload(Study.dyads).selectinload(Dyad.sessions)
                            .selectinload(TherapySession.recordings).selectinload(Recording.transcripts))
    return list(db.scalars(stmt))


def studies_listed(user: User | None, name: str | None = None) -> Select:
    """The live studies the user coordinates, by name, only those whose name holds ``name`` where given: a query,
    for a list a page at a time (``study_counts`` for their sizes)."""
    stmt = (select(Study).join(StudyCoordinator, StudyCoordinator.study_id == Study.id)
            .where(StudyCoordinator.user_id == (user.id if user is not None else -1), Study.live)
            .order_by(Study.name, Study.id))
    if name:
        stmt = stmt.where(func.lower(Study.name).contains(name.lower(), autoescape=True))
    return stmt


def study_counts(db: Session, ids: Collection[int]) -> dict[int, dict[str, int]]:
    """For each of the studies ``ids``: its live dyads, sessions, recordings, rating units, and recordings of
    each processing status (keys: the status), counted in the database."""
    out: dict[int, dict[str, int]] = {i: {"dyads": 0, "sessions": 0, "recordings": 0, "units": 0} for i in ids}
    if not ids:
        return out
    for model, key in ((Dyad, "dyads"), (TherapySession, "sessions"), (RatingUnit, "units")):
        stmt = scope.in_study(select(model.id), model, ids).with_only_columns(Study.id, func.count(model.id))
        for study_id, n in db.execute(stmt.group_by(Study.id)):
            out[study_id][key] = n
    stmt = (scope.in_study(select(Recording.id), Recording, ids)
            .with_only_columns(Study.id, Recording.status, func.count(Recording.id)))
    for study_id, status, n in db.execute(stmt.group_by(Study.id, Recording.status)):
        out[study_id][status] = n
        out[study_id]["recordings"] += n
    return out


def coordinators_of(db: Session, study: Study) -> list[User]:
    return list(db.scalars(select(User).join(StudyCoordinator, StudyCoordinator.user_id == User.id)
                           .where(StudyCoordinator.study_id == study.id).order_by(User.username)))


def _is_transcriber(user: User | None) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.role == "transcriber"


def transcribes(db: Session, user: User | None, study_id: int | None) -> bool:
    """Whether the user may correct the study's transcripts: its transcribers and its coordinators."""
    if study_id is None:
        return False
    if _is_coordinator(user):
        return coordinates(db, user, study_id)
    if not _is_transcriber(user):
        return False
    return db.scalar(select(StudyTranscriber.id).where(StudyTranscriber.user_id == user.id,
                                                       StudyTranscriber.study_id == study_id)) is not None


def transcribed_studies(db: Session, user: User | None) -> list[Study]:
    """The live studies whose transcripts the user may correct, by name, with their recordings and transcripts."""
    if _is_coordinator(user):
        return visible_studies(db, user, with_recordings=True)
    if not _is_transcriber(user):
        return []
    stmt = (select(Study).join(StudyTranscriber, StudyTranscriber.study_id == Study.id)
            .where(StudyTranscriber.user_id == user.id, Study.live).order_by(Study.name)
            .options(selectinload(Study.dyads).selectinload(Dyad.sessions)
                     .selectinload(TherapySession.recordings).selectinload(Recording.transcripts)))
    return list(db.scalars(stmt))


def transcribers_of(db: Session, study: Study) -> list[User]:
    return list(db.scalars(select(User).join(StudyTranscriber, StudyTranscriber.user_id == User.id)
                           .where(StudyTranscriber.study_id == study.id).order_by(User.username)))


def _grant_transcriber(db: Session, study: Study, user: User, actor: User | None, reason: str) -> bool:
    if transcribes(db, user, study.id):
        return False
    db.add(StudyTranscriber(study_id=study.id, user_id=user.id))
    db.flush()
    audit(db, "grant", study, actor, transcriber=user.username, reason=reason)
    return True


def _revoke_transcriber(db: Session, study: Study, user: User, actor: User | None, reason: str) -> bool:
    row = db.scalar(select(StudyTranscriber).where(StudyTranscriber.study_id == study.id,
                                                   StudyTranscriber.user_id == user.id))
    if row is None:
        return False
    db.delete(row)
    db.flush()
    audit(db, "revoke", study, actor, transcriber=user.username, reason=reason)
    return True


def grant(db: Session, study: Study, user: User, actor: User | None, reason: str = "") -> bool:
    """Make ``user`` a coordinator (or, for a transcriber's account, a transcriber) of ``study`` (audited);
    False when they were one already."""
    if user.role == "transcriber":
        return _grant_transcriber(db, study, user, actor, reason)
    if user.role != "coordinator":
        raise AccessError(f"{user.username} is a {user.role}, not a coordinator or a transcriber")
    if coordinates(db, user, study.id):
        return False
    db.add(StudyCoordinator(study_id=study.id, user_id=user.id))
    db.flush()
    audit(db, "grant", study, actor, coordinator=user.username, reason=reason)
    return True


def revoke(db: Session, study: Study, user: User, actor: User | None, reason: str = "") -> bool:
    """Take ``study`` away from a coordinator or a transcriber (audited); the last coordinator of a study stays."""
    if user.role == "transcriber":
        return _revoke_transcriber(db, study, user, actor, reason)
    row = db.scalar(select(StudyCoordinator).where(StudyCoordinator.study_id == study.id,
                                                   StudyCoordinator.user_id == user.id))
    if row is None:
        return False
    if len(coordinators_of(db, study)) == 1:
        raise AccessError(f"{user.username} is the study's only coordinator; add another first")
    db.delete(row)
    db.flush()
    audit(db, "revoke", study, actor, coordinator=user.username, reason=reason)
    return True
