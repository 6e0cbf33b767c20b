"""The study hierarchy, in one place: which study a row belongs to, and the rows of a study.

    study → dyad → session → rating unit → assignment → rating
                              ↘ recording ↘ consensus rating
                                ↘ transcript → speaker, turn (the search index),
                                               de-identification → anonymisation log
    (a rating unit's recording, where it has one, is of the same session)
    study → therapist → voiceprint;  study → client → client variable;  study → design, analysis

``PARENTS`` says how each kind of row hangs under the next; every question about a study's rows walks it:

- ``in_study(stmt, Model, studies)``: a statement over ``Model`` restricted to the rows of those studies (or of
  any study), joined up the hierarchy as far as the study; with ``live`` (the default) every row on the way,
  the study included, must be live (``SoftDelete.live``), and so must a rating unit's recording where it has
  one, so a deleted recording takes its units, assignments and ratings out of every list and figure;
- ``under(stmt, Model, row)``: the ``Model`` rows that hang under one row (a dyad, a therapist, a recording ...);
- ``study_of(db, row)`` and ``study_id_of(db, table, id)``: the id of the study a row belongs to (the audit trail
  and access control ask it).

Migration 0007 keeps a frozen copy of the hierarchy in SQL for its backfill; nothing else spells it out.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from coder.study.models import (Analysis, AnonymisationEntry, Assignment, AssignmentDesign, Base, Client,
                                ClientVariable, ConsensusRating, Deidentification, Dyad, Rating, RatingUnit, Recording,
                                Speaker, Study, Therapist, TherapySession, Transcript, TranscriptTurn, Voiceprint)

# Each kind of row and the row it hangs under, with the join between them.
PARENTS: dict[type, tuple[type, Any]] = {
    Rating: (Assignment, Rating.assignment_id == Assignment.id),
    Assignment: (RatingUnit, Assignment.rating_unit_id == RatingUnit.id),
    ConsensusRating: (RatingUnit, ConsensusRating.rating_unit_id == RatingUnit.id),
    RatingUnit: (TherapySession, RatingUnit.session_id == TherapySession.id),
    Speaker: (Transcript, Speaker.transcript_id == Transcript.id),
    TranscriptTurn: (Transcript, TranscriptTurn.transcript_id == Transcript.id),
    Deidentification: (Transcript, Deidentification.transcript_id == Transcript.id),
    AnonymisationEntry: (Deidentification, AnonymisationEntry.deidentification_id == Deidentification.id),
    Transcript: (Recording, Transcript.recording_id == Recording.id),
    Recording: (TherapySession, Recording.session_id == TherapySession.id),
    TherapySession: (Dyad, TherapySession.dyad_id == Dyad.id),
    Voiceprint: (Therapist, Voiceprint.therapist_id == Therapist.id),
    ClientVariable: (Client, ClientVariable.client_id == Client.id),
}
# The rows that name their study (and, for a dyad, its therapist and client) themselves.
OWNERS: dict[tuple[type, type], Any] = {
    (Study, Study): Study.id,
    (Dyad, Study): Dyad.study_id,
    (Dyad, Therapist): Dyad.therapist_id,
    (Dyad, Client): Dyad.client_id,
    (Therapist, Study): Therapist.study_id,
    (Client, Study): Client.study_id,
    (AssignmentDesign, Study): AssignmentDesign.study_id,
    (Analysis, Study): Analysis.study_id,
    (RatingUnit, Recording): RatingUnit.recording_id,  # the units (and their ratings) of one recording
}
MODELS = {m.class_.__tablename__: m.class_ for m in Base.registry.mappers}


def _soft(model: type) -> bool:
    return hasattr(model, "deleted_at")


def _recording_live() -> Any:
    """A rating unit's condition: no recording, or a live one."""
    return RatingUnit.recording_id.is_(None) | RatingUnit.recording_id.in_(select(Recording.id).where(Recording.live))


def _walk(stmt: Select, model: type, anchor: type, live: bool) -> tuple[Select, Any, list]:
    """Join ``stmt`` (over ``model``) up the hierarchy until a row names an ``anchor``; that column, and the
    liveness conditions of the rows on the way."""
    conditions = [model.live] if live and _soft(model) else []
    current = model
    while True:
        if live and current is RatingUnit and anchor is not Recording:
            conditions.append(_recording_live())
        if current is anchor:
            return stmt, current.id, conditions
        column = OWNERS.get((current, anchor))
        if column is not None:
            return stmt, column, conditions
        if current not in PARENTS:
            raise TypeError(f"a {model.__name__} does not hang under a {anchor.__name__}")
        current, onclause = PARENTS[current]
        stmt = stmt.join(current, onclause)
        if live and _soft(current):
            conditions.append(current.live)


def _ids(studies: Study | int | Collection[int]) -> list[int]:
    if isinstance(studies, Study):
        return [studies.id]
    return [studies] if isinstance(studies, int) else list(studies)


def in_study(stmt: Select, model: type, studies: Study | int | Collection[int] | None, *,
             live: bool = True) -> Select:
    """``stmt`` (over ``model``) restricted to the rows of ``studies`` (a study, an id, ids; None: any study).

    With ``live``, the row and every row above it, up to and including the study, must be live.
    """
    stmt, column, conditions = _walk(stmt, model, Study, live)
    if studies is not None:
        stmt = stmt.where(column.in_(_ids(studies)))
    if live and model is not Study:
        stmt = stmt.join(Study, column == Study.id)
        conditions.append(Study.live)
    return stmt.where(*conditions)


def under(stmt: Select, model: type, row: Any, *, live: bool = False) -> Select:
    """``stmt`` (over ``model``) restricted to the rows that hang under ``row`` (a rating under a recording,
    a recording under a therapist, ...), or are ``row`` itself."""
    stmt, column, conditions = _walk(stmt, model, type(row), live)
    return stmt.where(column == row.id, *conditions)


def study_id_of(db: Session, table: str, ident: int | None) -> int | None:
    """The id of the study the row ``ident`` of ``table`` belongs to; None for rows of no study (users,
    instruments) and for rows that do not exist."""
    model = MODELS.get(table)
    if ident is None or model is None:
        return None
    try:
        stmt, column, _ = _walk(select(model.id), model, Study, live=False)
    except TypeError:
        return None
    return db.scalar(stmt.where(model.id == ident).with_only_columns(column))


def study_of(db: Session, row: Any) -> int | None:
    """The id of the study ``row`` belongs to (see ``study_id_of``)."""
    table = getattr(type(row), "__tablename__", None)
    return study_id_of(db, table, getattr(row, "id", None)) if table else None
