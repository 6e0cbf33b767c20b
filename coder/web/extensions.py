"""The Flask extensions the app factory sets up: CSRF protection, and logins (flask-login), each login's user
loaded through the request's database session."""
from __future__ import annotations

from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from coder.study.accounts import user_of_session
from coder.study.models import User
from coder.web.database import db_session
from coder.web.errors import logged_out

csrf = CSRFProtect()

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in."
login_manager.unauthorized_handler(logged_out)


@login_manager.user_loader
def load_user(value: str) -> User | None:
    return user_of_session(db_session(), value)
