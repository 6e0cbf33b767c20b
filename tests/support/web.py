"""Driving the web app through Flask's test client: the login form with its CSRF token, and pages compared
without their random tokens."""
from __future__ import annotations

import re

from .rating_study import PASSWORD


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token of the form on ``path``."""
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str, password: str = PASSWORD):
    """Log in through the login form (with its CSRF token); the response (302 on success)."""
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)})


def without_tokens(html: str) -> str:
    """A page without its random CSRF tokens, which may by chance contain a code a test looks for."""
    return re.sub(r'(name="csrf[-_]token" (?:content|value)=)"[^"]*"', r'\1""', html)
