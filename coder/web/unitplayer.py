"""What the unit player (templates/unit_player.html, static/unit_player.js) needs: the unit's length, its
transcript as the coordinator reads it, and the coordinator's audio route (``units.audio``)."""
from __future__ import annotations

from typing import Any

from flask import url_for

from coder.study import units
from coder.study.models import RatingUnit


def data(unit: RatingUnit) -> dict[str, Any]:
    return {"duration": round(unit.end_s - unit.start_s, 3), "transcript": units.transcript_of(unit),
            "audio": url_for("units.audio", unit_id=unit.id) if unit.recording_id is not None else None}
