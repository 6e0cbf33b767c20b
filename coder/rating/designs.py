"""Assignment designs: which rater rates which rating unit on an instrument.

Two designs, as in observer-rated process research:

* **crossed** (fully crossed): every rater rates every unit. Every ICC form is then estimable.
* **overlap**: each unit goes to one rater, and a chosen fraction (e.g. 20 %) goes to ``coders`` raters
  (2: double-coded, 3: triple-coded) for the reliability sample.

The overlap design is balanced in three ways, each by a greedy choice with the seeded order breaking ties:

1. the multiply-coded units are spread over dyads and time-points in proportion to their numbers of units
   (the unit whose dyad and time-point have the smallest share chosen so far is taken next);
2. every rater gets the same number of units (±1), and the same number of multiply-coded units (±1);
3. within that, each rater's units are spread over dyads and time-points, and each pair of raters shares
   about as many multiply-coded units as every other pair.

Each rater's queue order is a random permutation from the seed. Raters are not told which units are
multiply coded: the queue shows nothing of it (see coder.rating). The same units, raters and seed always
give the same plan (units and raters are sorted before the seeded shuffle), so a design can be recreated.

``reassign`` moves the unrated units of a rater who leaves to the least-loaded remaining raters who do not
already rate the unit on that instrument; ``deactivate`` retires a rater once nothing of theirs is left unrated
elsewhere.
"""
from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coder.rating.calibration import master_of
from coder.study import instruments, scope
from coder.study.accounts import set_active
from coder.study.audit import audit
from coder.study.models import (Assignment, AssignmentDesign, AuditEvent, Dyad, Instrument, Rating, RatingUnit,
                                Study, TherapySession, User, utcnow)
from coder.study.units import fits


