"""Raters' work: their queue, what they may see of a unit, and saving, submitting and reopening ratings.

Blinding is decided here, on the server: ``unit_view`` builds the only facts
about a unit that reach a rater's browser, from the study's settings
(``Study.settings["blinding"]``, all hidden unless the study shows them):

    session_number   the session's number in the dyad's course
    time_point       e.g. "week 6"
    treatment_arm    the trial arm
    dyad             the dyad, therapist and client codes
    other_ratings    other raters' submitted ratings of the unit, once the rater has submitted their own

Queue order (``Study.settings["queue_order"]``): ``random`` (the default; a
fixed shuffle per rater, seeded by the study's ``queue_seed``, so it does not
change between visits), ``assigned`` (the order the coordinator assigned,
``Assignment.position``) or ``chronological`` (dyad, session, unit start).
``configure`` changes both, and the study's gold-standard rater, in one audited step.

Saving is optimistic: each save names the revision it was based on and is
applied only if that is still the stored revision (one UPDATE ... WHERE
revision = n, safe under concurrent requests on SQLite and PostgreSQL).
A save whose content equals what is stored succeeds without a change, so a
retried request (a double submit, a response lost on the way) is harmless.
Submitted ratings are locked; a coordinator reopens one with a reason.
Every change is written to the audit trail with the items it changed.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from coder.rating import calibration
from coder.study import deidentification, instruments, scope
from coder.study.audit import audit
from coder.study.models import (Assignment, AuditEvent, Dyad, Instrument, Rating, RatingUnit, Study,
                                TherapySession, User, utcnow)
from coder.study.units import excerpt

BLINDING_FIELDS = ("session_number", "time_point", "treatment_arm", "dyad", "other_ratings")
QUEUE_ORDERS = ("random", "assigned", "chronological")
STATUSES = ("to do", "draft", "submitted")  # of an assignment in a rater's queue
MAX_NOTES = 20000


class RatingError(Exception):
    status = 400

    def __init__(self, message: str, problems: list[str] | None = None, rating: Rating | None = None):
        super().__init__(message)
        self.problems = problems or []
        self.rating = rating


class Invalid(RatingError):
    status = 422


class Conflict(RatingError):
    """The rating changed since the client loaded it (another window, another device)."""
    status = 409


class Locked(RatingError):
    """The rating is submitted; only a coordinator can reopen it."""
    status = 423


def blinding(study: Study) -> dict[str, bool]:
    shown = (study.settings or {}).get("blinding") or {}
    return {name: bool(shown.get(name, False)) for name in BLINDING_FIELDS}


class SettingsError(ValueError):
    """A study setting that cannot be made as asked; the message says why."""


def check_blinding(fields: Collection[str]) -> None:
    """SettingsError naming the first of ``fields`` that is not one of BLINDING_FIELDS."""
    for name in fields:
        if name not in BLINDING_FIELDS:
            raise SettingsError(f"unknown field {name}; choose from {', '.join(BLINDING_FIELDS)}")


def configure(db: Session, study: Study, actor: User | None, show: Collection[str] = (), hide: Collection[str] = (),
              queue_order: str | None = None, queue_seed: int | None = None,
              gold_standard: str | None = None) -> dict[str, Any]:
    """Show the blinding fields ``show`` to the study's raters and hide ``hide`` from them, set the order of their
    queues and its seed, and name the gold-standard rater ("" clears it); None leaves a setting as it is. Audited
    where anything changed; the study's settings, changed or not."""
    check_blinding((*show, *hide))
    if queue_order is not None and queue_order not in QUEUE_ORDERS:
        raise SettingsError(f"unknown queue order {queue_order}; choose from {', '.join(QUEUE_ORDERS)}")
    settings = dict(study.settings or {})
    shown = {name: True for name, visible in blinding(study).items() if visible}
    shown.update(dict.fromkeys(show, True))
    for name in hide:
        shown.pop(name, None)
    settings["blinding"] = shown
    if queue_order is not None:
        settings["queue_order"] = queue_order
    if queue_seed is not None:
        settings["queue_seed"] = queue_seed
    try:
        calibration.set_master(db, settings, gold_standard)
    except calibration.CalibrationError as exc:
        raise SettingsError(str(exc)) from None
    if settings != (study.settings or {}):
        audit(db, "settings", study, actor, before=study.settings or {}, after=settings)
        study.settings = settings
    return settings


