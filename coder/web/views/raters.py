"""Raters: the list with each rater's workload in the coordinator's studies, new rater accounts, and
deactivating, reactivating or relieving a rater (their unrated assignments moved to others), and resetting a
rater's password to a one-time one."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.rating import designs, progress
from coder.study import access, accounts
from coder.study.models import User
from coder.web import forms
from coder.web.database import db_session
from coder.web.guards import coordinator_required

bp = Blueprint("raters", __name__)


@bp.route("/raters", methods=["GET", "POST"])
@coordinator_required
def index():
    db = db_session()
    if request.method == "GET":
        return render_template("raters.html",
                               workload=progress.raters_workload(db, access.study_ids(db, current_user)))
    username = request.form.get("username", "").strip()
    try:
        _user, password = accounts.add_rater(db, username, request.form.get("display_name", "").strip(),
                                             current_user)
        db.commit()
        flash(f"Rater {username} created. Give them the user name and this one-time password: {password} "
              "(it is stored only hashed and shown only now).", "credentials")
    except accounts.AccountError as exc:
        db.rollback()
        flash(f"Not created: {exc}", "error")
    return redirect(url_for("raters.index"))


def _relieve(db, rater: User, action: str, reason: str) -> str:
    """Move the rater's unrated assignments in the coordinator's studies (``reassign``, or ``deactivate`` with
    the reassign box ticked) and deactivate them (``deactivate``); the message that says what was done."""
    if not reason:
        raise designs.DesignError("give a reason (it goes to the audit trail)")
    mine = access.study_ids(db, current_user)
    moved = []
    if action == "reassign" or request.form.get("reassign"):
        moved = designs.reassign(db, rater, current_user, reason, request.form.getlist("to") or None, mine)
    if action == "deactivate":
        designs.deactivate(db, rater, current_user, reason, mine)
    return ((f"{rater.username} deactivated; their ratings stay. " if action == "deactivate" else "")
            + (f"{len(moved)} unrated assignment(s) moved to {', '.join(sorted({r for _u, r in moved}))}."
               if moved else ""))


@bp.route("/raters/<int:user_id>", methods=["POST"])
@coordinator_required
def change(user_id: int):
    db = db_session()
    rater = db.get(User, user_id)
    if rater is None or rater.role != "rater":
        abort(404)
    action = request.form.get("action")
    if action not in ("deactivate", "reassign", "activate", "reset"):
        abort(400)
    reason = forms.reason()
    try:
        if action == "activate":
            designs.reactivate(db, rater, current_user, reason, access.study_ids(db, current_user))
            flash(f"{rater.username} can log in again.")
        elif action == "reset":
            designs.answerable_for(db, rater, current_user, access.study_ids(db, current_user))
            password = accounts.reset_password(db, rater, current_user)
            flash(f"{rater.username}'s password is reset and their logins have ended. Give them this one-time "
                  f"password, which they must change when they log in: {password} (shown only now).", "credentials")
        else:
            flash(_relieve(db, rater, action, reason))
        db.commit()
    except designs.DesignError as exc:
        db.rollback()
        flash(f"Not done: {exc}", "error")
    return redirect(url_for("raters.index"))
