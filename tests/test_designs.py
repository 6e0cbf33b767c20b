"""Assignment designs: balance, overlap fraction, seed reproducibility, and reassignment in the database."""
from __future__ import annotations

import itertools
import random
import re
from collections import Counter

import pytest
from sqlalchemy import select

from coder.rating import designs
from coder.study import instruments
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.rating.designs import DesignError, Unit, plan_crossed, plan_overlap
from coder.study.models import Assignment, AssignmentDesign, AuditEvent, Rating, User

from .support.analysis_study import get_or_create_unit
from .support.cli import coder
from .support.rating_study import PASSWORD

RATERS = ["ana", "ben", "cem", "dev"]


def trial_units(dyads: int = 12, time_points: int = 5) -> list[Unit]:
    return [Unit(d * 10 + t, f"D{d}", f"week {t * 4}") for d in range(1, dyads + 1) for t in range(time_points)]


def spread(counter: Counter) -> int:
    return max(counter.values()) - min(counter.values())


def test_overlap_fraction_and_coders_per_unit():
    units = trial_units()  # 60 units
    plan = plan_overlap(units, RATERS, overlap=0.2, coders=2, seed=7)
    by_unit = plan.by_unit()
    assert set(by_unit) == {u.id for u in units}
    assert len(plan.multi) == 12  # 20 % of 60
    for unit_id, raters in by_unit.items():
        assert len(raters) == len(set(raters)) == (2 if unit_id in plan.multi else 1)
    assert len(plan.pairs) == 60 + 12


@pytest.mark.parametrize("overlap,expected", [(0.0, 0), (0.1, 6), (0.25, 15), (1.0, 60)])
def test_overlap_fraction_rounds_to_whole_units(overlap, expected):
    plan = plan_overlap(trial_units(), RATERS, overlap=overlap, coders=2, seed=1)
    assert len(plan.multi) == expected
    assert len(plan.pairs) == 60 + expected


def test_triple_coding():
    plan = plan_overlap(trial_units(), RATERS, overlap=0.2, coders=3, seed=2)
    for unit_id in plan.multi:
        assert len(set(plan.by_unit()[unit_id])) == 3
    loads = Counter(r for _u, r in plan.pairs)
    assert sum(loads.values()) == 60 + 2 * 12 and spread(loads) <= 1


@pytest.mark.parametrize("seed", range(5))
def test_balanced_across_raters_dyads_and_time_points(seed):
    units = trial_units()
    plan = plan_overlap(units, RATERS, overlap=0.2, coders=2, seed=seed)
    # raters: the same number of units and of double-coded units, ±1
    loads = Counter(r for _u, r in plan.pairs)
    assert spread(loads) <= 1
    multi_loads = Counter(r for u, r in plan.pairs if u in plan.multi)
    assert spread(multi_loads) <= 1
    # each pair of raters shares about as many double-coded units as every other pair: 12 over 6 pairs
    pairs = Counter(frozenset(rs) for u, rs in plan.by_unit().items() if u in plan.multi)
    assert set(pairs) == {frozenset(p) for p in itertools.combinations(RATERS, 2)}
    assert spread(pairs) <= 1
    # double-coded units over dyads (12 dyads, 12 units: one each) and over time-points (2 or 3 of 12 each)
    of = {u.id: u for u in units}
    assert Counter(of[u].dyad for u in plan.multi) == Counter({f"D{d}": 1 for d in range(1, 13)})
    per_time = Counter(of[u].time_point for u in plan.multi)
    assert len(per_time) == 5 and set(per_time.values()) <= {2, 3}
    # each rater's units spread over time-points (15 units over 5 time-points: 3 each, ±1) and dyads
    for rater in RATERS:
        mine = [of[u] for u, r in plan.pairs if r == rater]
        assert spread(Counter(u.time_point for u in mine)) <= 2
        assert len({u.dyad for u in mine}) >= 10


def test_balance_with_unequal_dyads():
    rng = random.Random(0)
    units = [Unit(i, f"D{rng.randint(1, 3)}" if i < 40 else "D4", f"t{i % 3}") for i in range(50)]
    plan = plan_overlap(units, RATERS[:3], overlap=0.2, coders=2, seed=3)
    of = {u.id: u for u in units}
    got = Counter(of[u].dyad for u in plan.multi)
    size = Counter(u.dyad for u in units)
    for dyad in size:  # in proportion to the dyad's units, within one unit
        assert abs(got[dyad] - 10 * size[dyad] / 50) <= 1


