"""Rating instruments from the browser: the stored definitions and their versions, storing one pasted or
uploaded as YAML (every problem listed with its field, nothing stored until it validates), or a built-in one,
and reading a stored definition. What ``coder instruments store`` does, for coordinators."""
from __future__ import annotations

import yaml
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.study import instruments
from coder.web.database import db_session
from coder.web.guards import coordinator_required

bp = Blueprint("instruments", __name__)

MAX_UPLOAD_BYTES = 2 << 20  # a definition file; longer text is refused by instruments.from_text


def _yaml(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _listing(db) -> list[dict]:
    """Each stored instrument with its versions, the newest first."""
    out: dict[str, dict] = {}
    for row in instruments.versions(db):
        out.setdefault(row.key, {"key": row.key, "name": row.name, "versions": []})["versions"].append(row)
    return list(out.values())


def _page(text: str = "", problems: list[str] | None = None, source: str = ""):
    db = db_session()
    stored = _listing(db)
    return render_template("instruments.html", stored=stored, builtins=instruments.builtin(), text=text,
                           problems=problems or [], source=source, stored_keys={s["key"] for s in stored})


@bp.route("/instruments")
@coordinator_required
def index():
    return _page()


@bp.route("/instruments", methods=["POST"])
@coordinator_required
def store():
    """Store a definition: a built-in one (``builtin``), an uploaded file (``file``) or pasted text (``text``)."""
    db = db_session()
    form = request.form
    text, source = form.get("text", ""), "the pasted definition"
    upload = request.files.get("file")
    try:
        if form.get("builtin"):
            try:
                definition = instruments.builtin(form["builtin"])
            except KeyError:
                abort(404)
        else:
            if upload is not None and upload.filename:
                raw = upload.read(MAX_UPLOAD_BYTES + 1)
                source = upload.filename
                if len(raw) > MAX_UPLOAD_BYTES:
                    raise instruments.InstrumentError(source, [f"(top level): larger than {MAX_UPLOAD_BYTES >> 20} MB; "
                                                               "a definition is a short text file"])
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise instruments.InstrumentError(source, ["not a UTF-8 text file"]) from None
            definition = instruments.from_text(text, source)
    except instruments.InstrumentError as exc:
        flash(f"Not stored: {exc.source} has {len(exc.problems)} problem(s), listed below.", "error")
        return _page(text, exc.problems, exc.source), 422
    row, what = instruments.stored_as(db, definition, current_user)
    db.commit()
    flash({"stored": f"Stored {row.key} version {row.version}.",
           "updated": f"Updated {row.key} version {row.version} (no rating uses it yet).",
           "unchanged": f"{row.key} version {row.version} was stored already, unchanged.",
           "new version": f"Stored as {row.key} version {row.version}: version {definition.version} has ratings "
                          "and keeps the definition they were made with."}[what])
    return redirect(url_for("instruments.show", key=row.key, version=row.version))


@bp.route("/instruments/<key>/<version>")
@coordinator_required
def show(key: str, version: str):
    db = db_session()
    row = instruments.find(db, key, version)
    if row is None or row.version != version:
        abort(404)
    definition = instruments.stored(row)
    others = [r for r in instruments.versions(db) if r.key == key]
    return render_template("instrument.html", row=row, definition=definition, text=_yaml(row.definition),
                           others=others)