def study_of_assignment(assignment: Assignment) -> Study:
    return assignment.rating_unit.session.dyad.study


def _assignments(db: Session, rater: User, assignment_id: int | None = None, load: bool = True) -> list[Assignment]:
    stmt = (scope.in_study(select(Assignment), Assignment, None)
            .join(Instrument, Assignment.instrument_id == Instrument.id)
            .where(Assignment.rater_id == rater.id, Instrument.live)
            .options(selectinload(Assignment.instrument)))  # once per instrument, not its definition per row
    if load:
        stmt = stmt.options(joinedload(Assignment.rating_unit).joinedload(RatingUnit.session)
                            .joinedload(TherapySession.dyad).joinedload(Dyad.study))
    if assignment_id is not None:
        stmt = stmt.where(Assignment.id == assignment_id)
    return list(db.scalars(stmt).unique())


def assignment_for(db: Session, rater: User, assignment_id: int, load: bool = True) -> Assignment | None:
    """The rater's own, live assignment with this id; None for anyone else's (callers answer 404).

    ``load=False`` skips loading the unit's study tree (saving a rating needs only the instrument).
    """
    found = _assignments(db, rater, assignment_id, load)
    return found[0] if found else None


def _shuffle_key(study: Study, rater: User, assignment: Assignment) -> str:
    seed = (study.settings or {}).get("queue_seed", study.id)
    return hashlib.sha256(f"{seed}:{rater.id}:{assignment.id}".encode()).hexdigest()


def _order_key(study: Study, rater: User, a: Assignment) -> tuple:
    order = (study.settings or {}).get("queue_order", "random")
    unit = a.rating_unit
    if order == "assigned":
        return (a.position, a.id)
    if order == "chronological":
        session = unit.session
        return (session.dyad.code, session.number, unit.start_s, a.instrument.key, a.id)
    return (_shuffle_key(study, rater, a),)


def stored_rating(db: Session, assignment: Assignment) -> Rating | None:
    """The assignment's stored rating, withdrawn or not (the page shows what is stored; a save to a withdrawn
    rating is refused)."""
    return db.scalar(select(Rating).where(Rating.assignment_id == assignment.id))


def ratings_of(db: Session, assignments: list[Assignment]) -> dict[int, Rating]:
    ids = [a.id for a in assignments]
    if not ids:
        return {}
    rows = db.scalars(select(Rating).where(Rating.assignment_id.in_(ids), Rating.live))
    return {r.assignment_id: r for r in rows}


@dataclass
class QueueEntry:
    assignment_id: int
    study: str  # what the rater reads for the study (``study_label``); "" where it is hidden
    unit: dict[str, Any]
    instrument: str
    status: str  # to do | draft | submitted
    updated_at: Any = None
    instrument_key: str = ""


@dataclass
class Queue:
    """A rater's queue as asked for: the entries of the chosen instrument and status, in queue order, and how
    many there are of each status (within the chosen instrument) and of each instrument (within the status)."""
    entries: list[QueueEntry]
    total: int  # every assignment in the queue
    statuses: dict[str, int]
    instruments: list[tuple[str, str, int]]  # (key, name, count)
    next_to_do: QueueEntry | None = None  # the first unit still to do, whatever the filters


def queue(db: Session, rater: User) -> list[QueueEntry]:
    """The rater's assignments in the order their studies' designs say, with what the rater may see."""
    assignments = _assignments(db, rater)
    ratings = ratings_of(db, assignments)
    assignments.sort(key=lambda a: (study_of_assignment(a).name, _order_key(study_of_assignment(a), rater, a)))
    out = []
    for a in assignments:
        rating = ratings.get(a.id)
        out.append(QueueEntry(a.id, study_label(study_of_assignment(a)), unit_view(a), a.instrument.name,
                              rating.status if rating else "to do", rating.updated_at if rating else None,
                              a.instrument.key))
    return out


