"""De-identification of stored transcripts: the dyad's lists of people, candidate identifiers with a person's
decisions, the de-identified version and its anonymisation log, and what raters read and hear.

The computing is ``coder.pipeline.deidentify``; this module stores it (docs/deidentification.md):

- ``set_identifiers(db, dyad, lists, actor)``: the study's lists of the people to find in a dyad's transcripts
  (``{"Client": ["Maria", "Maria Lopez"], "Sister": ["Anna", "Beth|Bethany"]}``, the format ``deidentify.detect``
  takes). The audit trail records the roles and how many names each has, never the names.
- ``detect(db, transcript, actor)``: candidates found in the transcript's current revision, each pending a
  person's decision. Run again on the same revision (after the lists changed, say), it keeps the decisions made
  and the words a person added; run after the transcript was edited, it analyses the edited turns only
  (``deidentify.recheck``) and the candidates of the other turns keep their decisions.
- ``decide(db, transcript, candidate_id, accepted, actor)`` (``decide_all`` for every pending one) and
  ``add(db, transcript, turn, first, last, entity, actor)`` (words a person selected, accepted at once).
- ``apply(db, transcript, actor)``: refused while a candidate is pending (``Pending``); else the accepted
  candidates get pseudonyms from the dyad's mapping (extended and stored, so the next session of the dyad uses
  the same ones), the redacted segments are stored beside the original (which is never changed) and the
  anonymisation log is written afresh in its own table.
- ``state(db, transcript)``: what the review screen shows; ``log_rows`` and ``log_csv``: the log.
- ``shown_to_raters(study, transcript)`` and ``rater_mask(study, transcript)``: what a rater reads and hears
  under the study's settings (``set_rater_settings``). With ``text = "deidentified"`` a rater reads only the
  de-identified version, and nothing where none has been applied: never the original. With ``audio = "muted"``
  or ``"tone"`` a rater hears a listening copy with the log's spans masked, and nothing where no
  de-identification was applied.
- ``deidentified_document`` and ``write_exports``: the de-identified version in any export format.

Every change is audited. The review's state lives in one row per transcript (``Deidentification``); its
candidates are numbered within the transcript, and a candidate keeps its number through later detections. Decisions and added words refer to
the revision the candidates were found in: when the transcript has been edited since, they are refused until
``detect`` has been run again.
"""
from __future__ import annotations

import copy
import csv
import difflib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from coder.pipeline import deidentify, formats, interchange
from coder.pipeline.deidentify import Candidate, DeidentificationError
from coder.stats import sheetsafe
from coder.study import speakers
from coder.study import transcripts as review
from coder.study.audit import audit
from coder.study.models import (AnonymisationEntry, Deidentification, Dyad, Study, Transcript, TranscriptRevision,
                                User, utcnow)

TEXT_VIEWS = ("original", "deidentified")
AUDIO_VIEWS = ("original", "muted", "tone")
DECISIONS = ("pending", "accepted", "rejected")
SOURCES = ("detected", "added")
TOWN = "TOWN"  # ``add``'s entity for a town, city or country: a LOCATION with spaCy's label GPE ("[Town A]")
ADDED_RECOGNIZER = "reviewer"
LOG_COLUMNS = ("recording", "transcript", "revision", "turn", "first", "last", "start", "end", "original", "text",
               "pseudonym", "entity", "role", "recognizer", "applied_at")
_MASK_MODES = {"muted": "mute", "tone": "tone"}


class DeidError(ValueError):
    """A de-identification step that cannot be taken; the message says why."""
    status = 422


class Pending(DeidError):
    """``apply`` while candidates still wait for a decision; ``ids`` are theirs."""
    status = 409

    def __init__(self, ids: list[int]):
        self.ids = ids
        shown = ", ".join(map(str, ids[:20])) + (" ..." if len(ids) > 20 else "")
        super().__init__(f"{len(ids)} candidate(s) still pending ({shown}): accept or reject each before applying")


class Unavailable(DeidError):
    """Raters cannot be given this transcript or listening copy under the study's settings (nothing applied)."""
    status = 404


# --- the dyad's lists ---------------------------------------------------------------------------------------

def identifiers(dyad: Dyad) -> dict[str, list[str]]:
    """The dyad's lists: role -> names (empty when none were entered)."""
    return {role: list(names) for role, names in (dyad.identifiers or {}).items()}