class DesignError(ValueError):
    """The design cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Unit:
    """What balancing needs to know of a rating unit."""

    id: int
    dyad: str = ""
    time_point: str = ""


@dataclass
class Plan:
    kind: str
    pairs: list[tuple[int, str]] = field(default_factory=list)  # (unit id, rater), in each rater's queue order
    multi: set[int] = field(default_factory=set)  # units coded by more than one rater
    seed: int = 0

    def by_rater(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for unit_id, rater in self.pairs:
            out[rater].append(unit_id)
        return dict(out)

    def by_unit(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = defaultdict(list)
        for unit_id, rater in self.pairs:
            out[unit_id].append(rater)
        return dict(out)

    def summary(self) -> dict[str, Any]:
        per_rater = self.by_rater()
        return {"units": len(self.by_unit()), "assignments": len(self.pairs), "multiply_coded": len(self.multi),
                "per_rater": {r: len(u) for r, u in sorted(per_rater.items())},
                "multiply_coded_per_rater": {r: sum(u in self.multi for u in units)
                                             for r, units in sorted(per_rater.items())}}


def _multi_count(n: int, overlap: float) -> int:
    return min(n, int(round(overlap * n)))


def choose_multiply_coded(units: list[Unit], overlap: float, rng: random.Random) -> list[Unit]:
    """``round(overlap × n)`` units, spread over dyads and time-points in proportion to their sizes."""
    pool = list(units)
    rng.shuffle(pool)
    want = _multi_count(len(units), overlap)
    size_d = Counter(u.dyad for u in units)
    size_t = Counter(u.time_point for u in units)
    got_d: Counter = Counter()
    got_t: Counter = Counter()
    chosen: list[Unit] = []
    for _ in range(want):
        best = min(range(len(pool)), key=lambda i: (got_d[pool[i].dyad] / size_d[pool[i].dyad]
                                                    + got_t[pool[i].time_point] / size_t[pool[i].time_point], i))
        u = pool.pop(best)
        chosen.append(u)
        got_d[u.dyad] += 1
        got_t[u.time_point] += 1
    return chosen


def plan_overlap(units: list[Unit], raters: list[str], overlap: float = 0.2, coders: int = 2,
                 seed: int = 0) -> Plan:
    """Single coding with ``overlap`` of the units coded by ``coders`` raters each."""
    raters = sorted(set(raters))
    if not raters:
        raise DesignError("no raters chosen")
    if not 0 <= overlap <= 1:
        raise DesignError(f"the double-coded fraction must lie between 0 and 1, not {overlap}")
    if overlap > 0 and not 2 <= coders <= len(raters):
        raise DesignError(f"{coders} raters per multiply-coded unit needs at least {coders} raters; "
                          f"{len(raters)} chosen")
    rng = random.Random(seed)
    units = sorted(set(units), key=lambda u: u.id)
    multi = choose_multiply_coded(units, overlap, rng) if overlap > 0 else []
    multi_ids = {u.id for u in multi}
    single = [u for u in units if u.id not in multi_ids]
    rng.shuffle(single)
    # one time-point after another: taking turns by load then deals each time-point's units evenly
    times = sorted({u.time_point for u in single})
    rng.shuffle(times)
    single.sort(key=lambda u: times.index(u.time_point))
    tiebreak = {r: rng.random() for r in raters}
    load: Counter = Counter()
    multi_load: Counter = Counter()
    with_dyad: Counter = Counter()
    with_time: Counter = Counter()
    pair_count: Counter = Counter()
    pairs: list[tuple[int, str]] = []

    def take(u: Unit, rater: str) -> None:
        load[rater] += 1
        with_dyad[rater, u.dyad] += 1
        with_time[rater, u.time_point] += 1
        pairs.append((u.id, rater))

    for u in multi:
        # k raters with the lowest loads; among equal loads, the group whose pairs have met least
        ranked = sorted(raters, key=lambda r: (load[r], multi_load[r]))
        cut = load[ranked[coders - 1]], multi_load[ranked[coders - 1]]
        sure = [r for r in ranked if (load[r], multi_load[r]) < cut]
        tied = [r for r in ranked if (load[r], multi_load[r]) == cut]
        best = min(itertools.combinations(tied, coders - len(sure)),
                   key=lambda extra: (sum(pair_count[frozenset(p)]
                                          for p in itertools.combinations(sure + list(extra), 2)),
                                      sum(with_dyad[r, u.dyad] + with_time[r, u.time_point] for r in extra),
                                      sum(tiebreak[r] for r in extra)))
        group = sure + list(best)
        for r in group:
            take(u, r)
            multi_load[r] += 1
        for p in itertools.combinations(group, 2):
            pair_count[frozenset(p)] += 1
    # Loads end as equal as they can (floor or floor + 1); within that, time-point and dyad spread decide.
    floor, extra = divmod(len(single) + sum(load.values()), len(raters))
    for u in single:
        above = sum(load[r] > floor for r in raters)
        eligible = [r for r in raters if load[r] < floor or (load[r] == floor and above < extra)]
        r = min(eligible, key=lambda r: (with_time[r, u.time_point], with_dyad[r, u.dyad], load[r], tiebreak[r]))
        take(u, r)
    return Plan("overlap", _queue_order(pairs, rng), multi_ids, seed)


def plan_crossed(units: list[Unit], raters: list[str], seed: int = 0) -> Plan:
    """Every rater rates every unit."""
    raters = sorted(set(raters))
    if not raters:
        raise DesignError("no raters chosen")
    units = sorted(set(units), key=lambda u: u.id)
    pairs = [(u.id, r) for r in raters for u in units]
    return Plan("crossed", _queue_order(pairs, random.Random(seed)), {u.id for u in units} if len(raters) > 1
                else set(), seed)


def _queue_order(pairs: list[tuple[int, str]], rng: random.Random) -> list[tuple[int, str]]:
    """Each rater's units in a random order of their own."""
    by_rater: dict[str, list[int]] = defaultdict(list)
    for unit_id, rater in pairs:
        by_rater[rater].append(unit_id)
    out = []
    for rater in sorted(by_rater):
        units = sorted(by_rater[rater])
        rng.shuffle(units)
        out += [(u, rater) for u in units]
    return out


# --- the study database ---------------------------------------------------------------------------------