def next_assignment(db: Session, rater: User, assignment: Assignment) -> Assignment | None:
    """The rater's next unit to rate on the same instrument after ``assignment``, in their queue's order
    (``queue``), wrapping round to the units before it: the first one not submitted; None when every other one
    is submitted."""
    same = [a for a in _assignments(db, rater) if a.instrument_id == assignment.instrument_id]
    same.sort(key=lambda a: (study_of_assignment(a).name, _order_key(study_of_assignment(a), rater, a)))
    ratings = ratings_of(db, same)
    at = next((i for i, a in enumerate(same) if a.id == assignment.id), -1)
    for a in same[at + 1:] + same[:max(at, 0)]:
        rating = ratings.get(a.id)
        if rating is None or rating.status != "submitted":
            return a
    return None


def filtered_queue(db: Session, rater: User, instrument: str | None = None, status: str | None = None) -> Queue:
    """The rater's ``queue``, only the entries on ``instrument`` (a key) and of ``status`` (STATUSES) where
    given, with the counts of each; SettingsError for an unknown status."""
    if status is not None and status not in STATUSES:
        raise SettingsError(f"unknown status {status}; choose from {', '.join(STATUSES)}")
    every = queue(db, rater)
    names: dict[str, str] = {}
    by_instrument: dict[str, int] = {}
    for e in every:
        names.setdefault(e.instrument_key, e.instrument)
        if status is None or e.status == status:
            by_instrument[e.instrument_key] = by_instrument.get(e.instrument_key, 0) + 1
    on_instrument = [e for e in every if instrument is None or e.instrument_key == instrument]
    return Queue(entries=[e for e in on_instrument if status is None or e.status == status], total=len(every),
                 statuses={s: sum(e.status == s for e in on_instrument) for s in STATUSES},
                 instruments=[(key, names[key], by_instrument.get(key, 0)) for key in sorted(names, key=names.get)],
                 next_to_do=next((e for e in every if e.status == "to do"), None))


# --- what a rater reads of a study and of a unit -----------------------------------------------------------

STUDY_LABELS = ("name", "hidden", "label")  # raters read the study's name, nothing, or the coordinator's label
MAX_STUDY_LABEL = 100


def study_label(study: Study) -> str:
    """What the study's raters read for the study, on their queue and on the rating page (title and heading):
    its name, the coordinator's neutral label, or "" where it is hidden (study names often encode the arm)."""
    shown, label = study_label_setting(study)
    if shown == "hidden":
        return ""
    return label if shown == "label" else study.name


def study_label_setting(study: Study) -> tuple[str, str]:
    """The study's choice of what raters read for it (one of STUDY_LABELS) and its label ("" but for "label")."""
    settings = study.settings or {}
    return settings.get("rater_study", "name"), settings.get("rater_study_label", "")


def set_study_label(db: Session, study: Study, actor: User | None, shown: str, label: str = "") -> dict[str, Any]:
    """Let raters read the study's name (``shown`` "name"), nothing ("hidden") or ``label`` ("label"). Audited
    where it changed; the study's settings."""
    if shown not in STUDY_LABELS:
        raise SettingsError(f"unknown choice {shown}; choose from {', '.join(STUDY_LABELS)}")
    label = " ".join((label or "").split())
    if shown == "label" and not label:
        raise SettingsError("give the label raters read for the study")
    if len(label) > MAX_STUDY_LABEL:
        raise SettingsError(f"the label is longer than {MAX_STUDY_LABEL} characters")
    if shown == "label" and label == study.name:
        shown = "name"
    settings = dict(study.settings or {})
    settings["rater_study"] = shown
    if shown == "label":
        settings["rater_study_label"] = label
    else:
        settings.pop("rater_study_label", None)
    if settings != (study.settings or {}):
        audit(db, "settings", study, actor, before=study.settings or {}, after=settings)
        study.settings = settings
    return settings


UNIT_CODE_LETTERS = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U
KIND_WORDS = {"whole_session": "Whole session", "fixed_window": "Segment", "custom": "Excerpt"}
_WINDOW_NUMBER = re.compile(r"window (\d+)\)$")
_SEARCH_LABEL = re.compile(r"^(?:'(?P<words>.+)' at )?\d+:\d\d(?::\d\d)?: (?P<text>.*)$", re.S)
_RANGE_LABEL = re.compile(r"^\d+:\d\d(?::\d\d)?–\d+:\d\d(?::\d\d)?$")
CUT_TEXT = 80  # coder.study.units keeps this much of a search hit's text in its label
SHOWN_TEXT = 60


