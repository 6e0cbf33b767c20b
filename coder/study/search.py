"""Searching a study's transcripts: words, phrases and prefixes, by speaker or role, with or without diacritics.

The database searches, not Python: every transcript's turns are rows of ``transcript_turns``
(``coder.study.models.TranscriptTurn``, kept in step with the transcript by mapper events), indexed for full-text
search by migration 0013: SQLite's FTS5 (tokenizer ``unicode61``; ``transcript_turns_fts`` folds diacritics,
``transcript_turns_fts_exact`` keeps them) and PostgreSQL's ``tsvector`` (configuration ``simple``, diacritics
folded by ``translate()``, a GIN index; ``models.SEARCH_VECTOR``). Only each recording's current transcript
(``Recording.transcript``) of live recordings, sessions, dyads and the study itself is searched.

A query is words (all must occur in the turn), "quoted phrases" (in that order) and prefixes (``home*``),
matched without regard to case and, unless ``exact_diacritics``, to diacritics ("cafe" finds "café"). Only the
letters and digits of a query reach the database, each term quoted, so no query is a syntax error there; a
query that cannot be read (an unclosed quotation mark, no words) raises ``SearchError``.

Hits come in the order of dyad, session, recording and time, a page at a time, each with its turn's text cut
to a snippet around the matched words (``Hit.fragments``: text and whether it matched, marked here from the
turn the database returned). ``reindex`` writes the turns again (``coder search reindex``); ``make_units``
turns hits into rating units with ``coder.study.units``, as ``coder units add --find`` does.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from coder.study import scope, units
from coder.study.models import (ROLES, Dyad, Recording, Speaker, Study, TherapySession, Transcript, TranscriptTurn,
                                User, fold_sql, index_turns, SEARCH_VECTOR)

TOKEN = re.compile(r"[^\W_]+")  # what a query's terms are made of: letters and digits
MAX_QUERY = 500
MAX_TERMS = 16
MAX_LIMIT = 500
SNIPPET = 240  # characters of a long turn shown around its first match


class SearchError(ValueError):
    """A query that cannot be run; the message says why."""
    status = 400


@dataclass(frozen=True)
class Term:
    kind: str  # word | phrase | prefix (the last token is a prefix)
    tokens: tuple[str, ...]

    def __str__(self) -> str:
        words = " ".join(self.tokens)
        return (f'"{words}"' if len(self.tokens) > 1 else words) + ("*" if self.kind == "prefix" else "")


def fold(word: str, exact: bool = False) -> str:
    """A word as the search compares it: case folded and, unless ``exact``, without diacritics."""
    word = unicodedata.normalize("NFC", word)
    if not exact:
        word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word.casefold()


def parse(query: str) -> list[Term]:
    """The terms of a query: ``word``, ``"a phrase"``, ``prefix*`` (also ``"a phr"*``). A word with inner
    punctuation ("don't", "follow-up") is the phrase of its parts. SearchError for what cannot be read."""
    query = unicodedata.normalize("NFC", query or "").strip()
    if len(query) > MAX_QUERY:
        raise SearchError(f"the query is longer than {MAX_QUERY} characters")
    if query.count('"') % 2:
        raise SearchError('a quotation mark is not closed: put phrases in "double quotes"')
    terms = []
    for m in re.finditer(r'"([^"]*)"(\*?)|([^\s"]+)', query):
        chunk = m.group(1) if m.group(1) is not None else m.group(3)
        prefix = bool(m.group(2)) or (m.group(3) is not None and m.group(3).endswith("*"))
        tokens = tuple(t.lower() for t in TOKEN.findall(chunk))
        if not tokens:
            continue
        if prefix and len(tokens[-1]) < 2:
            raise SearchError(f"a prefix needs at least two letters before the *: {chunk!r}")
        terms.append(Term("prefix" if prefix else ("phrase" if len(tokens) > 1 else "word"), tokens))
    if not terms:
        raise SearchError("give a word or phrase to search for")
    if len(terms) > MAX_TERMS:
        raise SearchError(f"a query has at most {MAX_TERMS} terms")
    return terms


def fts5_query(terms: Sequence[Term]) -> str:
    """SQLite FTS5's query: each term quoted (its tokens are letters and digits), all of them required."""
    return " ".join(f'"{" ".join(t.tokens)}"' + (" *" if t.kind == "prefix" else "") for t in terms)


def tsquery(terms: Sequence[Term]) -> str:
    """PostgreSQL's ``to_tsquery`` input: phrases as ``<->``, prefixes as ``:*``, terms joined by ``&``."""
    parts = []
    for t in terms:
        quoted = [f"'{token}'" for token in t.tokens]
        if t.kind == "prefix":
            quoted[-1] += ":*"
        parts.append(" <-> ".join(quoted) if len(quoted) == 1 else "(" + " <-> ".join(quoted) + ")")
    return " & ".join(parts)


