"""Each dyad's session process measures across its sessions, for the study's coordinators: a dyad's picture and
table on a page, the picture as SVG or PNG, and every dyad's values as CSV (coder.reports.trajectories)."""
from __future__ import annotations

import io

from flask import Blueprint, Response, abort, render_template, request

from coder.reports import trajectories
from coder.stats import sheetsafe
from coder.stats.session_plot import TimelineError
from coder.web import jsonapi
from coder.web.database import db_session
from coder.web.guards import coordinated_study, coordinator_required

bp = Blueprint("trajectories", __name__)


@bp.route("/studies/<int:study_id>/trajectories")
@coordinator_required
def page(study_id: int):
    """One dyad at a time (``?dyad=ID``, else the first by code): its picture and table."""
    db = db_session()
    study = coordinated_study(study_id)
    dyads = trajectories.dyads(db, study)
    dyad_id = request.args.get("dyad", type=int)
    if dyad_id is not None and dyad_id not in {d.id for d in dyads}:
        abort(404)
    if dyad_id is None and dyads:
        dyad_id = dyads[0].id
    trajectory = trajectories.study_trajectories(db, study, dyad_id)[0] if dyad_id is not None else None
    picture = None
    if trajectory is not None and trajectory.sessions:
        try:
            picture = trajectories.picture(trajectory)
        except TimelineError:  # sessions, but not one measure with a value
            picture = None
    return render_template("trajectories.html", study=study, dyads=dyads, dyad_id=dyad_id, trajectory=trajectory,
                           picture=picture, rows=trajectories.rows(trajectory) if trajectory else [])


@bp.route("/studies/<int:study_id>/trajectories/<int:dyad_id>.<fmt>")
@coordinator_required
def picture(study_id: int, dyad_id: int, fmt: str):
    """The dyad's picture to download (svg or png)."""
    db = db_session()
    study = coordinated_study(study_id)
    if fmt not in ("svg", "png") or dyad_id not in {d.id for d in trajectories.dyads(db, study)}:
        abort(404)
    (trajectory,) = trajectories.study_trajectories(db, study, dyad_id)
    try:
        drawn = trajectories.picture(trajectory)
    except TimelineError:
        abort(404, f"dyad {trajectory.code} has no transcribed session")
    body, mimetype = drawn.file(fmt)
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": jsonapi.disposition(f"{trajectories.file_stem(trajectory)}.{fmt}")})


@bp.route("/studies/<int:study_id>/trajectories.csv")
@coordinator_required
def table(study_id: int):
    """Every dyad's values: one row per dyad, session, measure and line."""
    study = coordinated_study(study_id)
    frame = sheetsafe.frame(trajectories.long_table(trajectories.study_trajectories(db_session(), study)))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": jsonapi.disposition(f"{study.name} trajectories.csv")})
