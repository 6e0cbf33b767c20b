"""The audit trail for coordinators: the events of their studies, account events and their own actions, filtered
by entity, action, actor and study, a page at a time or whole as CSV (coder.study.audit)."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user

from coder.study import access, audit
from coder.web import forms, jsonapi, paging
from coder.web.database import db_session
from coder.web.guards import coordinator_required

bp = Blueprint("audit", __name__)


def _before(raw: str | None) -> int | None:
    """The id the page starts before; None (the newest) for anything but a whole number."""
    try:
        return forms.whole_number(raw, "the page") if raw else None
    except ValueError:
        return None


@bp.route("/audit")
@coordinator_required
def trail():
    db = db_session()
    args = request.args
    mine = access.study_ids(db, current_user)
    stmt = audit.trail(current_user, mine, entity=args.get("entity"), action=args.get("action"),
                       actor=args.get("actor"), before=_before(args.get("before")),
                       study=args.get("study", type=int))
    if args.get("format") == "csv":
        return jsonapi.attachment(audit.to_csv(db, stmt), "text/csv", "audit.csv")
    entities, actions = audit.filter_choices(db, current_user, mine)
    page = paging.page_of(db, stmt, size=audit.PAGE)
    return render_template("audit.html", events=page.items, page=page, entities=entities, actions=actions,
                           args=args, studies=[(s.id, s.name) for s in access.visible_studies(db, current_user)],
                           study_id=args.get("study", type=int))