def matches(db: Session, terms: Sequence[Term], exact: bool):
    """The SQL condition on ``transcript_turns`` that the full-text index answers."""
    dialect = db.get_bind().dialect.name
    if dialect == "sqlite":
        table = "transcript_turns_fts_exact" if exact else "transcript_turns_fts"
        return text(f"transcript_turns.id IN (SELECT rowid FROM {table} WHERE {table} MATCH :fts)").bindparams(
            fts=fts5_query(terms))
    if dialect == "postgresql":
        condition = f"{SEARCH_VECTOR} @@ to_tsquery('simple'::regconfig, {fold_sql(':tsq')})"
        if exact:  # the index finds the turns without diacritics; these keep the turns that match with them
            condition += " AND to_tsvector('simple'::regconfig, transcript_turns.text) @@ " \
                         "to_tsquery('simple'::regconfig, :tsq)"
        return text(condition).bindparams(tsq=tsquery(terms))
    raise SearchError(f"searching transcripts needs SQLite or PostgreSQL, not {dialect}")


@dataclass
class Hit:
    turn_id: int
    transcript_id: int
    turn: int
    start_s: float
    end_s: float
    speaker: str | None
    speaker_name: str | None
    role: str | None
    text: str
    recording_id: int
    recording_name: str
    session_id: int
    session_number: int
    time_point: str | None
    dyad_code: str
    fragments: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def who(self) -> str:
        """The speaker as pages show it: the display name, else the role, else the label."""
        return self.speaker_name or (self.role.capitalize() if self.role else (self.speaker or "?"))


@dataclass
class Results:
    query: str
    terms: list[Term]
    hits: list[Hit]
    total: int
    limit: int
    offset: int

    @property
    def more(self) -> bool:
        return self.offset + len(self.hits) < self.total


def _spans(turn_text: str, terms: Sequence[Term], exact: bool) -> list[tuple[int, int]]:
    """Where the terms match in a turn's text: (start, end) character spans, in order."""
    tokens = [(m.start(), m.end(), fold(m.group(), exact)) for m in TOKEN.finditer(turn_text)]
    spans = []
    for term in terms:
        wanted = [fold(t, exact) for t in term.tokens]
        n = len(wanted)
        for i in range(len(tokens) - n + 1):
            window = tokens[i:i + n]
            if all(w[2] == t for w, t in zip(window[:-1], wanted[:-1])) and (
                    window[-1][2].startswith(wanted[-1]) if term.kind == "prefix" else window[-1][2] == wanted[-1]):
                spans.append((window[0][0], window[-1][1]))
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def mark(turn_text: str, terms: Sequence[Term], exact: bool = False, width: int = SNIPPET) -> list[tuple[str, bool]]:
    """The turn's text in fragments (text, whether it matched), cut to about ``width`` characters around the
    first match where it is longer (with "…" where it was cut)."""
    turn_text = unicodedata.normalize("NFC", turn_text)
    spans = _spans(turn_text, terms, exact)
    lo, hi = 0, len(turn_text)
    if hi > width:
        first = spans[0][0] if spans else 0
        lo = max(0, first - width // 3)
        lo = turn_text.rfind(" ", 0, lo) + 1 if lo else 0
        hi = min(len(turn_text), lo + width)
        if hi < len(turn_text):
            space = turn_text.find(" ", hi)
            hi = len(turn_text) if space < 0 else space
    out: list[tuple[str, bool]] = [("…", False)] if lo > 0 else []
    at = lo
    for a, b in spans:
        if b <= lo or a >= hi:
            continue
        a, b = max(a, lo), min(b, hi)
        if a > at:
            out.append((turn_text[at:a], False))
        out.append((turn_text[a:b], True))
        at = b
    if at < hi:
        out.append((turn_text[at:hi], False))
    if hi < len(turn_text):
        out.append(("…", False))
    return out


def _turns(study: Study | int):
    """The study's turns (of live rows), with the columns of a ``Hit``."""
    stmt = (select(TranscriptTurn.id, TranscriptTurn.transcript_id, TranscriptTurn.turn, TranscriptTurn.start_s,
                   TranscriptTurn.end_s, TranscriptTurn.speaker, Speaker.name, TranscriptTurn.role,
                   TranscriptTurn.text, Recording.id, Recording.original_name, TherapySession.id,
                   TherapySession.number, TherapySession.time_point, Dyad.code)
            .select_from(TranscriptTurn))
    stmt = scope.in_study(stmt, TranscriptTurn, study)
    return stmt.outerjoin(Speaker, and_(Speaker.transcript_id == TranscriptTurn.transcript_id,
                                        Speaker.label == TranscriptTurn.speaker))


def _statement(db: Session, study: Study | int, terms: Sequence[Term], exact: bool, role: str | None,
               speaker: str | None):
    current = aliased(Transcript)
    latest = (select(current.id).where(current.recording_id == Transcript.recording_id)
              .order_by(current.created_at.desc(), current.id.desc()).limit(1).scalar_subquery())
    stmt = _turns(study).where(Transcript.id == latest, matches(db, terms, exact))
    if role:
        if role not in ROLES:
            raise SearchError(f"role must be one of {', '.join(ROLES)}")
        stmt = stmt.where(TranscriptTurn.role == role)
    if speaker:
        stmt = stmt.where(or_(TranscriptTurn.speaker == speaker.strip(),
                              func.lower(Speaker.name) == speaker.strip().lower()))  # the label or display name
    return stmt


def search(db: Session, study: Study | int, query: str, *, role: str | None = None, speaker: str | None = None,
           exact_diacritics: bool = False, limit: int = 50, offset: int = 0) -> Results:
    """The turns of the study's transcripts that match ``query``, a page (``limit`` from ``offset``) in the
    order of dyad, session and time, and how many there are in all."""
    terms = parse(query)
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, int(offset))
    stmt = _statement(db, study, terms, exact_diacritics, role, speaker)
    try:
        total = db.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = db.execute(stmt.order_by(Dyad.code, TherapySession.number, Recording.id, TranscriptTurn.start_s,
                                        TranscriptTurn.turn).limit(limit).offset(offset)).all()
    except DBAPIError as exc:  # not expected: the query reaches the database quoted
        raise SearchError(f"the search could not be run ({exc.orig})") from None
    hits = [Hit(*row, fragments=mark(row[8], terms, exact_diacritics)) for row in rows]
    return Results(query, terms, hits, total or 0, limit, offset)


