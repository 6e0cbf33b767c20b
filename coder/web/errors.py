"""What the app answers when a request fails on the way: a login that ran out, a refused CSRF token, a database
that cannot be written or reached, an upload over the limit. Pages get a page or a message; requests that ask
for JSON (the rating page's saves, the uploads) get JSON with ``ok: false`` and the reason."""
from __future__ import annotations

from flask import Flask, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError

from coder.web.database import db_session
from coder.web.guards import wants_json


def logged_out():
    """flask-login's answer to a request that needs a login: JSON 401, or the login page."""
    if wants_json():
        return {"ok": False, "error": "you are logged out; log in again (your ratings are kept in this browser)",
                "login": url_for("auth.login")}, 401
    flash(current_app.login_manager.login_message)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def csrf_refused(exc: CSRFError):
    if wants_json():
        if not current_user.is_authenticated:  # the login ran out, and the token with it
            return logged_out()
        return {"ok": False, "csrf": True,
                "error": f"the page's security token was refused ({exc.description})"}, 400
    return exc


def database_unavailable(exc: OperationalError):
    """A database that cannot be written (read-only, disk full) or reached: a clear 503, never a trace."""
    db_session().rollback()
    text = str(exc.orig if getattr(exc, "orig", None) is not None else exc).lower()
    if "readonly" in text or "read-only" in text or "read only" in text:
        why = "the database is read-only"
    elif "full" in text or "no space" in text:
        why = "the disk holding the database is full"
    else:
        why = "the database cannot be reached"
    current_app.logger.error("database error on %s %s: %s", request.method, request.path, text[:300])
    message = f"Not saved: {why}. Nothing was changed; tell the study's coordinator."
    if wants_json() or request.path.startswith("/rate/"):
        return {"ok": False, "error": message + " Your ratings are kept in this browser until it can save.",
                "unavailable": True}, 503
    return render_template("unavailable.html", message=message), 503


def too_large(_exc):
    """A body over the route's limit (coder.web.app.limit_body): a short answer that never repeats the body."""
    if request.path.endswith("/upload"):
        limit = current_app.config["MAX_UPLOAD_BYTES"] / 1e9
        message = f"the file is larger than the upload limit of {limit:.1f} GB (CODER_MAX_UPLOAD_BYTES)"
    else:
        limit = request.max_content_length or 0
        size = f"{limit / (1 << 20):.0f} MB" if limit >= 1 << 20 else f"{limit / 1024:.0f} kB"
        message = f"the request is larger than the {size} this page accepts; nothing was read"
    if wants_json() or request.path.endswith("/upload"):
        return {"ok": False, "error": message}, 413
    return message, 413, {"Content-Type": "text/plain; charset=utf-8"}


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, csrf_refused)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(413, too_large)
