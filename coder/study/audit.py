"""The audit trail: who did what, when and why, for every change to a study's data and to accounts.

Each event names its entity (table and id) and the study that entity belongs to (``coder.study.scope``), so
that a coordinator sees the events of the studies they coordinate: ``trail`` is the one query of what a
coordinator may read (their studies' events, account events, and their own actions on no study), filtered and
paged; ``to_csv`` writes it out whole.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session, selectinload

from coder.stats import sheetsafe
from coder.study.models import AuditEvent, User
from coder.study.scope import study_of

PAGE = 200  # events on one page of the trail
CSV_COLUMNS = ("id", "at", "actor", "action", "entity", "entity_id", "detail")


def audit(db: Session, action: str, entity: Any, actor: User | None = None, **detail: Any) -> AuditEvent:
    """Record ``action`` on ``entity`` (a row, or a table name for actions on no one row) by ``actor``."""
    event = AuditEvent(action=action, entity=type(entity).__tablename__ if not isinstance(entity, str) else entity,
                       entity_id=getattr(entity, "id", None), actor_id=actor.id if actor else None,
                       study_id=None if isinstance(entity, str) else study_of(db, entity), detail=detail)
    db.add(event)
    return event


def visible_to(reader: User, study_ids: Collection[int]) -> ColumnElement[bool]:
    """The events a coordinator may read: those of their studies (``study_ids``, coder.study.access), account
    events (raters serve every study), and their own actions on no study."""
    return (AuditEvent.study_id.in_(study_ids) | (AuditEvent.entity == "users")
            | (AuditEvent.study_id.is_(None) & (AuditEvent.actor_id == reader.id)))


def trail(reader: User, study_ids: Collection[int], entity: str | None = None, action: str | None = None,
          actor: str | None = None, before: int | None = None, study: int | None = None) -> Select:
    """The events ``reader`` may read, newest first: only those on ``entity`` (a table), of ``action``, by
    ``actor`` (a user name), older than event ``before``, of study ``study``, where given."""
    stmt = (select(AuditEvent).where(visible_to(reader, study_ids)).options(selectinload(AuditEvent.actor))
            .order_by(AuditEvent.id.desc()))
    if entity:
        stmt = stmt.where(AuditEvent.entity == entity)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor:
        stmt = stmt.join(User, AuditEvent.actor_id == User.id).where(User.username == actor)
    if before:
        stmt = stmt.where(AuditEvent.id < before)
    if study is not None:
        stmt = stmt.where(AuditEvent.study_id == study)
    return stmt


def filter_choices(db: Session, reader: User, study_ids: Collection[int]) -> tuple[list[str], list[str]]:
    """The entities and the actions of the events ``reader`` may read, each sorted, to filter the trail by."""
    visible = visible_to(reader, study_ids)
    entities = sorted(db.scalars(select(AuditEvent.entity).where(visible).distinct()))
    actions = sorted(db.scalars(select(AuditEvent.action).where(visible).distinct()))
    return entities, actions


def to_csv(db: Session, stmt: Select) -> str:
    """Every event of a trail as CSV (``CSV_COLUMNS``; the details as JSON)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in db.scalars(stmt.limit(None)):
        writer.writerow(sheetsafe.row([e.id, e.at.isoformat(), e.actor.username if e.actor else "", e.action,
                                       e.entity, e.entity_id, json.dumps(e.detail, ensure_ascii=False, default=str)]))
    return out.getvalue()


def history(db: Session, entity: str, entity_id: int) -> list[AuditEvent]:
    """The events of one row (``entity``: its table), oldest first."""
    return list(db.scalars(select(AuditEvent).where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
                           .order_by(AuditEvent.at, AuditEvent.id)))