def unit_code(study: Study, unit: RatingUnit) -> str:
    """A short neutral code for a unit, to tell units apart where the session number is hidden: derived from the
    unit's id with the study's seed, so it neither counts up nor reveals the order of sessions."""
    seed = (study.settings or {}).get("queue_seed", study.id)
    digest = int.from_bytes(hashlib.sha256(f"unit-code:{seed}:{unit.id}".encode()).digest()[:8], "big")
    letters = []
    for _ in range(6):
        digest, i = divmod(digest, len(UNIT_CODE_LETTERS))
        letters.append(UNIT_CODE_LETTERS[i])
    return "".join(letters)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def shorten(text: str, limit: int = SHOWN_TEXT, cut: bool = False) -> str:
    """``text`` in at most ``limit`` characters, ending at a whole word with "…" where it was shortened; ``cut``:
    the text was already cut somewhere, maybe mid-word, so its last word goes too."""
    text = " ".join(text.split())
    if cut and " " in text:
        text = text.rsplit(" ", 1)[0]
    if len(text) > limit:
        head = text[:limit + 1]
        text = head.rsplit(" ", 1)[0] if " " in head else text[:limit]
        cut = True
    return text.rstrip(" ,;:.-–") + "…" if cut else text


def unit_label(unit: RatingUnit) -> str:
    """The unit as a rater reads it: its kind, number and time range within the session ("Segment 3 ·
    10:00–15:00", "Whole session · 0:00–50:12"), and the coordinator's words for it where they say more (an
    excerpt's search hit, "homework review"), never cut mid-word."""
    stored = (unit.label or "").strip()
    if unit.recording_id is None and unit.end_s <= unit.start_s:  # a session rated on paper: its label alone
        return shorten(stored) or KIND_WORDS.get(unit.kind, "Unit")
    head = KIND_WORDS.get(unit.kind, "Unit")
    number = _WINDOW_NUMBER.search(stored) if unit.kind == "fixed_window" else None
    if number:  # coder.study.units' own label of a window: its number says it all
        head, stored = f"{head} {number.group(1)}", ""
    out = f"{head} · {_clock(unit.start_s)}–{_clock(unit.end_s)}"
    if not stored or stored == KIND_WORDS.get(unit.kind) or _RANGE_LABEL.match(stored):
        return out
    found = _SEARCH_LABEL.match(stored)
    if found:  # a search hit: "'words' at 12:30: the hit's text (cut at CUT_TEXT characters)"
        text = found.group("text")
        words = f"'{found.group('words')}': " if found.group("words") else ""
        return f"{out} · {shorten(words + text, cut=len(text) >= CUT_TEXT)}"
    return f"{out} · {shorten(stored)}"


def unit_view(assignment: Assignment) -> dict[str, Any]:
    """What a rater may know of the unit: its label and length, and what the study's blinding allows; a neutral
    code (``unit_code``) where the session number is hidden, so that units of the same kind and times differ."""
    unit = assignment.rating_unit
    session = unit.session
    study = session.dyad.study
    shown = blinding(study)
    view: dict[str, Any] = {"label": unit_label(unit), "kind": unit.kind,
                            "duration_s": round(unit.end_s - unit.start_s, 3)}
    shown_as = study_label(study)
    if shown_as:
        view["study"] = shown_as
    if shown["session_number"]:
        view["session_number"] = session.number
    else:
        view["code"] = unit_code(study, unit)
    if shown["time_point"] and session.time_point:
        view["time_point"] = session.time_point
    if shown["treatment_arm"] and session.treatment_arm:
        view["treatment_arm"] = session.treatment_arm
    if shown["dyad"]:
        dyad = session.dyad
        view["dyad"] = f"{dyad.code} (therapist {dyad.therapist.code}, client {dyad.client.code})"
    return view


_parsed: dict[int, tuple[dict, instruments.InstrumentDefinition]] = {}