def hits_by_turn(db: Session, study: Study | int, turn_ids: Iterable[int]) -> list[Hit]:
    """The study's turns with these ids (the hits a page sent back), as hits without marks."""
    ids = sorted({int(i) for i in turn_ids})
    if not ids:
        return []
    stmt = _turns(study).where(TranscriptTurn.id.in_(ids))
    return [Hit(*row) for row in db.execute(stmt.order_by(Recording.id, TranscriptTurn.start_s))]


def make_units(db: Session, hits: Sequence[Hit], before_s: float, after_s: float, actor: User | None,
               instrument_keys: list[str] | None = None, calibration: bool = False,
               label: str = "") -> tuple[list, list[str]]:
    """Rating units around the hits, ``before_s`` seconds before each and ``after_s`` after it, overlapping
    stretches of a recording merged (``coder.study.units.plan`` with ``hits``, stored by ``units.add``,
    audited). The units made, and for each recording that could not have them, why."""
    if before_s < 0 or after_s < 0:
        raise SearchError("the seconds before and after a hit cannot be negative")
    by_recording: dict[int, list[tuple[float, float, str]]] = {}
    for hit in hits:
        by_recording.setdefault(hit.recording_id, []).append((hit.start_s, hit.end_s, hit.text))
    made, skipped = [], []
    for recording_id, stretches in sorted(by_recording.items()):
        recording = db.get(Recording, recording_id)
        try:
            spans = units.plan(recording, "hits", context_s=after_s, hits=stretches, before_s=before_s,
                               label=label)
        except ValueError as exc:
            skipped.append(f"{recording.original_name}: {exc}")
            continue
        made += units.add(db, recording, spans, actor, instrument_keys, calibration=calibration)
    return made, skipped


def reindex(db: Session, transcript: Transcript | None = None, study: Study | int | None = None) -> tuple[int, int]:
    """Write the turns of one transcript, of a study's transcripts, or (neither given) of every transcript
    again, and on SQLite rebuild the FTS5 tables of a full reindex; (transcripts, turns) written."""
    if transcript is not None:
        db.flush()
        return 1, index_turns(db.connection(), transcript.id, transcript.segments)
    stmt = select(Transcript.id).order_by(Transcript.id)
    if study is not None:
        stmt = scope.in_study(stmt, Transcript, study, live=False)
    db.flush()
    connection = db.connection()
    count = turns = 0
    for transcript_id in list(db.scalars(stmt)):
        segments = connection.execute(select(Transcript.segments).where(Transcript.id == transcript_id)).scalar()
        turns += index_turns(connection, transcript_id, segments)
        count += 1
    if study is None and connection.dialect.name == "sqlite":
        for table in ("transcript_turns_fts", "transcript_turns_fts_exact"):
            connection.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('rebuild')")
    return count, turns
