"""What the pages' JSON requests share: the request's object and its typed fields (400 in JSON otherwise), a
change committed while holding the database's write turn, and files sent as downloads under any name."""
from __future__ import annotations

import io
import json
import mimetypes
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import quote

from flask import Response, abort, current_app, request, send_file

from coder.web.database import db_session
from coder.web.forms import LARGEST

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
    if not isinstance(value, int) or isinstance(value, bool) or not -LARGEST <= value <= LARGEST:
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


def disposition(filename: str) -> str:
    """The Content-Disposition of a download named ``filename`` (RFC 6266): an ASCII ``filename`` for every
    client and, when the name is not plain ASCII, the exact name as ``filename*`` (RFC 5987, UTF-8). Line breaks
    and other control characters, slashes and quotes never reach the header."""
    name = re.sub(r'[\x00-\x1f\x7f-\x9f\u2028\u2029/\\"]+', "_", filename).strip() or "download"

    def ascii_part(text: str) -> str:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")

    stem, _dot, extension = name.rpartition(".") if "." in name else (name, "", "")
    fallback = (ascii_part(stem) or "download") + (f".{ascii_part(extension)}" if ascii_part(extension) else "")
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def attachment(body: str | bytes, mimetype: str, filename: str) -> Response:
    """``body`` sent as a download named ``filename``."""
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": disposition(filename)})


def download(write: Callable[[Path], Path]) -> Response:
    """The file ``write(folder)`` makes in a scratch folder, sent as an attachment (the folder is removed)."""
    with tempfile.TemporaryDirectory(prefix="coder-download-") as folder:
        path = write(Path(folder))
        data, name = io.BytesIO(path.read_bytes()), path.name
    response = send_file(data, mimetype=mimetypes.guess_type(name)[0] or "application/octet-stream", max_age=0)
    response.headers["Content-Disposition"] = disposition(name)
    return response