def definition(assignment: Assignment) -> instruments.InstrumentDefinition:
    """The assignment's instrument, parsed once per stored definition (saves come several a second)."""
    row = assignment.instrument
    cached = _parsed.get(row.id)
    if cached is None or cached[0] != row.definition:
        cached = (row.definition, instruments.stored(row))
        _parsed[row.id] = cached
    return cached[1]


def role_labels(transcript) -> dict[str, str]:
    """Speaker label -> what the rater reads: Therapist, Client, or Speaker A, B, ... when the role is unknown."""
    out, unknown = {}, 0
    for speaker in transcript.speakers if transcript else []:
        if speaker.role:
            out[speaker.label] = speaker.role.capitalize()
        else:
            out[speaker.label] = f"Speaker {chr(ord('A') + unknown)}"
            unknown += 1
    return out


def shown_transcript(assignment: Assignment) -> deidentification.Shown | None:
    """What the rater reads of the unit's transcript as the study allows (coder.study.transcripts for which
    transcripts, coder.study.deidentification for the original or only its de-identified version), or None."""
    recording = assignment.rating_unit.recording
    if recording is None:
        return None
    return deidentification.shown_to_raters(recording.session.dyad.study, recording.transcript)


def shown_revision(assignment: Assignment) -> int | None:
    """The transcript revision the rater reads with the unit (None: no transcript shown); for a de-identified
    transcript, the revision its de-identified version was made from."""
    shown = shown_transcript(assignment)
    return shown.revision if shown is not None else None


def audio_mask(assignment: Assignment) -> deidentification.Mask | None:
    """How the rater's listening copy of the unit is masked (None: as recorded); deidentification.Unavailable
    where the study masks raters' audio and the recording's de-identification has not been applied."""
    recording = assignment.rating_unit.recording
    if recording is None:
        return None
    return deidentification.rater_mask(recording.session.dyad.study, recording.transcript)


def transcript_excerpt(assignment: Assignment) -> list[dict[str, Any]]:
    """The unit's transcript as the rater may read it (``shown_transcript``), times relative to the unit's start:
    [{"s", "e", "who", "role", "w": [[s, e, text]]}]."""
    unit = assignment.rating_unit
    shown = shown_transcript(assignment)
    if shown is None:
        return []
    transcript = shown.transcript
    names = role_labels(transcript)
    roles = {s.label: s.role for s in transcript.speakers}
    out = []
    for seg in excerpt(shown.segments, unit.start_s, unit.end_s):
        base = unit.start_s
        words = [[round(w["start"] - base, 2), round(w["end"] - base, 2), w["text"].strip()]
                 for w in seg.get("words") or [] if w.get("text", "").strip()]
        if not words:  # a segment without word times: one span for its text
            words = [[round(seg["start"] - base, 2), round(seg["end"] - base, 2), seg["text"].strip()]]
        out.append({"s": round(seg["start"] - base, 2), "e": round(seg["end"] - base, 2),
                    "who": names.get(seg.get("speaker"), "Speaker"), "role": roles.get(seg.get("speaker")),
                    "w": words})
    return out


def other_ratings(db: Session, assignment: Assignment, own: Rating | None) -> list[dict[str, Any]]:
    """Other raters' submitted ratings of the same unit and instrument, where the study shows them to a rater
    whose own rating (``own``) is submitted; else nothing."""
    if not blinding(study_of_assignment(assignment))["other_ratings"]:
        return []
    if own is None or own.status != "submitted":
        return []
    rows = db.scalars(select(Rating).join(Assignment, Rating.assignment_id == Assignment.id).where(
        Assignment.rating_unit_id == assignment.rating_unit_id, Assignment.instrument_id == assignment.instrument_id,
        Assignment.id != assignment.id, Rating.status == "submitted", Rating.live))
    return [{"rater": r.rater.display_name, "responses": r.responses} for r in rows]


# --- saving ---------------------------------------------------------------------------------------------

