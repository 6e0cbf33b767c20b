"""The guards the views stand behind, and what they answer when they refuse.

- ``coordinator_required``: a logged-in user (else the login page, or a 401 in JSON) who is a coordinator
  (else 403);
- ``coordinated_study``, ``check_row`` and ``coordinated_row``: a study, or a row of one, that the current user
  coordinates (``coder.study.access``); 404 for anything else, so that ids of other studies reveal nothing;
- ``transcriber_required`` and ``transcribed_transcript``: a coordinator or transcriber, and a transcript of a
  study they may correct (``access.transcribes``); 404 for any other;
- ``own_assignment``: the logged-in rater's own assignment (``coder.rating.workspace.assignment_for``); 404 for
  anyone else's, and for anyone who is not a rater, so that nobody learns which units exist.
"""
from __future__ import annotations

from functools import wraps
from typing import Any, TypeVar

from flask import abort, request
from flask_login import current_user, login_required

from coder.rating import workspace
from coder.study import access, scope
from coder.study.models import Assignment, Study, Transcript
from coder.web.database import db_session

Row = TypeVar("Row")


def wants_json() -> bool:
    """Whether the request asks for JSON (the rating page's saves, the upload form's requests)."""
    return request.is_json or request.accept_mimetypes.best == "application/json"


def coordinator_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if current_user.role != "coordinator":
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def transcriber_required(view):
    """A logged-in coordinator or transcriber (else the login page, or 403)."""
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if current_user.role not in ("coordinator", "transcriber"):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def transcribed_transcript(transcript_id: int) -> tuple[Transcript, Study]:
    """The transcript with this id and its study, when the current user may correct it; 404 otherwise."""
    db = db_session()
    transcript = db.get(Transcript, transcript_id)
    if transcript is None or not getattr(transcript.recording, "live", True):
        abort(404)
    study = db.get(Study, scope.study_of(db, transcript))
    if study is None or not study.live or not access.transcribes(db, current_user, study.id):
        abort(404)
    return transcript, study


def coordinated_study(study_id: int | None) -> Study:
    """The live study, when the current user coordinates it; 404 otherwise."""
    db = db_session()
    study = db.get(Study, study_id) if study_id is not None else None
    if study is None or not study.live or not access.coordinates(db, current_user, study.id):
        abort(404)
    return study


def check_row(row: Any) -> Study:
    """The study of a row (a transcript, a unit, a rating ...) that the current user must coordinate."""
    return coordinated_study(scope.study_of(db_session(), row))


def coordinated_row(model: type[Row], ident: int) -> tuple[Row, Study]:
    """The row of ``model`` with this id and its study, when the row exists, is live (where rows of the model
    can be deleted) and the current user coordinates its study; 404 otherwise."""
    row = db_session().get(model, ident)
    if row is None or not getattr(row, "live", True):
        abort(404)
    return row, check_row(row)


def own_assignment(assignment_id: int, load: bool = True) -> Assignment:
    """The logged-in rater's own live assignment of this id (``load``: with its unit's study tree); 404 for any
    other id and for anyone who is not a rater."""
    if current_user.role != "rater":
        abort(404)
    assignment = workspace.assignment_for(db_session(), current_user, assignment_id, load)
    if assignment is None:
        abort(404)
    return assignment
