"""User accounts: coordinators and raters, with hashed passwords, the limit on failed logins, and the bound on
password hashes computed at once."""
from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from coder.study import names
from coder.study.audit import audit
from coder.study.models import USER_ROLES, LoginFailure, User, utcnow

MIN_PASSWORD_LENGTH = 10
# Guessable however long (NIST SP 800-63B asks for a check against such lists, not for composition rules).
COMMON_PASSWORDS = {
    "1234567890", "0123456789", "0987654321", "1111111111", "1234512345", "12345678910", "123456789a",
    "1q2w3e4r5t", "1qaz2wsx3edc", "qwertyuiop", "asdfghjkl;", "zxcvbnm,./", "password123", "password12",
    "password1!", "passw0rd123", "iloveyou123", "letmein123", "welcome123", "changeme123", "administrator",
    "qwerty12345", "abcdefghij", "abcd123456", "football123", "baseball123", "sunshine123", "princess123",
    "trustno1234", "therapist123", "coordinator", "coordinator1", "rater123456",
}


class AccountError(Exception):
    pass


class PasswordHashing:
    """At most ``limit`` password hashes computed at once in this process; the others wait their turn.

    A hash (werkzeug's scrypt, deliberately slow) takes about 0.15 s of a core, so fifty raters logging in at once
    would take every core, and the server threads that run their logins, from the page requests of those already
    working. Bounding how many hash at once leaves cores for the pages without weakening the hash; the server
    needs more threads than logins arriving together (``coder serve --threads``).
    """

    def __init__(self, limit: int):
        self._turns = threading.Condition()
        self.limit = limit
        self.busy = 0  # hashes being computed now
        self.waiting = 0  # hashes waiting for a turn
        self.peak = 0  # the most computed at once so far

    def resize(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("at least one password hash must be allowed at a time")
        with self._turns:
            self.limit = limit
            self._turns.notify_all()

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._turns:
            self.waiting += 1
            try:
                self._turns.wait_for(lambda: self.busy < self.limit)
            finally:
                self.waiting -= 1
            self.busy += 1
            self.peak = max(self.peak, self.busy)
        try:
            yield
        finally:
            with self._turns:
                self.busy -= 1
                self._turns.notify()


def default_password_checks() -> int:
    """Half the cores (at least one): the rest stay free for page requests while logins arrive together."""
    return max(1, (os.cpu_count() or 2) // 2)


# one bound for the process, as its hashes share the machine's cores (the web app sets it: CODER_PASSWORD_CHECKS)
password_hashing = PasswordHashing(default_password_checks())


def hash_password(password: str) -> str:
    with password_hashing.turn():
        return generate_password_hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    with password_hashing.turn():
        return check_password_hash(password_hash, password)


def check_password_policy(password: str, username: str = "") -> None:
    """At least 10 characters, not mostly one character, not a well-known password, not the user name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise AccountError("password must use at least 4 different characters")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or lowered.rstrip("!.1") in COMMON_PASSWORDS:
        raise AccountError("password is too common; choose another")
    if username and username.lower() in lowered:
        raise AccountError("password must not contain the user name")


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def create_user(db: Session, username: str, password: str, role: str, display_name: str = "") -> User:
    if role not in USER_ROLES:
        raise AccountError(f"role must be one of {', '.join(USER_ROLES)}")
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise AccountError("username may hold letters, digits, '.', '-' and '_' only")
    if names.name_problem("the display name", display_name):
        raise AccountError(names.name_problem("the display name", display_name))
    if find_user(db, username) is not None:
        raise AccountError(f"user {username} already exists")
    check_password_policy(password, username)
    user = User(username=username, password_hash=hash_password(password), role=role,
                display_name=display_name or username)
    db.add(user)
    db.flush()
    return user


def add_rater(db: Session, username: str, display_name: str, actor: User | None) -> tuple[User, str]:
    """A new rater account with a generated one-time password, to be changed at the first login (audited); the
    account and the password."""
    password = generate_password()
    user = create_user(db, username, password, "rater", display_name)
    user.must_change_password = True
    audit(db, "create", user, actor, username=username, role="rater")
    return user, password


def find_user(db: Session, username: str, role: str | None = None) -> User | None:
    """The account of this user name (only if it has ``role``, when given)."""
    stmt = select(User).where(User.username == username)
    if role is not None:
        stmt = stmt.where(User.role == role)
    return db.scalar(stmt)


def users(db: Session, role: str, active_only: bool = False, excluding: Collection[User] = ()) -> list[User]:
    """The accounts of a role by user name: only the active ones with ``active_only``, none of ``excluding``."""
    stmt = select(User).where(User.role == role).order_by(User.username)
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    if excluding:
        stmt = stmt.where(User.id.not_in([u.id for u in excluding]))
    return list(db.scalars(stmt))


def set_password(user: User, password: str, one_time: bool = False) -> None:
    """A new password; it ends every login of the account (see User.get_id). A ``one_time`` password must be
    changed at the next login."""
    check_password_policy(password, user.username)
    user.password_hash = hash_password(password)
    user.session_epoch = (user.session_epoch or 0) + 1
    user.must_change_password = one_time
    user.password_changed_at = utcnow()


def change_password(db: Session, user: User, current: str, new: str) -> None:
    """The user's own change: the current password is required, and the new one must differ (audited)."""
    if not password_matches(user.password_hash, current or ""):
        raise AccountError("the current password is wrong")
    if new == current:
        raise AccountError("the new password must differ from the current one")
    set_password(user, new)
    audit(db, "password_change", user, user)


def reset_password(db: Session, user: User, actor: User | None) -> str:
    """A generated one-time password for the account, which its owner must change at the next login; every
    login of the account ends (audited). Returns the password, shown once."""
    password = generate_password()
    set_password(user, password, one_time=True)
    audit(db, "password_reset", user, actor)
    return password


def end_sessions(db: Session, user: User) -> None:
    """End every login of the account (logout: the cookie of each of its sessions no longer matches)."""
    user.session_epoch = (user.session_epoch or 0) + 1
    audit(db, "logout", user, user)


def set_active(db: Session, user: User, active: bool, actor: User | None, reason: str = "") -> None:
    """Deactivate an account (it can no longer log in, and its logins end; everything it made stays) or
    reactivate it; audited."""
    user.active, user.deactivated_at = active, None if active else utcnow()
    if not active:
        user.session_epoch = (user.session_epoch or 0) + 1
    audit(db, "activate" if active else "deactivate", user, actor, reason=reason)


def user_of_session(db: Session, value: str) -> User | None:
    ident = value.partition(".")[0]
    user = db.get(User, int(ident)) if ident.isdigit() else None
    if user is None or not user.active or not secrets.compare_digest(user.get_id(), value):
        return None
    return user


@dataclass(frozen=True)
class LoginLimit:
    """At most ``per_account`` failed logins per user name, and ``per_address`` per client address, within
    ``window_s``; past that, logins are refused (even with the right password) until old failures age out."""

    per_account: int = 5
    per_address: int = 20
    window_s: float = 900.0


class TooManyFailures(AccountError):
    def __init__(self, wait_s: float):
        self.wait_s = wait_s
        minutes = max(1, round(wait_s / 60))
        super().__init__(f"too many failed logins; try again in {minutes} minute{'s' if minutes > 1 else ''}")


def _wait(db: Session, column, value: str, limit: int, window_s: float) -> float:
    since = utcnow() - dt.timedelta(seconds=window_s)
    times = db.scalars(select(LoginFailure.at).where(column == value, LoginFailure.at > since)
                       .order_by(LoginFailure.at.desc()).limit(limit)).all()
    if len(times) < limit:
        return 0.0
    return max(1.0, (times[-1] - since).total_seconds())


def check_login_limit(db: Session, username: str, address: str, limit: LoginLimit = LoginLimit()) -> None:
    """Raises TooManyFailures while the account or the address is locked out (reads only)."""
    username, address = username[:100], (address or "unknown")[:64]
    wait = max(_wait(db, LoginFailure.username, username, limit.per_account, limit.window_s),
               _wait(db, LoginFailure.address, address, limit.per_address, limit.window_s))
    if wait:
        raise TooManyFailures(wait)


def record_login(db: Session, username: str, address: str, user: User | None,
                 limit: LoginLimit = LoginLimit()) -> None:
    """A failed login (``user`` None) recorded, old failures dropped; a success clears the account's failures."""
    username, address = username[:100], (address or "unknown")[:64]
    if user is None:
        db.add(LoginFailure(username=username, address=address))
        old = utcnow() - dt.timedelta(seconds=limit.window_s)
        db.execute(delete(LoginFailure).where(LoginFailure.at < old))
        db.flush()
        return
    db.execute(delete(LoginFailure).where(LoginFailure.username == username))


def attempt_login(db: Session, username: str, password: str, address: str,
                  limit: LoginLimit = LoginLimit()) -> User | None:
    """Check a login against the limit and the password; a failure is recorded, a success clears the
    account's failures. Raises TooManyFailures while the account or the address is locked out. (The web app
    takes the three steps apart, so that only the writes hold SQLite's write turn, never the slow hash.)"""
    check_login_limit(db, username, address, limit)
    user = authenticate(db, username[:100], password)
    record_login(db, username, address, user, limit)
    return user


_UNUSED_HASH: list[str] = []


def unused_hash() -> str:
    """A hash of no one's password, made once per process: what a login naming no account is checked against."""
    if not _UNUSED_HASH:
        _UNUSED_HASH.append(hash_password(secrets.token_urlsafe(16)))
    return _UNUSED_HASH[0]


def authenticate(db: Session, username: str, password: str) -> User | None:
    """The active account whose password this is, else None. Every path checks one password hash, so that the
    time taken does not tell which user names exist or are deactivated."""
    user = find_user(db, username)
    matches = password_matches(user.password_hash if user is not None else unused_hash(), password)
    if user is None or not user.active or not matches:
        return None
    return user