def study_units(db: Session, study: Study, instrument: Instrument | str | None = None,
                calibration: bool | None = False) -> list[tuple[RatingUnit, Unit]]:
    """The study's live rating units that raters can listen to; with an instrument (a stored row, or a key),
    those made for it, and those made for no instrument in particular that fit it (``units.fits``: a
    whole-session unit never goes to an instrument rated on segments). Units of sessions rated on paper, which
    have no recording, are rated by import."""
    stmt = scope.in_study(select(RatingUnit, Dyad.code, TherapySession.time_point, TherapySession.number),
                          RatingUnit, study).where(RatingUnit.recording_id.is_not(None)).order_by(RatingUnit.id)
    if calibration is not None:
        stmt = stmt.where(RatingUnit.calibration.is_(calibration))
    row = instruments.find(db, instrument) if isinstance(instrument, str) else instrument
    definition = instruments.stored(row) if row is not None else None
    key = row.key if row is not None else instrument
    out = []
    for unit, dyad, time_point, number in db.execute(stmt):
        if key:
            if unit.instrument_keys and key not in unit.instrument_keys:
                continue
            if not unit.instrument_keys and definition is not None and not fits(unit.kind, definition):
                continue
        out.append((unit, Unit(unit.id, dyad, time_point or f"session {number}")))
    return out


def study_designs(db: Session, study: Study) -> list[AssignmentDesign]:
    """The designs made in the study, newest first."""
    return list(db.scalars(select(AssignmentDesign).where(AssignmentDesign.study_id == study.id)
                           .order_by(AssignmentDesign.id.desc())))


def _raters(db: Session, usernames: list[str]) -> dict[str, User]:
    users = {u.username: u for u in db.scalars(select(User).where(User.username.in_(usernames)))}
    for name in usernames:
        user = users.get(name)
        if user is None or user.role != "rater" or not user.active:
            raise DesignError(f"no active rater {name}")
    return users


def _assigned(db: Session, instrument: Instrument, unit_ids: list[int]) -> dict[int, set[int]]:
    """Live assignments on these units and this instrument: unit id -> rater ids."""
    out: dict[int, set[int]] = defaultdict(set)
    if unit_ids:
        for unit_id, rater_id in db.execute(
                select(Assignment.rating_unit_id, Assignment.rater_id)
                .where(Assignment.rating_unit_id.in_(unit_ids), Assignment.instrument_id == instrument.id,
                       Assignment.live)):
            out[unit_id].add(rater_id)
    return out


def _last_positions(db: Session) -> dict[int, int]:
    """Each rater's last queue position, so that new assignments go after it."""
    return dict(db.execute(select(Assignment.rater_id, func.max(Assignment.position))
                           .group_by(Assignment.rater_id)).all())


def _place(db: Session, rater: User, unit_id: int, instrument: Instrument, last: dict[int, int], actor: User | None,
           due: dt.datetime | None = None, design: AssignmentDesign | None = None, **detail: Any) -> Assignment:
    """Assign the unit to the rater at the end of their queue (``last``: each rater's last position, updated);
    audited. A withdrawn assignment of the same unit comes back, with any draft the rater had saved."""
    last[rater.id] = last.get(rater.id, 0) + 1
    a = db.scalar(select(Assignment).where(Assignment.rater_id == rater.id, Assignment.rating_unit_id == unit_id,
                                           Assignment.instrument_id == instrument.id))
    if a is None:
        a = Assignment(rater_id=rater.id, rating_unit_id=unit_id, instrument_id=instrument.id)
        db.add(a)
    a.deleted_at, a.position, a.due_at = None, last[rater.id], due
    a.design_id = design.id if design is not None else a.design_id
    db.flush()
    audit(db, "assign", a, actor, rater=rater.username, unit=unit_id,
          instrument=f"{instrument.key}:{instrument.version}", **({"design": design.id} if design else {}), **detail)
    return a


def assign(db: Session, rater: User, units: list[RatingUnit], instrument: Instrument, actor: User | None,
           **detail: Any) -> list[tuple[RatingUnit, Assignment | None]]:
    """Assign units to one rater by hand, at the end of their queue; a unit the rater already has on the
    instrument is left as it is (None beside it). A unit without a recording cannot be assigned."""
    paper = [u.id for u in units if u.recording_id is None]
    if paper:
        raise DesignError(f"unit {paper[0]} belongs to a session without a recording: its ratings are imported "
                          "(coder ratings import), not made on the rating page")
    definition = instruments.stored(instrument)
    for unit in units:
        if unit.instrument_keys and instrument.key not in unit.instrument_keys:
            raise DesignError(f"unit {unit.id} is for {', '.join(unit.instrument_keys)}, not {instrument.key}")
        if not unit.instrument_keys and not fits(unit.kind, definition):
            raise DesignError(f"unit {unit.id} ({unit.kind.replace('_', ' ')}) does not fit {instrument.key}, which "
                              f"is rated on {'whole sessions' if definition.rating_unit == 'session' else 'segments'}")
    have = _assigned(db, instrument, [u.id for u in units])
    last = _last_positions(db)
    return [(unit, None if rater.id in have.get(unit.id, set())
             else _place(db, rater, unit.id, instrument, last, actor, **detail)) for unit in units]


