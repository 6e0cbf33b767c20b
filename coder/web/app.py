"""The Flask application factory.

    flask --app coder.app run          # development server
    coder serve                        # production server (waitress)
"""
from __future__ import annotations

import datetime as dt
import time
from importlib import resources

from flask import Flask, flash, g, redirect, render_template, request, url_for
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, PackageLoader
from sqlalchemy.exc import OperationalError

from coder.config import Settings, load_settings
from coder.db import Database, is_initialised
from coder.web.database import close_db_session, db_session

csrf = CSRFProtect()
# Scripts and styles from the app only (inline styles for the plots' SVG); nothing may frame the app.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def create_app(settings: Settings | None = None, database: Database | None = None,
               test_config: dict | None = None) -> Flask:
    settings = settings or load_settings()
    web = resources.files("coder.web")
    app = Flask(__name__, template_folder=str(web / "templates"), static_folder=str(web / "static"))
    # the analysis report's body is shared with the standalone file that coder.reports writes
    app.jinja_loader = ChoiceLoader([app.jinja_loader, PackageLoader("coder.reports")])
    app.config.update(
        SECRET_KEY=settings.secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        MAX_UPLOAD_BYTES=4 << 30,  # one recording (CODER_MAX_UPLOAD_BYTES); see coder.uploads
        # A CSRF token lasts as long as the login, so a rating page left open for hours still saves.
        WTF_CSRF_TIME_LIMIT=None,
        # failed logins allowed per user name and per client address within the window (coder.accounts)
        LOGIN_FAILURES_PER_ACCOUNT=5,
        LOGIN_FAILURES_PER_ADDRESS=20,
        LOGIN_WINDOW_S=900,
    )
    app.config.from_prefixed_env("CODER")  # e.g. CODER_SESSION_COOKIE_SECURE=true behind HTTPS
    if test_config:
        app.config.update(test_config)
    # a request is one recording and its form fields
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_BYTES"] + (1 << 20)

    # Behind N reverse proxies (CODER_TRUSTED_PROXIES=N) the client's address and scheme come from their
    # X-Forwarded-* headers, so that login limits count per client, not per proxy.
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    database = database or Database(settings.database_url)
    if not is_initialised(database.engine):
        database.migrate()
    app.extensions["coder.db"] = database
    app.extensions["coder.settings"] = settings
    from coder.jobs.queue import make_huey

    app.extensions["coder.huey"] = make_huey(settings)  # where processing jobs are queued (coder.tasks)

    csrf.init_app(app)
    login = LoginManager(app)
    login.login_view = "auth.login"
    login.login_message = "Please log in."

    @login.unauthorized_handler
    def unauthorized():
        if _wants_json():
            return {"ok": False, "error": "you are logged out; log in again (your ratings are kept in this browser)",
                    "login": url_for("auth.login")}, 401
        flash(login.login_message)
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        if _wants_json():
            from flask_login import current_user

            if not current_user.is_authenticated:  # the login ran out, and the token with it
                return unauthorized()
            return {"ok": False, "csrf": True,
                    "error": f"the page's security token was refused ({exc.description})"}, 400
        return exc

    @app.errorhandler(OperationalError)
    def database_unavailable(exc):
        """A database that cannot be written (read-only, disk full) or reached: a clear 503, never a trace."""
        db_session().rollback()
        text = str(exc.orig if getattr(exc, "orig", None) is not None else exc).lower()
        if "readonly" in text or "read-only" in text or "read only" in text:
            why = "the database is read-only"
        elif "full" in text or "no space" in text:
            why = "the disk holding the database is full"
        else:
            why = "the database cannot be reached"
        app.logger.error("database error on %s %s: %s", request.method, request.path, text[:300])
        message = f"Not saved: {why}. Nothing was changed; tell the study's coordinator."
        if _wants_json() or request.path.startswith("/rate/"):
            return {"ok": False, "error": message + " Your ratings are kept in this browser until it can save.",
                    "unavailable": True}, 503
        return render_template("unavailable.html", message=message), 503

    @app.errorhandler(413)
    def too_large(exc):
        limit = app.config["MAX_UPLOAD_BYTES"] / 1e9
        message = f"the file is larger than the upload limit of {limit:.1f} GB (CODER_MAX_UPLOAD_BYTES)"
        if _wants_json() or request.path.endswith("/upload"):
            return {"ok": False, "error": message}, 413
        return message, 413

    @login.user_loader
    def load_user(value: str):
        from coder.study.accounts import user_of_session

        return user_of_session(db_session(), value)

    app.teardown_appcontext(close_db_session)

    app.add_template_filter(clock)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def security_headers(response):
        if "started" in g:  # the time spent in the app, for browsers' developer tools and the benchmarks
            response.headers["Server-Timing"] = f"app;dur={1000 * (time.perf_counter() - g.started):.1f}"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Content-Security-Policy", CSP)
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    from coder.web import (analysis as analysis_views, auth, coordinate as coordinate_views, rate as rate_views,
                           reliability as reliability_views, views)

    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(rate_views.bp)
    app.register_blueprint(reliability_views.bp)
    app.register_blueprint(analysis_views.bp)
    app.register_blueprint(coordinate_views.bp)
    return app


def clock(seconds: float | None) -> str:
    """1:05, or 1:02:05 past the hour."""
    if seconds is None:
        return ""
    m, s = divmod(int(round(float(seconds))), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"
