"""What the coordinator's forms share: the reason given for a change, the recordings ticked, the way back to the
study page they were posted from, and refusals turned into messages."""
from __future__ import annotations

import re

from flask import redirect, request, url_for
from werkzeug.wrappers import Response

from coder.study.models import Study


# the largest whole number a field may hold: PostgreSQL's INTEGER, so that no number reaches the database too big
LARGEST = 2**31 - 1


def whole_number(raw: str, what: str, low: int = 0, high: int = LARGEST) -> int:
    """A form's or query's whole number between ``low`` and ``high``; ValueError saying so otherwise (a number
    too large for the database is refused here rather than failing there)."""
    text = (raw or "").strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", text) or not low <= int(text) <= high:
        raise ValueError(f"{what} must be a whole number from {low} to {high}")
    return int(text)


def reason(limit: int = 1000) -> str:
    """The form's reason for the change (it goes to the audit trail)."""
    return request.form.get("reason", "").strip()[:limit]


def chosen_recording_ids() -> set[int] | None:
    """The ids of the recordings ticked on the study page; None where the form asks for all of them."""
    if request.form.get("all"):
        return None
    return {int(i) for i in request.form.getlist("recording") if re.fullmatch(r"[0-9]{1,10}", i)
            and int(i) <= LARGEST}


def back_to_study(study: Study, anchor: str = "") -> Response:
    return redirect(url_for("studies.page", study_id=study.id) + (f"#{anchor}" if anchor else ""))


def sentence(refusal: Exception) -> str:
    """A service's refusal ("a study named X exists already") as a sentence for a flash message."""
    text = str(refusal)
    return f"{text[:1].upper()}{text[1:]}."