def check_identifiers(lists: Any) -> dict[str, list[str]]:
    """``lists`` cleaned (roles and names stripped, empty names and roles without names dropped), or DeidError
    saying what does not fit: an object of roles, each with a list of names (a name alone is taken as a list)."""
    if not isinstance(lists, dict):
        raise DeidError('the lists must be an object of roles and names, e.g. {"Client": ["Maria"]}')
    out: dict[str, list[str]] = {}
    for role, names in lists.items():
        if isinstance(names, str):
            names = [names]
        if not isinstance(role, str) or not role.strip():
            raise DeidError(f"a role must be a word such as Client or Sister, not {role!r}")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DeidError(f"the names for {role} must be a list of strings")
        kept = [" ".join(n.split()) for n in names if n.strip()]
        if kept:
            out.setdefault(role.strip(), []).extend(k for k in kept if k not in out.get(role.strip(), []))
    try:
        deidentify.pseudonyms([], out)  # the pipeline's own check of the lists
    except DeidentificationError as exc:
        raise DeidError(str(exc)) from None
    return out


def set_identifiers(db: Session, dyad: Dyad, lists: Any, actor: User | None) -> dict[str, list[str]]:
    """Replace the dyad's lists (see ``check_identifiers``); audited with the roles and how many names each has
    (the names themselves stay out of the audit trail). Returns the lists stored. Detection uses them from its
    next run; pseudonyms already given keep their form."""
    cleaned = check_identifiers(lists)
    if cleaned != identifiers(dyad):
        audit(db, "set_identifiers", dyad, actor, before={r: len(n) for r, n in identifiers(dyad).items()},
              after={r: len(n) for r, n in cleaned.items()})
        dyad.identifiers = cleaned or None
        db.flush()
    return cleaned


def _dyad(transcript: Transcript) -> Dyad:
    return transcript.recording.session.dyad


# --- candidates -----------------------------------------------------------------------------------------------

def deidentification_of(db: Session, transcript: Transcript) -> Deidentification | None:
    """The transcript's de-identification row, or None before ``detect``."""
    return db.scalar(select(Deidentification).where(Deidentification.transcript_id == transcript.id))


def _candidate(entry: dict[str, Any]) -> Candidate:
    return Candidate.from_dict({k: entry[k] for k in Candidate.__dataclass_fields__ if k in entry})


def _entry(c: Candidate, ident: int, source: str = "detected", decision: str = "pending",
           decided_by: int | None = None, decided_at: str | None = None) -> dict[str, Any]:
    return {"id": ident, **c.to_dict(), "source": source, "decision": decision, "decided_by": decided_by,
            "decided_at": decided_at}


def _span(e: dict[str, Any] | Candidate) -> tuple[int, int, int]:
    return (e.turn, e.first, e.last) if isinstance(e, Candidate) else (e["turn"], e["first"], e["last"])


def _overlaps(a, b) -> bool:
    (ta, fa, la), (tb, fb, lb) = _span(a), _span(b)
    return ta == tb and fa <= lb and fb <= la


def _next_id(entries: list[dict[str, Any]], row: Deidentification | None) -> int:
    used = [e["id"] for e in entries] + [e["id"] for e in (row.candidates if row else [])]
    return max(used, default=0) + 1


def _segments_at(db: Session, transcript: Transcript, number: int) -> list[dict[str, Any]]:
    if number == transcript.revision:
        return list(transcript.segments or [])
    row = db.scalar(select(TranscriptRevision).where(TranscriptRevision.transcript_id == transcript.id,
                                                     TranscriptRevision.number == number))
    if row is None:
        raise DeidError(f"the transcript has no revision {number} to compare with; detect afresh")
    return list(row.segments or [])


def _turn_key(seg: dict[str, Any]) -> tuple:
    return seg.get("speaker"), " ".join(str(seg.get("text", "")).split())


