"""What the coordinator's forms share: the reason given for a change, the recordings ticked, the way back to the
study page they were posted from, and refusals turned into messages."""
from __future__ import annotations

from flask import redirect, request, url_for
from werkzeug.wrappers import Response

from coder.study.models import Study


def reason(limit: int = 1000) -> str:
    """The form's reason for the change (it goes to the audit trail)."""
    return request.form.get("reason", "").strip()[:limit]


def chosen_recording_ids() -> set[int] | None:
    """The ids of the recordings ticked on the study page; None where the form asks for all of them."""
    if request.form.get("all"):
        return None
    return {int(i) for i in request.form.getlist("recording") if i.isdigit()}


def back_to_study(study: Study, anchor: str = "") -> Response:
    return redirect(url_for("studies.page", study_id=study.id) + (f"#{anchor}" if anchor else ""))


def sentence(refusal: Exception) -> str:
    """A service's refusal ("a study named X exists already") as a sentence for a flash message."""
    text = str(refusal)
    return f"{text[:1].upper()}{text[1:]}."