def _clean(responses: Any, notes: Any) -> tuple[dict[str, Any], str]:
    if not isinstance(responses, dict):
        raise Invalid("the scores must be an object of item ids and values")
    if notes is None:
        notes = ""
    if not isinstance(notes, str):
        raise Invalid("the notes must be text")
    if len(notes) > MAX_NOTES:
        raise Invalid(f"the notes are longer than {MAX_NOTES} characters")
    kept = {}
    for key, value in responses.items():
        if key == instruments.MARKERS:
            kept[key] = {str(k): v for k, v in (value or {}).items()} if isinstance(value, dict) else value
        elif key == instruments.EVENTS:
            if isinstance(value, list) and all(isinstance(e, dict) for e in value):
                value = [{**e, "note": e.get("note") or "", "end": e.get("end")} for e in instruments.events_of(
                    {key: value})]  # one order and one shape, so that a retried save compares equal
            if value != []:
                kept[key] = value
        elif value is not None and value != "":
            kept[str(key)] = value
    return kept, notes


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    keys = sorted(set(before) | set(after))
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


@dataclass(frozen=True)
class CheckedSave:
    """A save or submit whose content has been checked (``check_save``), ready to be stored (``store``)."""
    assignment: Assignment
    rater: User
    responses: dict[str, Any]
    notes: str
    revision: int
    submit: bool


def check_save(assignment: Assignment, rater: User, responses: Any, notes: Any, revision: Any,
               submit: bool) -> CheckedSave:
    """The save checked against the instrument (RatingError when it is not the rater's or not valid). Done before
    the database's write turn is taken, so that saves waiting for the turn do not wait for each other's checks."""
    if assignment.rater_id != rater.id:
        raise RatingError("not your assignment")
    responses, notes = _clean(responses, notes)
    try:
        revision = int(revision)
    except (TypeError, ValueError):
        raise Invalid("the save must name the revision it is based on") from None
    unit = assignment.rating_unit if instruments.EVENTS in responses else None
    problems = instruments.check_responses(definition(assignment), responses, submit=submit,
                                           duration=unit.end_s - unit.start_s if unit is not None else None)
    if problems:
        raise Invalid("; ".join(problems), problems)
    return CheckedSave(assignment, rater, responses, notes, revision, submit)