def test_same_seed_same_plan_whatever_the_input_order():
    units = trial_units()
    plan = plan_overlap(units, RATERS, overlap=0.2, coders=2, seed=11)
    shuffled = list(units)
    random.Random(5).shuffle(shuffled)
    again = plan_overlap(shuffled, list(reversed(RATERS)), overlap=0.2, coders=2, seed=11)
    assert again.pairs == plan.pairs and again.multi == plan.multi
    other = plan_overlap(units, RATERS, overlap=0.2, coders=2, seed=12)
    assert other.pairs != plan.pairs


def test_queue_order_is_random_per_rater():
    plan = plan_overlap(trial_units(), RATERS, overlap=0.2, coders=2, seed=4)
    orders = plan.by_rater()
    for rater, units in orders.items():
        assert units != sorted(units)  # 15 units in ascending order by chance: p = 1/15!
    crossed = plan_crossed(trial_units(2, 5), RATERS, seed=4).by_rater()
    assert len({tuple(u) for u in crossed.values()}) == len(RATERS)  # each rater an order of their own
    assert all(sorted(u) == sorted(crossed["ana"]) for u in crossed.values())


def test_fully_crossed():
    units = trial_units(3, 2)
    plan = plan_crossed(units, RATERS, seed=0)
    assert sorted(plan.pairs) == sorted((u.id, r) for u in units for r in RATERS)


def test_impossible_designs_are_refused():
    with pytest.raises(DesignError, match="at least 3"):
        plan_overlap(trial_units(), ["ana", "ben"], overlap=0.2, coders=3)
    with pytest.raises(DesignError, match="between 0 and 1"):
        plan_overlap(trial_units(), RATERS, overlap=1.5)
    with pytest.raises(DesignError, match="no raters"):
        plan_overlap(trial_units(), [], overlap=0.2)


# --- in the study database ---------------------------------------------------------------------------

def _study(database, dyads=6, sessions=4, raters=("ana", "ben", "cem")):
    from coder.study.tree import get_or_create_study

    with database.session() as db:
        study = get_or_create_study(db, "Trial D")
        units: dict = {}
        for d in range(1, dyads + 1):
            for s in range(1, sessions + 1):
                get_or_create_unit(db, study, f"D{d}", s, "Whole session", units)
        grant(db, study, create_user(db, "coord", PASSWORD, "coordinator", "Coordinator"), None)
        for r in raters:
            create_user(db, r, PASSWORD, "rater", r.title())
        instruments.store(db, instruments.builtin("wai-o-s"))
        return study.id


def _live(db):
    return db.execute(select(Assignment.rating_unit_id, User.username).join(User, Assignment.rater_id == User.id)
                      .where(Assignment.deleted_at.is_(None))).all()


def test_design_is_stored_audited_and_leaves_assigned_units_alone(database):
    from coder.study.models import Instrument, Study

    study_id = _study(database)
    with database.session() as db:
        study, coord = db.get(Study, study_id), db.scalar(select(User).where(User.username == "coord"))
        wai = db.scalar(select(Instrument).where(Instrument.key == "wai-o-s"))
        design = designs.create(db, study, wai, "overlap", ["ana", "ben", "cem"], coord, overlap=0.25, coders=2,
                                seed=3, reason="first wave")
        assert design.summary["units"] == 24 and design.summary["multiply_coded"] == 6
        assert design.summary["added"] == 30
        rows = _live(db)
        assert len(rows) == 30 and spread(Counter(r for _u, r in rows)) <= 1
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == "assign")).all()
        assert len(events) == 30 and all(e.actor_id == coord.id and e.detail["design"] == design.id for e in events)
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "create_design")).detail["seed"] == 3
        # the plan it stored is the plan the seed gives
        units = [u for _r, u in designs.study_units(db, study, "wai-o-s")]
        expected = plan_overlap(units, ["ana", "ben", "cem"], 0.25, 2, 3)
        assert sorted(rows) == sorted(expected.pairs)
        # a second run finds nothing left to assign
        with pytest.raises(DesignError, match="already assigned"):
            designs.create(db, study, wai, "overlap", ["ana", "ben"], coord, overlap=0.2)
        assert db.scalar(select(AssignmentDesign).where(AssignmentDesign.id == design.id)).seed == 3