def _turn_pairs(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> tuple[dict[int, int], dict[int, int]]:
    """Turns of ``before`` -> turns of ``after``, matched as ``deidentify.recheck`` matches them: the unchanged
    turns, and the edited ones paired in place within a replaced stretch."""
    same, edited = {}, {}
    matcher = difflib.SequenceMatcher(a=[_turn_key(s) for s in before], b=[_turn_key(s) for s in after],
                                      autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        for k in range(min(a1 - a0, b1 - b0)):
            (same if op == "equal" else edited)[a0 + k] = b0 + k
    return same, edited


def _words_read(segment: dict[str, Any], first: int, last: int) -> str:
    words = segment.get("words") or []
    return " ".join(str(w.get("text", "")).strip() for w in words[first:last + 1])


def _still_reads(segments: list[dict[str, Any]], e: dict[str, Any]) -> bool:
    """Whether the candidate's words, in its turn of ``segments``, still hold its text."""
    if not 0 <= e["turn"] < len(segments) or e["last"] >= len(segments[e["turn"]].get("words") or []):
        return False
    read = _words_read(segments[e["turn"]], e["first"], e["last"]).casefold()
    return e["text"].casefold() in read


@dataclass
class Detection:
    """What ``detect`` did: the stored row, the turns analysed (all of them on a first run), and how many
    candidates are new (pending) and how many kept a decision."""
    deidentification: Deidentification
    analysed: list[int]
    new: int
    kept: int


def detect(db: Session, transcript: Transcript, actor: User | None, *, model: str | None = None) -> Detection:
    """Find the candidate identifiers of the transcript's current revision with the dyad's lists and store them,
    keeping the decisions already made (see the module's docstring); audited. Raises DeidError when the spaCy
    pipeline cannot be loaded."""
    segments = list(transcript.segments or [])
    people = identifiers(_dyad(transcript))
    row = deidentification_of(db, transcript)
    old = list(row.candidates) if row is not None else []
    try:
        if row is not None and row.revision != transcript.revision:
            before = _segments_at(db, transcript, row.revision)
            fresh, analysed = deidentify.recheck(before, segments, [_candidate(e) for e in old], people, model=model)
            same, edited = _turn_pairs(before, segments)
        else:
            fresh, analysed = deidentify.detect(segments, people, model=model), list(range(len(segments)))
            same, edited = {i: i for i in range(len(segments))}, {}
    except DeidentificationError as exc:
        raise DeidError(str(exc)) from None
    # the earlier candidates, moved to their turn now: those of unchanged turns as they were, those of edited
    # turns only to carry a decision onto a candidate found there again with the same words
    moved, in_edited = [], []
    for e in old:
        if e["turn"] in same and same[e["turn"]] not in analysed:
            moved.append({**e, "turn": same[e["turn"]]})
        elif e["turn"] in same or e["turn"] in edited:
            in_edited.append({**e, "turn": same.get(e["turn"], edited.get(e["turn"]))})
    entries: list[dict[str, Any]] = []
    by_span = {_span(e): e for e in moved}
    for c in fresh:
        if c.turn not in analysed:  # an unchanged turn's candidate, moved by recheck: the stored one, with new times
            e = by_span.pop(_span(c), None)
            if e is not None:
                entries.append({**e, "start": c.start, "end": c.end})
            continue
        match = by_span.pop(_span(c), None) or next(
            (e for e in in_edited if _span(e) == _span(c) and deidentify.surface_key(e["text"])
             == deidentify.surface_key(c.text)), None)
        if match is not None and (match["source"] == "added" or match["decision"] != "pending"):
            entries.append({**match, **c.to_dict(), "id": match["id"]})
        elif any(_overlaps(c, e) and (e["source"] == "added" or e["decision"] != "pending")
                 and _still_reads(segments, e) for e in in_edited):
            continue  # a person decided on words overlapping these, which still read the same: the decision stands
        else:
            entries.append(_entry(c, match["id"] if match else 0))
    # what a person decided or added stays where it was not found again, in a turn not analysed again, or in an
    # analysed turn whose words there still read the same (and no candidate kept now shares them)
    for e in by_span.values():
        if e["source"] == "added" or e["decision"] != "pending":
            entries.append(e)
    for e in in_edited:
        if (e["source"] == "added" or e["decision"] != "pending") and not any(x["id"] == e["id"] for x in entries) \
                and _still_reads(segments, e) and not any(_overlaps(e, x) for x in entries):
            words = segments[e["turn"]]["words"]
            entries.append({**e, "start": float(words[e["first"]]["start"]), "end": float(words[e["last"]]["end"])})
    new = 0
    for e in entries:
        if not e["id"]:
            e["id"] = _next_id(entries, row)
            new += 1
    kept = sum(1 for e in entries if e["decision"] != "pending")
    entries.sort(key=lambda e: (e["turn"], e["first"], e["id"]))
    now = utcnow()
    if row is None:
        row = Deidentification(transcript=transcript, revision=transcript.revision, candidates=entries,
                               status="detected", created_by=actor.id if actor else None, created_at=now,
                               updated_at=now)
        db.add(row)
        db.flush()
    elif entries != old or row.revision != transcript.revision:
        row.candidates, row.revision, row.status, row.updated_at = entries, transcript.revision, "detected", now
    db.flush()
    audit(db, "detect_identifiers", row, actor, revision=transcript.revision, turns=len(analysed),
          candidates=len(entries), new=new, kept=kept)
    return Detection(row, analysed, new, kept)


def _current(db: Session, transcript: Transcript) -> Deidentification:
    """The transcript's de-identification, refused when there is none or the transcript changed since."""
    row = deidentification_of(db, transcript)
    if row is None:
        raise DeidError("no candidates yet: detect the identifiers first")
    if row.revision != transcript.revision:
        raise DeidError(f"the transcript was edited since the identifiers were detected (revision {row.revision}, "
                        f"now {transcript.revision}): detect again, which re-checks the edited turns")
    return row


def _store(row: Deidentification, entries: list[dict[str, Any]]) -> None:
    row.candidates = sorted(entries, key=lambda e: (e["turn"], e["first"], e["id"]))
    row.status = "detected"
    row.updated_at = utcnow()


def decide(db: Session, transcript: Transcript, candidate_id: int, accepted: bool,
           actor: User | None) -> dict[str, Any]:
    """Accept (it will be replaced by its pseudonym) or reject (it stays) one candidate; audited. Returns it."""
    row = _current(db, transcript)
    entries = [dict(e) for e in row.candidates]
    entry = next((e for e in entries if e["id"] == candidate_id), None)
    if entry is None:
        raise DeidError(f"no candidate {candidate_id} in this transcript")
    decision = "accepted" if accepted else "rejected"
    if accepted:
        clash = [e["id"] for e in entries if e is not entry and e["decision"] == "accepted" and _overlaps(e, entry)]
        if clash:
            raise DeidError(f"candidate {candidate_id} shares words with accepted candidate "
                            f"{', '.join(map(str, clash))}: reject that one first")
    if entry["decision"] != decision:
        audit(db, "decide_identifier", row, actor, candidate=candidate_id, before=entry["decision"], after=decision,
              type=entry["entity"], turn=entry["turn"])
        entry.update(decision=decision, decided_by=actor.id if actor else None, decided_at=utcnow().isoformat())
        _store(row, entries)
        db.flush()
    return entry


def decide_all(db: Session, transcript: Transcript, accepted: bool, actor: User | None) -> int:
    """Accept or reject every pending candidate (accepting skips those sharing words with one accepted before
    them, which stay pending); how many were decided."""
    row = _current(db, transcript)
    n = 0
    for e in list(row.candidates):
        if e["decision"] == "pending":
            try:
                decide(db, transcript, e["id"], accepted, actor)
                n += 1
            except DeidError:
                continue
    return n


_OUTER = re.compile(r"^[^\w@+]+|[^\w]+$")


def add(db: Session, transcript: Transcript, turn: int, first: int, last: int, entity: str, actor: User | None, *,
        role: str | None = None, person: str | None = None) -> dict[str, Any]:
    """Words ``first``..``last`` of turn ``turn`` that a person selected as an identifier the detection missed,
    stored as an accepted candidate of type ``entity`` (one of ``deidentify.ENTITIES``, or ``TOWN`` for a town,
    city or country). ``person`` names someone on the dyad's lists (any form of their name) or another
    candidate's text, to give these words that pseudonym ("Mr Price" as "Jonathan Price"); ``role`` is kept
    with it. Candidates sharing words with it are rejected in its favour. Audited; returns the new candidate."""
    row = _current(db, transcript)
    segments = transcript.segments or []
    label = None
    if entity == TOWN:
        entity, label = "LOCATION", "GPE"
    if entity not in deidentify.ENTITIES:
        raise DeidError(f"the type must be one of {', '.join((*deidentify.ENTITIES, TOWN))}, not {entity!r}")
    if not 0 <= turn < len(segments):
        raise DeidError(f"no turn {turn} (the transcript has {len(segments)})")
    words = segments[turn].get("words") or []
    if not 0 <= first <= last < len(words):
        raise DeidError(f"turn {turn} has no words {first}–{last} (it has {len(words)}, numbered from 0)")
    text = re.sub(r"['’]s$", "", _OUTER.sub("", _words_read(segments[turn], first, last)))
    if not text:
        raise DeidError(f"words {first}–{last} of turn {turn} hold no text")
    if person is not None:
        known = {deidentify.surface_key(f) for names in identifiers(_dyad(transcript)).values() for n in names
                 for f in n.split(deidentify.ALIAS_SEPARATOR)}
        known |= {deidentify.surface_key(e["text"]) for e in row.candidates}
        if deidentify.surface_key(person) not in known:
            raise DeidError(f"{person!r} is neither on the dyad's lists nor a candidate's text")
    c = Candidate(turn=turn, first=first, last=last, start=float(words[first]["start"]),
                  end=float(words[last]["end"]), text=text, entity=entity, score=1.0, recognizer=ADDED_RECOGNIZER,
                  role=role, person=person, label=label)
    entries = [dict(e) for e in row.candidates]
    now = utcnow().isoformat()
    superseded = []
    for e in entries:
        if _overlaps(e, c) and e["decision"] != "rejected":
            e.update(decision="rejected", decided_by=actor.id if actor else None, decided_at=now)
            superseded.append(e["id"])
    entry = _entry(c, _next_id(entries, row), "added", "accepted", actor.id if actor else None, now)
    entries.append(entry)
    _store(row, entries)
    db.flush()
    audit(db, "add_identifier", row, actor, candidate=entry["id"], type=entity, turn=turn, first=first, last=last,
          superseded=superseded)
    return entry


# --- applying -------------------------------------------------------------------------------------------------

def apply(db: Session, transcript: Transcript, actor: User | None) -> Deidentification:
    """Make and store the de-identified version: refused (``Pending``) while a candidate is pending, and
    (DeidError) when the transcript was edited since detection. The accepted candidates get pseudonyms from the
    dyad's mapping, extended and stored; the redacted segments are stored in the row (the original revision is
    not touched); the anonymisation log is written afresh. Audited with counts only."""
    row = _current(db, transcript)
    pending = [e["id"] for e in row.candidates if e["decision"] == "pending"]
    if pending:
        raise Pending(pending)
    dyad = _dyad(transcript)
    accepted = [_candidate(e) for e in row.candidates if e["decision"] == "accepted"]
    try:
        mapping = deidentify.pseudonyms(accepted, identifiers(dyad), dyad.pseudonyms or {})
        redacted, log = deidentify.redact(transcript.segments or [], accepted, mapping)
    except DeidentificationError as exc:
        raise DeidError(str(exc)) from None
    if mapping != (dyad.pseudonyms or {}):
        dyad.pseudonyms = mapping
    now = utcnow()
    db.execute(delete(AnonymisationEntry).where(AnonymisationEntry.deidentification_id == row.id))
    db.add_all(AnonymisationEntry(deidentification_id=row.id, revision=transcript.revision, turn=e["turn"],
                                  first_word=e["first"], last_word=e["last"], start_s=e["start"], end_s=e["end"],
                                  original=e["original"], text=e["text"], pseudonym=e["pseudonym"],
                                  entity=e["entity"], role=e["role"], recognizer=e["recognizer"] or "",
                                  created_at=now) for e in log)
    row.segments, row.applied_revision, row.status = redacted, transcript.revision, "applied"
    row.applied_by, row.applied_at, row.updated_at = (actor.id if actor else None), now, now
    db.flush()
    db.expire(row, ["log"])
    audit(db, "apply_deidentification", row, actor, revision=transcript.revision, replaced=len(log),
          rejected=sum(1 for e in row.candidates if e["decision"] == "rejected"))
    return row


# --- reading ----------------------------------------------------------------------------------------------

def state(db: Session, transcript: Transcript) -> dict[str, Any]:
    """What the review screen shows, JSON-ready:

    ``status`` (none | detected | applied), ``revision`` (the transcript revision the candidates belong to),
    ``current_revision``, ``stale`` (edited since detection: detect again), ``applied_revision`` and
    ``applied_at`` (the de-identified version raters read, if any), ``counts`` of pending, accepted and rejected,
    ``people`` (the dyad's lists), and ``candidates``: each with ``id``, ``turn``, ``first``, ``last`` (word
    indices in the revision), ``start``, ``end`` (seconds, for playing the audio at the word), ``text``,
    ``entity``, ``label``, ``score``, ``recognizer``, ``role``, ``person``, ``source`` (detected | added),
    ``decision``, and ``pseudonym``: what it would become if applied now (None for a rejected one)."""
    row = deidentification_of(db, transcript)
    dyad = _dyad(transcript)
    out: dict[str, Any] = {"transcript": transcript.id, "status": "none", "revision": None,
                           "current_revision": transcript.revision, "stale": False, "applied_revision": None,
                           "applied_at": None, "counts": dict.fromkeys(DECISIONS, 0), "people": identifiers(dyad),
                           "candidates": []}
    if row is None:
        return out
    kept = [_candidate(e) for e in row.candidates if e["decision"] != "rejected"]
    try:
        mapping = deidentify.pseudonyms(kept, identifiers(dyad), dyad.pseudonyms or {})
    except DeidentificationError:
        mapping = dict(dyad.pseudonyms or {})
    candidates = []
    for e in row.candidates:
        out["counts"][e["decision"]] += 1
        pseudonym = None if e["decision"] == "rejected" else mapping.get(deidentify.surface_key(e["text"]))
        candidates.append({k: e.get(k) for k in ("id", "turn", "first", "last", "start", "end", "text", "entity",
                                                 "label", "score", "recognizer", "role", "person", "source",
                                                 "decision")} | {"pseudonym": pseudonym})
    out.update(status=row.status, revision=row.revision, stale=row.revision != transcript.revision,
               applied_revision=row.applied_revision,
               applied_at=row.applied_at.isoformat() if row.applied_at else None, candidates=candidates)
    return out


def log_rows(db: Session, transcript: Transcript) -> list[AnonymisationEntry]:
    """The anonymisation log of the transcript's applied de-identification, in turn and word order (empty before
    it is applied)."""
    return list(db.scalars(select(AnonymisationEntry).join(Deidentification)
                           .where(Deidentification.transcript_id == transcript.id)
                           .order_by(AnonymisationEntry.turn, AnonymisationEntry.first_word)))


def log_csv(db: Session, transcript: Transcript) -> str:
    """The anonymisation log as CSV (``LOG_COLUMNS``). It holds the original words: keep it with the originals,
    never with the de-identified exports."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LOG_COLUMNS)
    row = deidentification_of(db, transcript)
    for e in log_rows(db, transcript):
        writer.writerow(sheetsafe.row([transcript.recording_id, transcript.id, e.revision, e.turn, e.first_word,
                                       e.last_word, f"{e.start_s:.3f}", f"{e.end_s:.3f}", e.original, e.text,
                                       e.pseudonym, e.entity, e.role or "", e.recognizer,
                                       row.applied_at.isoformat() if row and row.applied_at else ""]))
    return out.getvalue()


# --- what raters read and hear ----------------------------------------------------------------------------

def rater_settings(study: Study) -> dict[str, str]:
    """What the study's raters read (``text``: original | deidentified) and hear (``audio``: original | muted |
    tone); both original unless the study chose otherwise."""
    chosen = (study.settings or {}).get("deidentification") or {}
    text, sound = chosen.get("text", "original"), chosen.get("audio", "original")
    return {"text": text if text in TEXT_VIEWS else "deidentified",  # an unreadable setting errs on the safe side
            "audio": sound if sound in AUDIO_VIEWS else "muted"}


def set_rater_settings(db: Session, study: Study, actor: User | None, *, text: str | None = None,
                       audio: str | None = None) -> dict[str, str]:
    """Choose what the study's raters read and hear (None leaves a setting as it is); audited. Returns them."""
    if text is not None and text not in TEXT_VIEWS:
        raise DeidError(f"raters read {' or '.join(TEXT_VIEWS)} transcripts, not {text!r}")
    if audio is not None and audio not in AUDIO_VIEWS:
        raise DeidError(f"raters hear {', '.join(AUDIO_VIEWS)} audio, not {audio!r}")
    before = rater_settings(study)
    after = {"text": text or before["text"], "audio": audio or before["audio"]}
    if after != before or "deidentification" not in (study.settings or {}):
        audit(db, "settings", study, actor, before={"deidentification": before}, after={"deidentification": after})
        study.settings = {**(study.settings or {}), "deidentification": after}
        db.flush()
    return after


@dataclass(frozen=True)
class Shown:
    """The transcript a rater reads: its ``segments`` (the de-identified version, where ``deidentified``), the
    ``revision`` they were made from, and the stored ``transcript`` (for its speakers' roles)."""
    transcript: Transcript
    segments: list[dict[str, Any]]
    revision: int
    deidentified: bool


def shown_to_raters(study: Study, transcript: Transcript | None) -> Shown | None:
    """What a rater reads of ``transcript``: None where the study shows no transcript
    (``coder.study.transcripts.shown_to_raters``) and, when the study's raters read de-identified transcripts,
    where none has been applied; else the original's current revision or the last applied de-identified
    version (made from the revision it names; re-apply after an edit to show the edit)."""
    allowed = review.shown_to_raters(study, transcript)
    if allowed is None:
        return None
    if rater_settings(study)["text"] == "original":
        return Shown(allowed, list(allowed.segments or []), allowed.revision, False)
    row = allowed.deidentification
    if row is None or row.segments is None or row.applied_revision is None:
        return None
    return Shown(allowed, list(row.segments), row.applied_revision, True)


@dataclass(frozen=True)
class Mask:
    """How a rater's listening copy is masked: ``mode`` (``deidentify.mask_audio``'s mute or tone) over
    ``spans`` (seconds of the recording, padded and merged)."""
    mode: str
    spans: tuple[tuple[float, float], ...]


def rater_mask(study: Study, transcript: Transcript | None) -> Mask | None:
    """The mask of a rater's listening copy: None where the study's raters hear the recording as it is; else the
    spans of the applied de-identification's log. Unavailable where the study masks audio and the recording has
    no applied de-identification: a rater then gets no audio rather than the original."""
    chosen = rater_settings(study)["audio"]
    if chosen == "original":
        return None
    row = transcript.deidentification if transcript is not None else None
    if row is None or row.applied_revision is None:
        raise Unavailable("the recording's identifiers have not been removed yet (de-identification not applied)")
    spans = deidentify.muted_spans([{"start": e.start_s, "end": e.end_s} for e in row.log])
    return Mask(_MASK_MODES[chosen], tuple(spans))


# --- exports ----------------------------------------------------------------------------------------------

def deidentified_document(transcript: Transcript) -> dict[str, Any]:
    """The transcribe contract's document of the transcript's de-identified version: its redacted segments; the
    speakers by role only (display names left out); no file name or path of the recording (they may name
    someone) and no diarisation source; ``deidentification`` says which revision it was made from and when.
    DeidError when none has been applied."""
    row = transcript.deidentification
    if row is None or row.segments is None or row.applied_revision is None:
        raise DeidError(f"recording {transcript.recording_id}: no de-identified version (apply the "
                        f"de-identification first)")
    doc = speakers.transcript_document(transcript)
    doc["audio"] = speakers.export_stem(transcript)
    doc["speakers"] = {label: {k: v for k, v in info.items() if k != "name"} for label, info in doc["speakers"].items()}
    doc["segments"] = copy.deepcopy(row.segments)
    doc["review"] = {"status": transcript.status, "revision": row.applied_revision}
    doc["diarization"] = None
    doc["deidentification"] = {"revision": row.applied_revision,
                               "applied_at": row.applied_at.isoformat() if row.applied_at else None,
                               "replaced": len(row.log)}
    return doc


def export_stem(transcript: Transcript) -> str:
    return f"recording-{transcript.recording_id}.deidentified"


def write_exports(transcript: Transcript, out_dir: Path,
                  fmts: tuple[str, ...] = formats.FORMATS) -> dict[str, Path]:
    """The de-identified version as OUT_DIR/recording-ID.deidentified.EXT in ``fmts`` (``interchange.EXPORTS``);
    DeidError when none has been applied. The anonymisation log is never written with it (``log_csv``)."""
    return interchange.write(deidentified_document(transcript), Path(out_dir), export_stem(transcript), fmts,
                             title=f"Recording {transcript.recording_id} (de-identified)")
