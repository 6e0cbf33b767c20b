"""The study tree: creating studies, therapists, clients, dyads and sessions, reading a study's participants and
recordings, and deleting any of them."""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session, selectinload

from coder.study import access, names, scope
from coder.study.audit import audit
from coder.study.models import (Assignment, Client, Dyad, Instrument, Rating, Recording, Speaker, Study, Therapist,
                                TherapySession, Transcript, User, utcnow)

PARTICIPANT_KINDS = {"therapist": Therapist, "client": Client}


class StudyError(Exception):
    """A request that contradicts what the study already holds."""


def _check(problem: str | None) -> None:
    if problem:
        raise StudyError(problem)


def _findable(*values: str | None) -> None:
    """StudyError for a NUL, which PostgreSQL refuses even in a query (other names are checked when stored, so
    that rows stored before the checks can still be found)."""
    for value in values:
        if value and "\x00" in value:
            _check(names.name_problem("the name", value))


def find_study(db: Session, name: str) -> Study | None:
    """The live study of this name."""
    return db.scalar(select(Study).where(Study.name == name, Study.live))


def get_or_create_study(db: Session, name: str) -> Study:
    _findable(name)
    study = db.scalar(select(Study).where(Study.name == name))
    if study is None:
        _check(names.name_problem("the study's name", name))
        study = Study(name=name)
        db.add(study)
        db.flush()
    return study


def create_study(db: Session, name: str, description: str, creator: User) -> Study:
    """A new study (audited), coordinated by its creator; StudyError when the name is empty, too long or taken
    (by a deleted study too)."""
    if not name or len(name) > 200:
        raise StudyError("give the study a name (up to 200 characters)")
    _check(names.name_problem("the study's name", name))
    if db.scalar(select(Study).where(Study.name == name)) is not None:
        raise StudyError(f"a study named {name} exists already")
    study = get_or_create_study(db, name)
    study.description = description.strip()[:5000]
    audit(db, "create", study, creator, name=name)
    access.grant(db, study, creator, creator, "created the study")
    return study


def add_participant(db: Session, study: Study, kind: str, code: str, actor: User | None) -> Therapist | Client:
    """A new therapist or client (``kind``) of the study under ``code``, a pseudonym; audited."""
    cls = PARTICIPANT_KINDS[kind]
    if not code or len(code) > 100:
        raise StudyError(f"give the {kind} a code (a pseudonym, never a name) of up to 100 characters")
    _check(names.code_problem(f"the {kind} code", code))
    if db.scalar(select(cls).where(cls.study_id == study.id, cls.code == code)) is not None:
        raise StudyError(f"{kind} {code} exists already")
    participant = cls(study_id=study.id, code=code)
    db.add(participant)
    db.flush()
    audit(db, "create", participant, actor, code=code)
    return participant


def add_dyad(db: Session, study: Study, therapist_code: str, client_code: str, dyad_code: str | None,
             actor: User | None) -> Dyad:
    """The dyad of this therapist and client (both added when new), audited (see ``get_or_create_dyad``)."""
    if not therapist_code or not client_code:
        raise StudyError("choose the dyad's therapist and client")
    dyad = get_or_create_dyad(db, study, therapist_code, client_code, dyad_code or None)
    audit(db, "create", dyad, actor, code=dyad.code, therapist=therapist_code, client=client_code)
    return dyad


def _participant(db: Session, cls, study: Study, code: str):
    _findable(code)
    obj = db.scalar(select(cls).where(cls.study_id == study.id, cls.code == code))
    if obj is None:
        _check(names.code_problem(f"the {cls.__name__.lower()} code", code))
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
    _findable(code)
    dyad = db.scalar(select(Dyad).where(Dyad.study_id == study.id, Dyad.code == code))
    if dyad is not None:
        if (dyad.therapist_id, dyad.client_id) != (therapist.id, client.id):
            raise StudyError(f"dyad {code} already pairs therapist {dyad.therapist.code} with client "
                             f"{dyad.client.code}, not {therapist_code} with {client_code}")
        return dyad
    _check(names.code_problem("the dyad code", code))
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
    for what, value in (("the time point", time_point), ("the treatment arm", treatment_arm)):
        _check(value and names.code_problem(what, value))
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


@dataclass(frozen=True)
class Participants:
    therapists: list[Therapist]
    clients: list[Client]
    dyads: list[Dyad]


def participants(db: Session, study: Study) -> Participants:
    """The study's live therapists, clients and dyads, each by code."""
    def live(model) -> list:
        return list(db.scalars(scope.in_study(select(model), model, study).order_by(model.code)))

    return Participants(live(Therapist), live(Client), live(Dyad))


def dyad_of(db: Session, study: Study, dyad_id: int) -> Dyad | None:
    """The study's live dyad of this id; None for any other id."""
    return db.scalar(scope.in_study(select(Dyad), Dyad, study).where(Dyad.id == dyad_id))


def recordings(db: Session, study: Study | None, ids: Collection[int] | None = None,
               by_id: bool = False) -> list[Recording]:
    """The live recordings of ``study`` (of every study: None), only those of ``ids`` when given, by dyad, session
    and id (``by_id``: by id), with their sessions, dyads, rating units and transcripts' speakers loaded."""
    return list(db.scalars(recordings_listed(study, ids, by_id)))


def recordings_listed(study: Study | None, ids: Collection[int] | None = None, by_id: bool = False,
                      status: str | None = None, dyad_id: int | None = None) -> Select:
    """``recordings``' query, also only those of processing ``status`` and of dyad ``dyad_id`` where given: for a
    list a page at a time."""
    stmt = (scope.in_study(select(Recording), Recording, study)
            # a transcript's id and speakers, not its segments: a study holds hundreds of long transcripts
            .options(selectinload(Recording.transcripts).load_only(Transcript.id, Transcript.recording_id,
                                                                    Transcript.created_at)
                     .selectinload(Transcript.speakers).load_only(Speaker.id, Speaker.label),
                     selectinload(Recording.rating_units),
                     selectinload(Recording.session).selectinload(TherapySession.dyad))
            .order_by(*((Recording.id,) if by_id else (Dyad.code, TherapySession.number, Recording.id))))
    if ids is not None:
        stmt = stmt.where(Recording.id.in_(sorted(ids)))
    if status:
        stmt = stmt.where(Recording.status == status)
    if dyad_id is not None:
        stmt = stmt.where(TherapySession.dyad_id == dyad_id)
    return stmt


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