def store(db: Session, save: CheckedSave) -> Rating:
    """Store a checked save (inside the database's write turn): a new rating, or the stored one updated where it
    is still at the revision the save names (Conflict otherwise); the same content again changes nothing."""
    assignment, rater, responses, notes, revision, submit = (save.assignment, save.rater, save.responses,
                                                              save.notes, save.revision, save.submit)
    status = "submitted" if submit else "draft"
    rating = stored_rating(db, assignment)
    if rating is not None and not rating.live:
        raise Locked("this rating was withdrawn by a coordinator", rating=rating)
    if rating is not None and rating.responses == responses and rating.notes == notes and \
            (rating.status == status or (rating.status == "submitted" and not submit and revision < rating.revision)):
        return rating  # the same content again: a retry or a double submit
    if rating is not None and rating.status == "submitted":
        raise Locked("this rating is submitted and locked; a coordinator can reopen it", rating=rating)
    now = utcnow()
    if rating is None:
        if revision != 0:
            raise Conflict("this rating no longer exists as your page knew it")
        rating = Rating(assignment_id=assignment.id, rater_id=rater.id, responses=responses, notes=notes, status=status,
                        revision=1, submitted_at=now if submit else None, created_at=now, updated_at=now,
                        transcript_revision=shown_revision(assignment) if submit else None)
        db.add(rating)
        try:
            db.flush()
        except IntegrityError:  # another request created it first
            db.rollback()
            raise Conflict("this rating was saved from another window") from None
        before: dict[str, Any] = {}
        old_notes = ""
    else:
        before, old_notes = dict(rating.responses or {}), rating.notes
        values = {"responses": responses, "notes": notes, "status": status, "revision": revision + 1, "updated_at": now}
        if submit:
            values["submitted_at"] = now
            values["transcript_revision"] = shown_revision(assignment)
        result = db.execute(update(Rating).where(Rating.id == rating.id, Rating.revision == revision,
                                                 Rating.status == "draft").values(**values)
                            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            db.refresh(rating)
            raise Conflict("this rating was changed in another window or on another device", rating=rating)
        for key, value in values.items():  # what the row now holds, without reading it back
            set_committed_value(rating, key, value)
    detail: dict[str, Any] = {"revision": rating.revision, "changed": _changes(before, responses)}
    if notes != old_notes:
        detail["notes"] = notes
    audit(db, "submit" if submit else "save_draft", rating, rater, **detail)
    return rating


def _write(db: Session, assignment: Assignment, rater: User, responses: Any, notes: Any, revision: Any,
           submit: bool) -> Rating:
    return store(db, check_save(assignment, rater, responses, notes, revision, submit))


def save_draft(db: Session, assignment: Assignment, rater: User, responses: Any, notes: Any,
               revision: Any) -> Rating:
    """Store the rater's draft (incomplete is fine; values must be on the scale)."""
    return _write(db, assignment, rater, responses, notes, revision, submit=False)


def submit(db: Session, assignment: Assignment, rater: User, responses: Any, notes: Any, revision: Any) -> Rating:
    """Store and lock the rating; every required item must be answered."""
    return _write(db, assignment, rater, responses, notes, revision, submit=True)


def reopen(db: Session, rating: Rating, coordinator: User, reason: str) -> Rating:
    """Unlock a submitted rating for its rater, with the coordinator's reason recorded."""
    if coordinator.role != "coordinator":
        raise RatingError("only a coordinator can reopen a rating")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("give a reason for reopening the rating")
    if rating.status != "submitted":
        raise RatingError("the rating is not submitted")
    rating.status = "draft"
    rating.revision += 1
    rating.updated_at = utcnow()
    db.flush()
    audit(db, "reopen", rating, coordinator, reason=reason[:1000], scores=rating.responses,
          submitted_at=rating.submitted_at.isoformat() if rating.submitted_at else None, revision=rating.revision)
    return rating


def reopen_reason(db: Session, rating: Rating | None) -> dict[str, Any] | None:
    """Why a coordinator last reopened the rating, for its rater: {"reason", "at"}; None for a rating that was
    never submitted or is submitted now (a reopened draft keeps its ``submitted_at``, so that only those cost
    a look into the audit trail)."""
    if rating is None or rating.status != "draft" or rating.submitted_at is None:
        return None
    event = db.scalar(select(AuditEvent).where(AuditEvent.entity == Rating.__tablename__,
                                               AuditEvent.entity_id == rating.id, AuditEvent.action == "reopen")
                      .order_by(AuditEvent.id.desc()).limit(1))
    if event is None:
        return None
    return {"reason": (event.detail or {}).get("reason", ""), "at": event.at}


# --- a rater's settings of the page -------------------------------------------------------------------------

PREFERENCES: dict[str, bool] = {
    "confirm_submit": True,  # ask before a submit, which locks the rating
}


def preferences(user: User) -> dict[str, Any]:
    """The account's settings of the rating page, with the defaults for those it never set."""
    stored = user.preferences or {}
    return {name: stored.get(name, default) for name, default in PREFERENCES.items()}


def set_preferences(db: Session, user: User, changes: Any) -> dict[str, Any]:
    """Change some of the account's settings (``PREFERENCES``: each true or false); Invalid for an unknown
    name or a value of the wrong type, changing nothing. Audited where anything changed; the settings."""
    if not isinstance(changes, dict) or not changes:
        raise Invalid("expected settings by name: " + ", ".join(PREFERENCES))
    for name, value in changes.items():
        if name not in PREFERENCES:
            raise Invalid(f"unknown setting {name}; choose from {', '.join(PREFERENCES)}")
        if not isinstance(value, bool):
            raise Invalid(f"{name}: expected true or false")
    before = preferences(user)
    after = {**before, **changes}
    if after != before:
        user.preferences = {**(user.preferences or {}), **changes}
        audit(db, "preferences", user, user, before=before, after=after)
    return after


def state(rating: Rating | None) -> dict[str, Any]:
    """What the rating page needs to know of the stored rating."""
    if rating is None:
        return {"revision": 0, "status": "to do", "scores": {}, "notes": "", "updated_at": None}
    return {"revision": rating.revision, "status": rating.status, "scores": rating.responses or {},
            "notes": rating.notes or "", "updated_at": rating.updated_at.isoformat() if rating.updated_at else None}


@dataclass
class RatingRow:
    """A rating as a coordinator sees it."""

    rating: Rating
    assignment: Assignment
    study: str
    dyad: str
    session: int
    unit: str
    scores: instruments.Scores | None = None
    problems: list[str] = field(default_factory=list)


def ratings_listed(status: str | None = None, rating_id: int | None = None,
                   study_ids: Collection[int] | None = None, study_id: int | None = None,
                   rater_id: int | None = None, instrument_key: str | None = None) -> Select:
    """The live ratings (of the given studies, by default of all), newest first; only those of ``status``,
    ``study_id``, ``rater_id`` and ``instrument_key`` where given: a query, for a list a page at a time."""
    # loaded by id afterwards (selectin), so that the database sorts narrow rows, not rows with instruments
    stmt = (select(Rating).where(Rating.live)
            .options(selectinload(Rating.assignment).selectinload(Assignment.rating_unit)
                     .selectinload(RatingUnit.session).selectinload(TherapySession.dyad).selectinload(Dyad.study),
                     selectinload(Rating.rater), selectinload(Rating.assignment).selectinload(Assignment.instrument))
            .order_by(Rating.updated_at.desc(), Rating.id.desc()))
    if status:
        stmt = stmt.where(Rating.status == status)
    if rating_id is not None:
        stmt = stmt.where(Rating.id == rating_id)
    if rater_id is not None:
        stmt = stmt.where(Rating.rater_id == rater_id)
    if instrument_key:
        stmt = stmt.where(Rating.assignment_id.in_(
            select(Assignment.id).join(Instrument, Assignment.instrument_id == Instrument.id)
            .where(Instrument.key == instrument_key)))
    if study_ids is not None:  # who may see which rating: every rating of the study, of deleted units too
        stmt = scope.in_study(stmt, Rating, study_ids, live=False)
    if study_id is not None:
        stmt = stmt.where(Rating.id.in_(scope.in_study(select(Rating.id), Rating, [study_id], live=False)))
    return stmt


def rating_rows(ratings: Collection[Rating]) -> list[RatingRow]:
    """The ratings as a coordinator sees them, with their scores."""
    rows = []
    for rating in ratings:
        a = rating.assignment
        session = a.rating_unit.session
        row = RatingRow(rating, a, session.dyad.study.name, session.dyad.code, session.number,
                        a.rating_unit.label or f"Unit {a.rating_unit.id}")
        try:
            row.scores = instruments.score(definition(a), rating.responses or {})
        except ValueError as exc:
            row.problems.append(str(exc))
        rows.append(row)
    return rows


def ratings_overview(db: Session, status: str | None = None, rating_id: int | None = None,
                     study_ids: Collection[int] | None = None) -> list[RatingRow]:
    """The live ratings (of the given studies, by default of all) with their scores, newest first."""
    return rating_rows(list(db.scalars(ratings_listed(status, rating_id, study_ids)).unique()))


def rating_filter_choices(db: Session, study_ids: Collection[int]) -> dict[str, list[tuple[Any, str]]]:
    """What the coordinator's list of ratings can be filtered by: ``studies`` (id, name), ``raters`` (id, name)
    and ``instruments`` (key, name) of the ratings of ``study_ids``, each sorted by name."""
    rated = scope.in_study(select(Rating.id), Rating, study_ids, live=False).where(Rating.live)
    studies = db.execute(select(Study.id, Study.name).where(Study.id.in_(study_ids), Study.live)
                         .order_by(Study.name)).all()
    raters = db.execute(select(User.id, User.display_name, User.username)
                        .where(User.id.in_(select(Rating.rater_id).where(Rating.id.in_(rated))))
                        .order_by(User.username)).all()
    keys = db.execute(select(Instrument.key, func.max(Instrument.name))
                      .join(Assignment, Assignment.instrument_id == Instrument.id)
                      .join(Rating, Rating.assignment_id == Assignment.id)
                      .where(Rating.id.in_(rated)).group_by(Instrument.key).order_by(Instrument.key)).all()
    return {"studies": [(i, n) for i, n in studies], "raters": [(i, d or u) for i, d, u in raters],
            "instruments": [(k, n) for k, n in keys]}
