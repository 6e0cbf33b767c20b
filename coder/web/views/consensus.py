"""Consensus: a study's units whose raters disagree, and recording the consensus they reached beside their
independent ratings (coder.rating.consensus)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coder.rating import consensus
from coder.study.instruments import ABSENT, EVENTS, MARKERS, InstrumentDefinition, events_of, marker_answers
from coder.study.models import Rating
from coder.web import unitplayer
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

bp = Blueprint("consensus", __name__)

SPEEDS = (0.75, 1, 1.25, 1.5, 2)


@bp.route("/studies/<int:study_id>/consensus")
@coordinator_required
def index(study_id: int):
    study = coordinated_study(study_id)
    return render_template("consensus.html", study=study, entries=consensus.discrepancies(db_session(), study))


def _number(raw: str) -> Any:
    if raw == ABSENT:
        return raw
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        return raw  # refused with the reason by the instrument's checks


def _responses(definition: InstrumentDefinition, ratings: list[Rating]) -> dict[str, Any]:
    """The item scores, marker answers and kept events the form gives."""
    form = request.form
    responses: dict[str, Any] = {item.id: _number(raw) for item in definition.items
                                 if (raw := form.get(f"item-{item.id}", "").strip())}
    markers = {m.id: _number(raw) for m in definition.markers if (raw := form.get(f"marker-{m.id}", "").strip())}
    if markers:
        responses[MARKERS] = markers
    events = consensus.kept_events(ratings, _ticked_events())
    if events:
        responses[EVENTS] = events
    return responses


def _ticked_events() -> list[tuple[int, str]]:
    """The events ticked to keep: (rating id, event id), from the form's "RATING:EVENT" values."""
    return [(int(rating), event) for key in request.form.getlist("event")
            for rating, _, event in [key.partition(":")] if rating.isdigit()]


def _same_event(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("code", "start", "end", "salience"))


def _page(entry: dict, existing, form) -> dict[str, Any]:
    """What the page shows beside the form: the answers to start from (the form sent back, the recorded
    consensus, or what the raters agree on), which events are kept, and the player's data."""
    definition, ratings = entry["definition"], [r for _a, r in entry["ratings"]]
    agreed = consensus.agreed(definition, ratings)
    if form is not None:
        start = _responses(definition, ratings)
        kept = set(_ticked_events())
    elif existing is not None:
        start = dict(existing.responses)
        recorded = events_of(existing.responses)
        kept = {(r.id, e.get("id")) for r in ratings for e in events_of(r.responses)
                if any(_same_event(e, c) for c in recorded)}
    else:
        start = agreed
        kept = consensus.matching_events(definition, ratings)
    unit = entry["unit"]
    labels = {m.id: m.label for m in definition.markers}
    events = [{"rating": r.id, "rater": a.rater.username, "id": e.get("id"), "code": e.get("code"),
               "label": labels.get(e.get("code"), e.get("code")), "start": e.get("start"), "end": e.get("end"),
               "salience": e.get("salience"), "note": e.get("note") or "", "kept": (r.id, e.get("id")) in kept}
              for a, r in entry["ratings"] for e in events_of(r.responses)]
    events.sort(key=lambda e: (e["start"] or 0, e["rater"]))
    data = unitplayer.data(unit)
    per_rating = [marker_answers(definition, r.responses) for r in ratings]
    answers = {m.id: [a[m.id] for a in per_rating] for m in definition.markers}
    return {"start": start, "agreed": agreed, "events": events, "data": data, "answers": answers}


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
            consensus.record(db, entry["unit"], entry["instrument"], _responses(definition, [r for _a, r in ratings]),
                             current_user, chosen, note)
            db.commit()
            flash("Consensus recorded beside the independent ratings, which stay as they were.")
            return redirect(url_for("consensus.index", study_id=study.id))
        except consensus.ConsensusError as exc:
            db.rollback()
            flash(f"Not recorded: {exc}", "error")
    form = request.form if request.method == "POST" else None
    return render_template("consensus_unit.html", study=study, entry=entry, definition=definition, ratings=ratings,
                           existing=entry["consensus"], form=form, page=_page(entry, entry["consensus"], form),
                           absent=ABSENT, speeds=SPEEDS)
