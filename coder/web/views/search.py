"""Searching a study's transcripts (coder.study.search): the hits in context, each opening the transcript editor at
its time, and rating units made around the hits chosen."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.study import instruments, search
from coder.web import forms
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

bp = Blueprint("search", __name__)
PAGE = 50


def _criteria(source) -> dict:
    """The search the form (or the query string) asks for."""
    role = source.get("role", "")
    return {"query": source.get("q", "").strip(), "role": role if role in search.ROLES else None,
            "speaker": source.get("speaker", "").strip() or None, "exact_diacritics": bool(source.get("exact"))}


def _back(study_id: int, criteria: dict):
    args = {"q": criteria["query"], "role": criteria["role"] or "", "speaker": criteria["speaker"] or "",
            "exact": "1" if criteria["exact_diacritics"] else ""}
    return redirect(url_for("search.page", study_id=study_id, **{k: v for k, v in args.items() if v}))


@bp.route("/studies/<int:study_id>/search")
@coordinator_required
def page(study_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    criteria = _criteria(request.args)
    try:
        page_number = forms.whole_number(request.args.get("page", "1"), "the page", 1, 10**6)
    except ValueError:
        page_number = 1
    results, error = None, None
    if criteria["query"]:
        try:
            results = search.search(db, study, criteria["query"], role=criteria["role"], speaker=criteria["speaker"],
                                    exact_diacritics=criteria["exact_diacritics"], limit=PAGE,
                                    offset=(page_number - 1) * PAGE)
        except search.SearchError as exc:
            error = str(exc)
    status = 400 if error else 200
    return render_template("search.html", study=study, criteria=criteria, results=results, error=error,
                           page=page_number, instruments=instruments.newest(db)), status


@bp.route("/studies/<int:study_id>/search/units", methods=["POST"])
@coordinator_required
def make_units(study_id: int):
    """Rating units around the hits ticked (or every hit of the search), with the seconds before and after."""
    db = db_session()
    study = coordinated_study(study_id)
    form = request.form
    criteria = _criteria(form)
    keys = [k for k in form.getlist("instrument") if k]
    if set(keys) - {i.key for i in instruments.newest(db)}:
        abort(400)
    try:
        before, after = float(form.get("before") or 0), float(form.get("after") or 0)
    except ValueError:
        flash("The seconds before and after must be numbers.", "error")
        return _back(study.id, criteria)
    try:
        if form.get("which") == "all":
            found = search.search(db, study, criteria["query"], role=criteria["role"], speaker=criteria["speaker"],
                                  exact_diacritics=criteria["exact_diacritics"], limit=search.MAX_LIMIT)
            if found.more:
                raise search.SearchError(f"{found.total} hits are more than {search.MAX_LIMIT}: narrow the search "
                                         "or choose the hits")
            hits = found.hits
        else:
            hits = search.hits_by_turn(db, study, [i for i in form.getlist("hit") if i.isdigit()])
        if not hits:
            raise search.SearchError("choose the hits to make units around")
        made, skipped = search.make_units(db, hits, before, after, current_user, keys,
                                          calibration=bool(form.get("calibration")), label=criteria["query"])
    except search.SearchError as exc:
        flash(f"{str(exc)[:1].upper()}{str(exc)[1:]}.", "error")
        return _back(study.id, criteria)
    db.commit()
    flash(f"{len(made)} rating unit(s) added around {len(hits)} hit(s)" + (f" for {', '.join(keys)}" if keys else "")
          + "." + (" Skipped: " + "; ".join(skipped) if skipped else ""), "error" if skipped else "message")
    return _back(study.id, criteria)