def create(db: Session, study: Study, instrument: Instrument, kind: str, raters: list[str], actor: User | None,
           overlap: float = 0.2, coders: int = 2, seed: int = 0, due: dt.datetime | None = None,
           reason: str = "") -> AssignmentDesign:
    """Plan and store a design over the study's units that nobody rates on ``instrument`` yet.

    ``calibration`` assigns every calibration unit to every chosen rater and to the study's master rater.
    Units already assigned on this instrument are left as they are, so a design can be run again as new
    recordings arrive.
    """
    if kind == "calibration":
        master = master_of(study)
        if not master:
            raise DesignError("set the study's master (gold-standard) rater first")
        raters = sorted(set(raters) | {master})
    users = _raters(db, sorted(set(raters)))
    rows = study_units(db, study, instrument, calibration=(kind == "calibration"))
    taken = _assigned(db, instrument, [r.id for r, _u in rows])
    if kind == "calibration":
        free = [u for r, u in rows]
    else:
        free = [u for r, u in rows if not taken.get(r.id)]
    if not free:
        raise DesignError("no units to assign: " + ("mark calibration units first" if kind == "calibration" else
                                                    f"every unit is already assigned on {instrument.key}"
                                                    if rows else f"no rating units for {instrument.key}: add units "
                                                    "for it first (units made for no instrument go to it only "
                                                    "where they fit how it is rated)"))
    if kind == "overlap":
        plan = plan_overlap(free, raters, overlap, coders, seed)
    elif kind in ("crossed", "calibration"):
        plan = plan_crossed(free, raters, seed)
    else:
        raise DesignError(f"unknown design {kind}")
    design = AssignmentDesign(study_id=study.id, instrument_id=instrument.id, actor_id=actor.id if actor else None,
                              kind=kind, raters=sorted(set(raters)), overlap=overlap if kind == "overlap" else
                              (1.0 if len(set(raters)) > 1 else 0.0), coders=coders if kind == "overlap" else
                              len(set(raters)), seed=seed, summary=plan.summary())
    db.add(design)
    db.flush()
    last = _last_positions(db)
    added = 0
    for unit_id, rater in plan.pairs:
        user = users[rater]
        if user.id in taken.get(unit_id, set()):
            continue  # a calibration unit the rater already has
        _place(db, user, unit_id, instrument, last, actor, due=due, design=design, reason=reason)
        added += 1
    design.summary = {**plan.summary(), "added": added}
    audit(db, "create_design", design, actor, kind=kind, raters=design.raters, overlap=design.overlap,
          coders=design.coders, seed=seed, instrument=f"{instrument.key}:{instrument.version}",
          due=due.isoformat() if due else None, reason=reason, summary=design.summary)
    db.flush()
    return design


def due_end_of(day: dt.date) -> dt.datetime:
    """A due date's deadline: the end of that day (UTC)."""
    return dt.datetime.combine(day, dt.time(23, 59), dt.timezone.utc)


def open_assignments(db: Session, rater: User, study_ids: Collection[int] | None = None) -> list[Assignment]:
    """The rater's live assignments without a submitted rating (in the given studies, by default in any)."""
    stmt = (select(Assignment).outerjoin(Rating, (Rating.assignment_id == Assignment.id) & Rating.live)
            .where(Assignment.rater_id == rater.id, (Rating.id.is_(None)) | (Rating.status != "submitted"))
            .order_by(Assignment.id))
    return list(db.scalars(scope.in_study(stmt, Assignment, study_ids)))


