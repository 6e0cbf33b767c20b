"""Two raters' submitted ratings of the same units, partly agreeing, for the consensus page's tests: study
"Trial R" of ``rating_study.build`` (the demo session), its whole-session unit on wai-o-s and its first
1-minute window on rupture-markers, with marker answers and events."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from coder.db import Database
from coder.study import instruments
from coder.study.models import Assignment, Rating, Study, utcnow

from .rating_study import build

# wai-o-s: the raters agree on every item but 3 and 7
WAI = {"rater1": {str(i): 4 for i in range(1, 13)} | {"3": 2, "7": 6},
       "rater2": {str(i): 4 for i in range(1, 13)} | {"3": 5, "7": 5}}
# rupture-markers: denial seen by both at salience 3 (by events 2.5 s apart); minimal_response absent for both;
# complaint_therapist seen by rater2 only
MARKERS = {"rater1": {"denial": 3, "minimal_response": "absent"},
           "rater2": {"denial": 3, "minimal_response": "absent", "complaint_therapist": 2}}
EVENTS = {"rater1": [{"id": "e1", "code": "denial", "start": 12.0, "end": 18.5, "salience": 3,
                      "note": "says it is fine"}],
          "rater2": [{"id": "e1", "code": "denial", "start": 14.5, "end": None, "salience": 3, "note": ""},
                     {"id": "e2", "code": "complaint_therapist", "start": 41.0, "end": None, "salience": 2,
                      "note": "you never listen"}]}
# rupture-markers' items: therapist_contribution agreed (2), resolution not (3 and 4)
SEGMENT = {"rater1": {"therapist_contribution": 2, "resolution": 3},
           "rater2": {"therapist_contribution": 2, "resolution": 4}}
NOTES = {"rater1": "Hard to hear at the start.", "rater2": "The client sounded tired."}


@dataclass
class ConsensusStudy:
    study_id: int
    whole_unit: int
    window_unit: int
    wai: int  # instrument ids
    markers: int
    ratings: dict  # (rater, "wai" | "markers") -> rating id


def build_consensus(database: Database) -> ConsensusStudy:
    built = build(database, raters=("rater1", "rater2"))
    ratings = {}
    with database.session() as db:
        study = db.scalar(select(Study).where(Study.name == "Trial R"))
        window = built.window_units[0]
        first = db.get(Assignment, built.assignments["rater2"][0])
        db.add(Assignment(rater_id=first.rater_id, rating_unit_id=window, instrument_id=built.instrument_ids[
            "rupture-markers"]))
        db.flush()
        items = {i.id for i in instruments.builtin("wai-o-s").items}
        assert set(WAI["rater1"]) == items
        for rater in ("rater1", "rater2"):
            for kind, unit, responses in (
                    ("wai", built.whole_unit, WAI[rater]),
                    ("markers", window, {**SEGMENT[rater], "markers": MARKERS[rater], "events": EVENTS[rater]})):
                instrument = built.instrument_ids["wai-o-s" if kind == "wai" else "rupture-markers"]
                a = db.scalar(select(Assignment).where(Assignment.rating_unit_id == unit,
                                                       Assignment.instrument_id == instrument,
                                                       Assignment.rater_id == _rater_id(db, built, rater)))
                rating = Rating(assignment_id=a.id, rater_id=a.rater_id, responses=responses, notes=NOTES[rater],
                                status="submitted", submitted_at=utcnow())
                db.add(rating)
                db.flush()
                ratings[(rater, kind)] = rating.id
        return ConsensusStudy(study.id, built.whole_unit, window, built.instrument_ids["wai-o-s"],
                              built.instrument_ids["rupture-markers"], ratings)


def _rater_id(db, built, rater: str) -> int:
    return db.get(Assignment, built.assignments[rater][0]).rater_id
