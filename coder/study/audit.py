"""The audit trail: who did what, when and why, for every change to a study's data and to accounts.

Each event names its entity (table and id) and the study that entity belongs to (``coder.study.scope``), so
that a coordinator sees the events of the studies they coordinate.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from coder.study.models import AuditEvent, User
from coder.study.scope import study_of


def audit(db: Session, action: str, entity: Any, actor: User | None = None, **detail: Any) -> AuditEvent:
    """Record ``action`` on ``entity`` (a row, or a table name for actions on no one row) by ``actor``."""
    event = AuditEvent(action=action, entity=type(entity).__tablename__ if not isinstance(entity, str) else entity,
                       entity_id=getattr(entity, "id", None), actor_id=actor.id if actor else None,
                       study_id=None if isinstance(entity, str) else study_of(db, entity), detail=detail)
    db.add(event)
    return event
