"""Study services: creating the study tree, soft deletion and the audit trail."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from coder.study.models import (Assignment, AuditEvent, Client, Dyad, Instrument, Rating, RatingUnit, Recording, Study,
                                Therapist, TherapySession, User, utcnow)


class StudyError(Exception):
    """A request that contradicts what the study already holds."""


def audit(db: Session, action: str, entity: Any, actor: User | None = None, **detail: Any) -> AuditEvent:
    from coder.study.access import study_of_entity

    event = AuditEvent(action=action, entity=type(entity).__tablename__ if not isinstance(entity, str) else entity,
                       entity_id=getattr(entity, "id", None), actor_id=actor.id if actor else None,
                       study_id=None if isinstance(entity, str) else study_of_entity(db, entity), detail=detail)
    db.add(event)
    return event


def get_or_create_study(db: Session, name: str) -> Study:
    study = db.scalar(select(Study).where(Study.name == name))
    if study is None:
        study = Study(name=name)
        db.add(study)
        db.flush()
    return study


def _participant(db: Session, cls, study: Study, code: str):
    obj = db.scalar(select(cls).where(cls.study_id == study.id, cls.code == code))
    if obj is None:
        obj = cls(study_id=study.id, code=code)
        db.add(obj)
        db.flush()
    return obj


def get_or_create_dyad(db: Session, study: Study, therapist_code: str, client_code: str,
                       dyad_code: str | None = None) -> Dyad:
    """The dyad of this therapist and client; a dyad code already used for another pair is an error."""
    therapist = _participant(db, Therapist, study, therapist_code)
    client = _participant(db, Client, study, client_code)
    code = dyad_code or f"{therapist_code}-{client_code}"
    dyad = db.scalar(select(Dyad).where(Dyad.study_id == study.id, Dyad.code == code))
    if dyad is not None:
        if (dyad.therapist_id, dyad.client_id) != (therapist.id, client.id):
            raise StudyError(f"dyad {code} already pairs therapist {dyad.therapist.code} with client "
                             f"{dyad.client.code}, not {therapist_code} with {client_code}")
        return dyad
    pair = db.scalar(select(Dyad).where(Dyad.study_id == study.id, Dyad.therapist_id == therapist.id,
                                        Dyad.client_id == client.id))
    if pair is not None:
        raise StudyError(f"therapist {therapist_code} and client {client_code} already form dyad {pair.code}")
    dyad = Dyad(study_id=study.id, code=code, therapist_id=therapist.id, client_id=client.id)
    db.add(dyad)
    db.flush()
    return dyad


def get_or_create_session(db: Session, dyad: Dyad, number: int, date: dt.date | None = None,
                          time_point: str | None = None, treatment_arm: str | None = None) -> TherapySession:
    session = db.scalar(select(TherapySession).where(TherapySession.dyad_id == dyad.id,
                                                     TherapySession.number == number))
    if session is None:
        session = TherapySession(dyad_id=dyad.id, number=number, date=date, time_point=time_point,
                                 treatment_arm=treatment_arm)
        db.add(session)
        db.flush()
    else:
        for field, value in (("date", date), ("time_point", time_point), ("treatment_arm", treatment_arm)):
            current = getattr(session, field)
            if value is not None and current is not None and current != value:
                raise StudyError(f"session {number} of dyad {dyad.code} already has {field} {current}, not {value}")
            if current is None and value is not None:
                setattr(session, field, value)
    return session


# Which ratings hang under each kind of object: the rating's assignment joined up to that object.
def _ratings_under(obj: Any):
    q = select(Rating.id).join(Assignment, Rating.assignment_id == Assignment.id)
    if isinstance(obj, Rating):
        return select(Rating.id).where(Rating.id == obj.id)
    if isinstance(obj, Assignment):
        return q.where(Assignment.id == obj.id)
    if isinstance(obj, User):
        return select(Rating.id).where(Rating.rater_id == obj.id)
    if isinstance(obj, Instrument):
        return q.where(Assignment.instrument_id == obj.id)
    q = q.join(RatingUnit, Assignment.rating_unit_id == RatingUnit.id)
    if isinstance(obj, RatingUnit):
        return q.where(RatingUnit.id == obj.id)
    q = q.join(Recording, RatingUnit.recording_id == Recording.id)
    if isinstance(obj, Recording):
        return q.where(Recording.id == obj.id)
    q = q.join(TherapySession, Recording.session_id == TherapySession.id)
    if isinstance(obj, TherapySession):
        return q.where(TherapySession.id == obj.id)
    q = q.join(Dyad, TherapySession.dyad_id == Dyad.id)
    if isinstance(obj, Dyad):
        return q.where(Dyad.id == obj.id)
    if isinstance(obj, Therapist):
        return q.where(Dyad.therapist_id == obj.id)
    if isinstance(obj, Client):
        return q.where(Dyad.client_id == obj.id)
    if isinstance(obj, Study):
        return q.where(Dyad.study_id == obj.id)
    raise TypeError(f"cannot delete a {type(obj).__name__}")


def has_ratings(db: Session, obj: Any) -> bool:
    return bool(db.scalar(select(exists(_ratings_under(obj)))))


def delete(db: Session, obj: Any, actor: User | None = None, reason: str = "") -> str:
    """Delete ``obj``: softly (kept, marked deleted) where ratings exist under it, else for good.

    Returns ``"soft"`` or ``"hard"``. Either way the deletion is audited.
    """
    if has_ratings(db, obj):
        if isinstance(obj, User):
            obj.active = False
            obj.deactivated_at = utcnow()
        else:
            obj.deleted_at = utcnow()
        audit(db, "soft_delete", obj, actor, reason=reason)
        db.flush()
        return "soft"
    audit(db, "delete", obj, actor, reason=reason)
    db.delete(obj)
    db.flush()
    return "hard"
