"""The headers of every response: the security headers (a strict content security policy, no framing, no
sniffing, no caching, HSTS behind HTTPS) and the time spent in the app (Server-Timing)."""
from __future__ import annotations

import time

from flask import Flask, current_app, g
from werkzeug.wrappers import Response

# Scripts and styles from the app only (inline styles for the plots' SVG); nothing may frame the app.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def start_timer() -> None:
    g.started = time.perf_counter()


def add_headers(response: Response) -> Response:
    if "started" in g:  # the time spent in the app, for browsers' developer tools and the benchmarks
        response.headers["Server-Timing"] = f"app;dur={1000 * (time.perf_counter() - g.started):.1f}"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Content-Security-Policy", CSP)
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def register(app: Flask) -> None:
    app.before_request(start_timer)
    app.after_request(add_headers)
