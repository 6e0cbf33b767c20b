"""Log in and out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import OperationalError

from coder.study.accounts import LoginLimit, TooManyFailures, attempt_login, authenticate, find_user
from coder.study.audit import audit
from coder.web.database import db_session

bp = Blueprint("auth", __name__)


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
        try:
            user = attempt_login(db, username, password, request.remote_addr or "", limit)
        except TooManyFailures as exc:
            flash(f"{str(exc).capitalize()}.", "error")
            response = current_app.make_response((render_template("login.html"), 429))
            response.headers["Retry-After"] = str(int(exc.wait_s))
            return response
        except OperationalError:  # a read-only database: people may still log in and read; saves say why not
            db.rollback()
            user = authenticate(db, username, password)
        if user is None:
            account = find_user(db, username)
            if account is not None:
                audit(db, "login_failed", account, None, address=request.remote_addr)
            _commit_if_possible(db)
            flash("Unknown user name or wrong password.", "error")
            return render_template("login.html"), 401
        login_user(user)
        audit(db, "login", user, user)
        _commit_if_possible(db)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))
