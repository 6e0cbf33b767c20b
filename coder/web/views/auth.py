"""Log in and out, and change one's password.

A login starts a fresh session (a new CSRF token; nothing carried over from before) and records its time there:
the session ends PERMANENT_SESSION_LIFETIME after the login, however active. Logout advances the account's
session epoch, which ends the cookie of every one of its sessions, saved copies included. An account with a
one-time password reaches nothing but the password page until it has chosen its own.
"""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import OperationalError

from coder.study.accounts import (AccountError, LoginLimit, TooManyFailures, authenticate, change_password,
                                  check_login_limit, end_sessions, find_user, record_login)
from coder.study.audit import audit
from coder.web.database import db_session
from coder.web.guards import wants_json

bp = Blueprint("auth", __name__)

LOGIN_AT = "login_at"  # the session's key for the time of the login (seconds since the epoch)
OPEN_WHILE_CHANGING = {"auth.password", "auth.logout", "auth.login", "static", "rate.session_token"}


@bp.before_app_request
def _end_expired_login():
    """A login older than the session lifetime (or without a recorded time) ends, whatever the activity."""
    if "_user_id" not in session:
        return None
    started = session.get(LOGIN_AT)
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if not isinstance(started, (int, float)) or time.time() - started > lifetime:
        session.clear()
    return None


@bp.before_app_request
def _password_first():
    """After a one-time password, the account's only page is the password page."""
    if request.endpoint in OPEN_WHILE_CHANGING or not current_user.is_authenticated:
        return None
    if current_user.must_change_password:
        if wants_json():
            return {"ok": False, "error": "choose a new password first", "password": url_for("auth.password")}, 403
        return redirect(url_for("auth.password"))
    return None


def _start_session(user) -> None:
    """A fresh session for this login: no earlier content (its CSRF token included) survives."""
    session.clear()
    login_user(user)
    session[LOGIN_AT] = time.time()


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("home.index")


def _commit_if_possible(db) -> None:
    """Record a login's audit event, unless the database cannot be written just now."""
    try:
        db.commit()
    except OperationalError as exc:
        db.rollback()
        current_app.logger.warning("login not audited: %s", exc.orig if exc.orig is not None else exc)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    if request.method == "POST":
        db = db_session()
        config = current_app.config
        limit = LoginLimit(config["LOGIN_FAILURES_PER_ACCOUNT"], config["LOGIN_FAILURES_PER_ADDRESS"],
                           config["LOGIN_WINDOW_S"])
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        address = request.remote_addr or ""
        try:
            check_login_limit(db, username, address, limit)
        except TooManyFailures as exc:
            flash(f"{str(exc).capitalize()}.", "error")
            response = current_app.make_response((render_template("login.html"), 429))
            response.headers["Retry-After"] = str(int(exc.wait_s))
            return response
        user = authenticate(db, username[:100], password)  # slow, and bounded (accounts.PasswordHashing)
        # the writes after the check hold the database's write turn (SQLite's), so that saves queue on it in
        # order instead of meeting SQLite's busy handler; the hash above never holds it
        with current_app.extensions["coder.db"].writing():
            try:
                record_login(db, username, address, user, limit)
            except OperationalError:  # a read-only database: people may still log in and read; saves say why not
                db.rollback()
            if user is None:
                account = find_user(db, username)
                if account is not None:
                    audit(db, "login_failed", account, None, address=request.remote_addr)
            else:
                _start_session(user)
                audit(db, "login", user, user)
            _commit_if_possible(db)
        if user is None:
            flash("Unknown user name or wrong password.", "error")
            return render_template("login.html"), 401
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    db = db_session()
    end_sessions(db, current_user._get_current_object())
    db.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    """Change one's own password: the current one, and the new one twice."""
    if request.method == "POST":
        db = db_session()
        new = request.form.get("new_password", "")
        try:
            if new != request.form.get("confirm_password", ""):
                raise AccountError("the two new passwords differ")
            change_password(db, current_user._get_current_object(), request.form.get("current_password", ""), new)
            db.commit()
        except AccountError as exc:
            db.rollback()
            flash(f"Not changed: {exc}.", "error")
            return render_template("password.html"), 400
        _start_session(current_user._get_current_object())  # the new password ended every login, this one included
        flash("Your password is changed; your other logins have ended.")
        return redirect(url_for("home.index"))
    return render_template("password.html")
