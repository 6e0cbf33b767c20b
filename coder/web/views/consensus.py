"""Consensus: a study's units whose raters disagree, and recording the consensus they reached beside their
independent ratings (coder.rating.consensus)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.rating import consensus
from coder.study.instruments import MARKERS, InstrumentDefinition
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

bp = Blueprint("consensus", __name__)


@bp.route("/studies/<int:study_id>/consensus")
@coordinator_required
def index(study_id: int):
    study = coordinated_study(study_id)
    return render_template("consensus.html", study=study, entries=consensus.discrepancies(db_session(), study))


def _number(raw: str) -> Any:
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        return raw  # refused with the reason by the instrument's checks


def _responses(definition: InstrumentDefinition) -> dict[str, Any]:
    """The item scores and markers the form gives."""
    form = request.form
    responses: dict[str, Any] = {item.id: _number(raw) for item in definition.items
                                 if (raw := form.get(f"item-{item.id}", "").strip())}
    markers = {m.id: _number(raw) for m in definition.markers if (raw := form.get(f"marker-{m.id}", "").strip())}
    if markers:
        responses[MARKERS] = markers
    return responses


@bp.route("/studies/<int:study_id>/consensus/<int:unit_id>/<int:instrument_id>", methods=["GET", "POST"])
@coordinator_required
def unit(study_id: int, unit_id: int, instrument_id: int):
    db = db_session()
    study = coordinated_study(study_id)
    entry = consensus.discrepancy(db, study, unit_id, instrument_id)
    if entry is None:
        abort(404)
    definition, ratings = entry["definition"], entry["ratings"]
    if request.method == "POST":
        note = request.form.get("note", "").strip()[:2000]
        chosen = [int(i) for i in request.form.getlist("rating") if i.isdigit()] or [r.id for _a, r in ratings]
        try:
            consensus.record(db, entry["unit"], entry["instrument"], _responses(definition), current_user, chosen,
                             note)
            db.commit()
            flash("Consensus recorded beside the independent ratings, which stay as they were.")
            return redirect(url_for("consensus.index", study_id=study.id))
        except consensus.ConsensusError as exc:
            db.rollback()
            flash(f"Not recorded: {exc}", "error")
    return render_template("consensus_unit.html", study=study, entry=entry, definition=definition, ratings=ratings,
                           existing=entry["consensus"], form=request.form if request.method == "POST" else None)