def test_reassign_moves_only_unrated_units_to_other_raters(database):
    from coder.study.models import Instrument, Study

    study_id = _study(database)
    with database.session() as db:
        study, coord = db.get(Study, study_id), db.scalar(select(User).where(User.username == "coord"))
        wai = db.scalar(select(Instrument).where(Instrument.key == "wai-o-s"))
        designs.create(db, study, wai, "overlap", ["ana", "ben", "cem"], coord, overlap=0.5, coders=2, seed=1)
        cem = db.scalar(select(User).where(User.username == "cem"))
        mine = db.scalars(select(Assignment).where(Assignment.rater_id == cem.id).order_by(Assignment.id)).all()
        done, draft = mine[0], mine[1]
        import datetime as dt
        now = dt.datetime.now(dt.timezone.utc)
        db.add(Rating(assignment_id=done.id, rater_id=cem.id, responses={}, status="submitted", submitted_at=now))
        db.add(Rating(assignment_id=draft.id, rater_id=cem.id, responses={"1": 3}, status="draft"))
        db.flush()
        before = Counter(u for u, _r in _live(db))
        with pytest.raises(DesignError, match="reason"):
            designs.reassign(db, cem, coord, "")
        moved = designs.reassign(db, cem, coord, "left the study")
        assert len(moved) == len(mine) - 1
        rows = _live(db)
        assert Counter(u for u, _r in rows) == before  # every unit keeps its number of raters
        for unit_id, raters in Counter((u, r) for u, r in rows).items():
            assert raters == 1  # never the same rater twice on a unit
        assert [u for u, r in rows if r == "cem"] == [done.rating_unit_id]
        assert db.get(Rating, db.scalar(select(Rating.id).where(Rating.assignment_id == draft.id))).deleted_at is None
        assert len(db.scalars(select(AuditEvent).where(AuditEvent.action == "withdraw")).all()) == len(moved)


def test_the_commands_design_progress_calibration_and_reassign(database, tmp_path):
    """The coordination commands, on SQLite and PostgreSQL."""
    import json

    _study(database, dyads=5, sessions=2)
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}

    def run(*args):
        return coder(*args, env=env, timeout=300)

    out = run("design", "Trial D", "--instrument", "wai-o-s", "--rater", "ana", "--rater", "ben", "--rater", "cem",
              "--overlap", "0.3", "--seed", "9", "--dry-run")
    assert out.exit_code == 0, out.stderr
    assert "10 unit(s), 3 coded by more than one rater" in out.stdout and "dry run: nothing stored" in out.stdout
    out = run("design", "Trial D", "--instrument", "wai-o-s", "--rater", "ana", "--rater", "ben", "--rater", "cem",
              "--overlap", "0.3", "--seed", "9", "--due", "2026-02-01", "--reason", "wave 1")
    assert out.exit_code == 0 and re.search(r"design \d+ \(overlap, seed 9\) on wai-o-s", out.stdout), out.stderr
    again = run("design", "Trial D", "--instrument", "wai-o-s", "--rater", "ana")
    assert again.exit_code == 1 and "every unit is already assigned on wai-o-s" in again.stderr
    report = json.loads(run("progress", "Trial D", "--json").stdout)
    assert {r["rater"]: r["assigned"] for r in report["work"]} == {"ana": 5, "ben": 4, "cem": 4}
    assert report["totals"]["overdue"] == 13 and len(report["overdue"]) == 13
    out = run("calibration", "Trial D", "--master", "ana", "--statistic", "icc", "--threshold", "0.7", "--window",
              "4")
    assert out.exit_code == 0 and "master ana; icc over the latest 4, threshold 0.7" in out.stdout, out.stderr
    assert run("calibration", "Trial D", "--window", "2").exit_code == 1
    out = run("reassign", "cem", "--reason", "left", "--deactivate")
    assert out.exit_code == 0 and "4 assignment(s) moved; cem deactivated" in out.stdout, out.stderr
    report = json.loads(run("progress", "Trial D", "--json").stdout)
    assert sum(r["assigned"] for r in report["work"] if r["rater"] != "cem") == 13
    assert "cem" not in {r["rater"] for r in report["work"]}
