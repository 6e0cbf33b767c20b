"""The Flask application factory.

    flask --app coder.web run          # development server
    coder serve                        # production server (waitress)
"""
from __future__ import annotations

import datetime as dt
import json
from importlib import resources

from flask import Flask, Response, abort, current_app, request
from jinja2 import ChoiceLoader, PackageLoader
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from coder.config import Settings, load_settings
from coder.db import Database, is_initialised
from coder.jobs.queue import make_huey
from coder.study import accounts
from coder.web import errors, filters, guards, headers, paging
from coder.web.forms import LARGEST
from coder.web.database import close_db_session
from coder.web.extensions import csrf, login_manager
from coder.web.views import (analysis, audit, auth, calibration, consensus, dashboard, deidentification, designs, home,
                             instruments, rate, raters, ratings, recordings, reliability, search, studies, trajectories,
                             transcripts, units)

BLUEPRINTS = (auth.bp, home.bp, rate.bp, ratings.bp, transcripts.bp, studies.bp, recordings.bp, units.bp,
              raters.bp, designs.bp, dashboard.bp, calibration.bp, consensus.bp, audit.bp, reliability.bp,
              analysis.bp, search.bp, deidentification.bp, instruments.bp, trajectories.bp)
# the routes that take a file other than a recording, and so the larger body limit MAX_FILE_BYTES
FILE_ROUTES = frozenset({"recordings.manifest", "analysis.import_outcomes", "analysis.import_ratings"})
UPLOAD_ROUTE = "recordings.upload"


class RowId(IntegerConverter):
    """``<int:...>`` in a route: a whole number the database can hold, so that a larger one is a 404, not an
    overflow in the database driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", LARGEST)
        super().__init__(map, *args, **kwargs)


def limit_body() -> None:
    """The most a request's body may hold: a recording on the upload route (MAX_CONTENT_LENGTH), a manifest,
    outcomes or ratings file on theirs, and a small limit on every other route (a login, a form, a rating's
    save), so that no route parses megabytes nobody sends; a larger body is refused with 413 unread."""
    if request.endpoint == UPLOAD_ROUTE:
        return
    config = current_app.config
    limit = config["MAX_FILE_BYTES"] if request.endpoint in FILE_ROUTES else config["MAX_REQUEST_BYTES"]
    request.max_content_length = min(limit, config["MAX_CONTENT_LENGTH"])


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def refuse_nul() -> None:
    """400 for a NUL character in a query, form field or JSON string: no text needs one, and PostgreSQL refuses
    it even in a query, which would otherwise fail the request with a 500."""
    fields = [*request.args.values(), *request.form.values()] if request.method != "GET" else [
        *request.args.values()]
    if _holds_nul(fields) or (request.is_json and _holds_nul(request.get_json(silent=True))):
        message = "a field holds a NUL character (\\0); leave it out"
        if guards.wants_json():
            abort(Response(json.dumps({"ok": False, "error": message}), 400, mimetype="application/json"))
        abort(400, message)


def create_app(settings: Settings | None = None, database: Database | None = None,
               test_config: dict | None = None) -> Flask:
    settings = settings or load_settings()
    web = resources.files("coder.web")
    app = Flask(__name__, template_folder=str(web / "templates"), static_folder=str(web / "static"))
    app.url_map.converters["int"] = RowId
    # the analysis report's body is shared with the standalone file that coder.reports writes
    app.jinja_loader = ChoiceLoader([app.jinja_loader, PackageLoader("coder.reports")])
    app.config.update(
        SECRET_KEY=settings.secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        MAX_UPLOAD_BYTES=4 << 30,  # one recording (CODER_MAX_UPLOAD_BYTES); see coder.study.uploads
        MAX_FILE_BYTES=64 << 20,  # a manifest, outcomes or ratings file (CODER_MAX_FILE_BYTES)
        MAX_REQUEST_BYTES=1 << 20,  # any other request's body (CODER_MAX_REQUEST_BYTES)
        # A CSRF token lasts as long as the login, so a rating page left open for hours still saves.
        WTF_CSRF_TIME_LIMIT=None,
        # failed logins allowed per user name and per client address within the window (coder.study.accounts)
        LOGIN_FAILURES_PER_ACCOUNT=5,
        LOGIN_FAILURES_PER_ADDRESS=20,
        LOGIN_WINDOW_S=900,
        # password hashes computed at once (coder.study.accounts.PasswordHashing)
        PASSWORD_CHECKS=accounts.default_password_checks(),
    )
    app.config.from_prefixed_env("CODER")  # e.g. CODER_SESSION_COOKIE_SECURE=true behind HTTPS
    if test_config:
        app.config.update(test_config)
    # the upload route's request is one recording and its form fields; other routes take less (limit_body)
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_BYTES"] + (1 << 20)

    # Behind N reverse proxies (CODER_TRUSTED_PROXIES=N) the client's address and scheme come from their
    # X-Forwarded-* headers, so that login limits count per client, not per proxy.
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    try:
        accounts.password_hashing.resize(int(app.config["PASSWORD_CHECKS"]))
    except (TypeError, ValueError):
        raise ValueError(f"CODER_PASSWORD_CHECKS must be a whole number of at least 1, not "
                         f"{app.config['PASSWORD_CHECKS']!r}") from None

    database = database or Database(settings.database_url)
    if not is_initialised(database.engine):
        database.migrate()
    app.extensions["coder.db"] = database
    app.extensions["coder.settings"] = settings
    app.extensions["coder.huey"] = make_huey(settings)  # where processing jobs are queued (coder.jobs.queue)

    app.before_request(limit_body)  # before CSRFProtect's check, which reads the form
    app.before_request(refuse_nul)
    csrf.init_app(app)
    login_manager.init_app(app)
    errors.register(app)
    app.teardown_appcontext(close_db_session)
    filters.register(app)
    paging.register(app)
    headers.register(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app
