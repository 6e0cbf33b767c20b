"""Who may see what: the security model's rules in one place.

- A **rater** reaches only their own assignments: the rating page, the audio and the transcript excerpt of
  the units assigned to them, and their own ratings. They never see another rater's rating, a study page, a
  report or an export.
- A **coordinator** reaches the studies they coordinate (``study_coordinators``) and everything in them:
  recordings, transcripts, units, assignments, ratings, consensus, reliability, analyses and the audit
  events of those studies. A coordinator who creates a study coordinates it, and may add other coordinators.
- The **command line** runs with the rights of whoever can read the data directory and the database; it is
  the administrator's tool (``coder study NAME --add-coordinator USER``).

Which study a row belongs to is ``coder.study.scope``'s to say. The web app's guards (``coder.web.guards``)
ask ``coordinates`` and answer 404 for anything outside the user's reach, so that ids of other studies
reveal nothing.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from coder.study.audit import audit
from coder.study.models import Dyad, Recording, Study, StudyCoordinator, TherapySession, User


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


def coordinators_of(db: Session, study: Study) -> list[User]:
    return list(db.scalars(select(User).join(StudyCoordinator, StudyCoordinator.user_id == User.id)
                           .where(StudyCoordinator.study_id == study.id).order_by(User.username)))


def grant(db: Session, study: Study, user: User, actor: User | None, reason: str = "") -> bool:
    """Make ``user`` a coordinator of ``study`` (audited); False when they were one already."""
    if user.role != "coordinator":
        raise AccessError(f"{user.username} is a {user.role}, not a coordinator")
    if coordinates(db, user, study.id):
        return False
    db.add(StudyCoordinator(study_id=study.id, user_id=user.id))
    db.flush()
    audit(db, "grant", study, actor, coordinator=user.username, reason=reason)
    return True


def revoke(db: Session, study: Study, user: User, actor: User | None, reason: str = "") -> bool:
    """Take ``study`` away from a coordinator (audited); the last coordinator of a study stays."""
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
