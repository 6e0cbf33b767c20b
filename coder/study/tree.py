"""The study tree: creating studies, therapists, clients, dyads and sessions, and deleting any of them."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from coder.study import scope
from coder.study.audit import audit
from coder.study.models import (Assignment, Client, Dyad, Instrument, Rating, Study, Therapist, TherapySession, User,
                                utcnow)


class StudyError(Exception):
    """A request that contradicts what the study already holds."""


def find_study(db: Session, name: str) -> Study | None:
    """The live study of this name."""
    return db.scalar(select(Study).where(Study.name == name, Study.live))


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


def ratings_under(row: Any) -> Select:
    """The ids of the ratings (deleted ones too) that hang under ``row``: a rating, a rater's or an instrument's
    ratings, or those under any row of the study hierarchy (coder.study.scope)."""
    if isinstance(row, User):
        return select(Rating.id).where(Rating.rater_id == row.id)
    if isinstance(row, Instrument):
        return select(Rating.id).join(Assignment, Rating.assignment_id == Assignment.id).where(
            Assignment.instrument_id == row.id)
    try:
        return scope.under(select(Rating.id), Rating, row)
    except TypeError:
        raise TypeError(f"cannot delete a {type(row).__name__}") from None


def has_ratings(db: Session, obj: Any) -> bool:
    return bool(db.scalar(select(exists(ratings_under(obj)))))


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
