"""User accounts: coordinators and raters, with hashed passwords."""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .models import USER_ROLES, User

MIN_PASSWORD_LENGTH = 10


class AccountError(Exception):
    pass


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def create_user(db: Session, username: str, password: str, role: str, display_name: str = "") -> User:
    if role not in USER_ROLES:
        raise AccountError(f"role must be one of {', '.join(USER_ROLES)}")
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise AccountError("username may hold letters, digits, '.', '-' and '_' only")
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username} already exists")
    check_password_policy(password)
    user = User(username=username, password_hash=generate_password_hash(password), role=role,
                display_name=display_name or username)
    db.add(user)
    db.flush()
    return user


def set_password(user: User, password: str) -> None:
    check_password_policy(password)
    user.password_hash = generate_password_hash(password)


def set_active(db: Session, user: User, active: bool, actor: User | None, reason: str = "") -> None:
    """Deactivate an account (it can no longer log in; everything it made stays) or reactivate it; audited."""
    from .models import utcnow
    from .study import audit

    user.active, user.deactivated_at = active, None if active else utcnow()
    audit(db, "activate" if active else "deactivate", user, actor, reason=reason)


def authenticate(db: Session, username: str, password: str) -> User | None:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(generate_password_hash("x"), password)  # similar timing for unknown names
        return None
    if not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user
