"""Who may see what: the security model's rules in one place.

- A **rater** reaches only their own assignments: the rating page, the audio and the transcript excerpt of
  the units assigned to them, and their own ratings. They never see another rater's rating, a study page, a
  report or an export.
- A **coordinator** reaches the studies they coordinate (``study_coordinators``) and everything in them:
  recordings, transcripts, units, assignments, ratings, consensus, reliability, analyses and the audit
  events of those studies. A coordinator who creates a study coordinates it, and may add other coordinators.
- The **command line** runs with the rights of whoever can read the data directory and the database; it is
  the administrator's tool (``coder study NAME --add-coordinator USER``).

Views ask ``views.coordinated_study`` / ``views.check_row`` and answer 404 for anything outside the user's
reach, so that ids of other studies reveal nothing.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from coder.study.models import Dyad, RatingUnit, Recording, Study, StudyCoordinator, TherapySession, User

_RECORDING = ("SELECT d.study_id FROM recordings r JOIN sessions s ON s.id = r.session_id "
              "JOIN dyads d ON d.id = s.dyad_id WHERE r.id = ({})")
_UNIT = "SELECT u.recording_id FROM rating_units u WHERE u.id = ({})"
# The study of a row, by the row's table; {} is its id. Migration 0007 holds a frozen copy for its backfill.
STUDY_OF = {
    "studies": "SELECT id FROM studies WHERE id = ({})",
    "therapists": "SELECT study_id FROM therapists WHERE id = ({})",
    "clients": "SELECT study_id FROM clients WHERE id = ({})",
    "dyads": "SELECT study_id FROM dyads WHERE id = ({})",
    "assignment_designs": "SELECT study_id FROM assignment_designs WHERE id = ({})",
    "analyses": "SELECT study_id FROM analyses WHERE id = ({})",
    "sessions": "SELECT d.study_id FROM sessions s JOIN dyads d ON d.id = s.dyad_id WHERE s.id = ({})",
    "recordings": _RECORDING,
    "transcripts": _RECORDING.format("SELECT t.recording_id FROM transcripts t WHERE t.id = ({})"),
    "rating_units": _RECORDING.format(_UNIT),
    "assignments": _RECORDING.format(_UNIT.format("SELECT a.rating_unit_id FROM assignments a WHERE a.id = ({})")),
    "ratings": _RECORDING.format(_UNIT.format(
        "SELECT a.rating_unit_id FROM ratings g JOIN assignments a ON a.id = g.assignment_id WHERE g.id = ({})")),
    "consensus_ratings": _RECORDING.format(_UNIT.format(
        "SELECT c.rating_unit_id FROM consensus_ratings c WHERE c.id = ({})")),
    "voiceprints": "SELECT t.study_id FROM voiceprints v JOIN therapists t ON t.id = v.therapist_id WHERE v.id = ({})",
    "client_variables": ("SELECT c.study_id FROM client_variables v JOIN clients c ON c.id = v.client_id "
                         "WHERE v.id = ({})"),
}


class AccessError(Exception):
    pass


def study_of(db: Session, table: str, ident: int | None) -> int | None:
    """The id of the study a row of ``table`` belongs to (None for rows of no study: users, instruments)."""
    if ident is None or table not in STUDY_OF:
        return None
    return db.execute(text(STUDY_OF[table].format(":ident")), {"ident": ident}).scalar()


def study_of_entity(db: Session, entity: Any) -> int | None:
    table = getattr(type(entity), "__tablename__", None)
    return study_of(db, table, getattr(entity, "id", None)) if table else None


def _is_coordinator(user: User | None) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.role == "coordinator"


def study_ids(db: Session, user: User | None) -> set[int]:
    """The studies the user coordinates (none for raters and for the logged-out)."""
    if not _is_coordinator(user):
        return set()
    return set(db.scalars(select(StudyCoordinator.study_id).where(StudyCoordinator.user_id == user.id)))


def units_in(study_ids: Collection[int]) -> Select:
    """The ids of the rating units of the given studies, for ``RatingUnit.id.in_(...)``."""
    return (select(RatingUnit.id).join(Recording, RatingUnit.recording_id == Recording.id)
            .join(TherapySession, Recording.session_id == TherapySession.id)
            .join(Dyad, TherapySession.dyad_id == Dyad.id).where(Dyad.study_id.in_(list(study_ids))))


def coordinates(db: Session, user: User | None, study_id: int | None) -> bool:
    if study_id is None or not _is_coordinator(user):
        return False
    return db.scalar(select(StudyCoordinator.id).where(StudyCoordinator.user_id == user.id,
                                                       StudyCoordinator.study_id == study_id)) is not None


def visible_studies(db: Session, user: User | None) -> list[Study]:
    """The live studies the user coordinates, by name."""
    return list(db.scalars(select(Study).join(StudyCoordinator, StudyCoordinator.study_id == Study.id)
                           .where(StudyCoordinator.user_id == (user.id if user is not None else -1),
                                  Study.deleted_at.is_(None)).order_by(Study.name)))


def coordinators_of(db: Session, study: Study) -> list[User]:
    return list(db.scalars(select(User).join(StudyCoordinator, StudyCoordinator.user_id == User.id)
                           .where(StudyCoordinator.study_id == study.id).order_by(User.username)))


def grant(db: Session, study: Study, user: User, actor: User | None, reason: str = "") -> bool:
    """Make ``user`` a coordinator of ``study`` (audited); False when they were one already."""
    from coder.study.tree import audit

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
    from coder.study.tree import audit

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
