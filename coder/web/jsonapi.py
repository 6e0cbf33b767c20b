"""What the pages' JSON requests share: the request's object and its typed fields (400 in JSON otherwise), a
change committed while holding the database's write turn, and a file written to a scratch folder and sent."""
from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

from flask import Response, abort, current_app, request, send_file

from coder.web.database import db_session

T = TypeVar("T")


def refuse(message: str, status: int = 400):
    abort(Response(json.dumps({"ok": False, "error": message}), status, mimetype="application/json"))


def body() -> dict:
    """The request's JSON object."""
    value = request.get_json(silent=True)
    if not isinstance(value, dict):
        refuse("expected a JSON object")
    return value


def whole_number(data: dict, key: str, message: str | None = None) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        refuse(message or f"{key} must be a whole number")
    return value


def flag(data: dict, key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        refuse(f"{key} must be true or false")
    return value


def written(action: Callable[[Any], T]) -> T:
    """``action(db)`` committed while holding the database's write turn (SQLite's), rolled back on any error,
    which is raised again."""
    db = db_session()
    with current_app.extensions["coder.db"].writing():
        try:
            result = action(db)
            db.commit()
            return result
        except BaseException:
            db.rollback()
            raise


def download(write: Callable[[Path], Path]) -> Response:
    """The file ``write(folder)`` makes in a scratch folder, sent as an attachment (the folder is removed)."""
    with tempfile.TemporaryDirectory(prefix="coder-download-") as folder:
        path = write(Path(folder))
        data, name = io.BytesIO(path.read_bytes()), path.name
    return send_file(data, as_attachment=True, download_name=name, max_age=0)