def reassign(db: Session, leaving: User, actor: User | None, reason: str, to: list[str] | None = None,
             study_ids: Collection[int] | None = None) -> list[tuple[int, str]]:
    """Move the leaving rater's unrated assignments (in the given studies, by default in any) to other active
    raters; returns (unit id, new rater).

    Each goes to the least-loaded of ``to`` (default: every other active rater) who does not already rate
    that unit on that instrument, so a double-coded unit stays coded by two different raters. The old
    assignment is withdrawn (a draft stays stored with it); both steps are audited.
    """
    if not reason.strip():
        raise DesignError("give a reason for the reassignment (it goes to the audit trail)")
    candidates = [u for u in db.scalars(select(User).where(User.role == "rater", User.active.is_(True),
                                                            User.id != leaving.id).order_by(User.username))
                  if to is None or u.username in to]
    if to:
        missing = set(to) - {u.username for u in candidates}
        if missing:
            raise DesignError(f"no active rater {', '.join(sorted(missing))}")
    if not candidates:
        raise DesignError("no other active rater to take the units")
    todo = open_assignments(db, leaving, study_ids)
    load = Counter({u.id: len(open_assignments(db, u)) for u in candidates})
    last = _last_positions(db)
    moved = []
    for old in todo:
        have = _assigned(db, old.instrument, [old.rating_unit_id])[old.rating_unit_id]
        free = [u for u in candidates if u.id not in have]
        if not free:
            raise DesignError(f"unit {old.rating_unit_id} on {old.instrument.key}: every other rater already rates "
                              "it; add a rater first")
        new_rater = min(free, key=lambda u: (load[u.id], u.username))
        load[new_rater.id] += 1
        old.deleted_at = utcnow()
        # a draft stays with the withdrawn assignment and returns with it if the rater comes back
        draft = db.scalar(select(Rating).where(Rating.assignment_id == old.id, Rating.live))
        audit(db, "withdraw", old, actor, rater=leaving.username, unit=old.rating_unit_id, reason=reason,
              draft=draft.id if draft else None)
        new = _place(db, new_rater, old.rating_unit_id, old.instrument, last, actor, due=old.due_at,
                     replaces=old.id, reason=reason)
        new.design_id = old.design_id
        moved.append((old.rating_unit_id, new_rater.username))
    db.flush()
    return moved


def deactivate(db: Session, rater: User, actor: User | None, reason: str, study_ids: Collection[int]) -> None:
    """Deactivate a rater (audited; their ratings stay), unless they still hold unrated assignments in studies
    other than ``study_ids`` (the actor's): those studies' coordinators must move them first."""
    if not reason.strip():
        raise DesignError("give a reason for deactivating the rater (it goes to the audit trail)")
    elsewhere = len(open_assignments(db, rater)) - len(open_assignments(db, rater, study_ids))
    if elsewhere:
        raise DesignError(f"{rater.username} has {elsewhere} unrated assignment(s) in studies you do not "
                          "coordinate; their coordinators must move them first")
    set_active(db, rater, False, actor, reason)


def answerable_for(db: Session, rater: User, actor: User | None, study_ids: Collection[int] | None) -> None:
    """DesignError unless the actor may reactivate the rater or reset their password: the actor coordinates
    every study the rater has assignments in, or deactivated the rater themselves (None: the command line)."""
    if actor is None or study_ids is None:
        return
    def count(studies: Collection[int] | None) -> int:
        stmt = select(func.count(Assignment.id)).select_from(Assignment).where(Assignment.rater_id == rater.id)
        return db.scalar(scope.in_study(stmt, Assignment, studies)) or 0

    elsewhere = count(None) - count(study_ids)
    if not elsewhere:
        return
    last = db.scalar(select(AuditEvent).where(AuditEvent.entity == "users", AuditEvent.entity_id == rater.id,
                                              AuditEvent.action == "deactivate")
                     .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1))
    if last is not None and last.actor_id == actor.id and not rater.active:
        return
    raise DesignError(f"{rater.username} also rates in {elsewhere} assignment(s) of studies you do not "
                      "coordinate; their coordinators decide")


def reactivate(db: Session, rater: User, actor: User | None, reason: str,
               study_ids: Collection[int] | None) -> None:
    """Let a deactivated rater log in again (audited, with a reason): the mirror of ``deactivate``, scoped by
    ``answerable_for``."""
    if not reason.strip():
        raise DesignError("give a reason for reactivating the rater (it goes to the audit trail)")
    answerable_for(db, rater, actor, study_ids)
    set_active(db, rater, True, actor, reason)
