"""The study data model.

study → therapist, client → dyad → session → recording → transcript (speakers)
recording → rating unit; instrument; user (rater or coordinator);
assignment (rater × rating unit × instrument) → rating; consensus rating (rating unit × instrument);
client → client variables (outcomes, covariates); study → analyses; audit events.

Integrity lives in the database, not only in Python: a rating references its
assignment together with the assignment's rater, so a rating by anyone but
the assigned rater cannot be stored; a dyad's therapist and client must be of
the dyad's study; ratings block hard deletes (ON DELETE RESTRICT) so that
rows with ratings under them can only be soft-deleted (``deleted_at``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Connection, Date, DateTime, Float, ForeignKey,
                        ForeignKeyConstraint, Integer, MetaData, String, Text, TypeDecorator, UniqueConstraint, event,
                        false, inspect, select)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("therapist", "client")
USER_ROLES = ("coordinator", "rater", "transcriber")
UNIT_KINDS = ("whole_session", "fixed_window", "custom")
RATING_STATUSES = ("draft", "submitted")
RATING_SOURCES = ("form", "import")
TRANSCRIPT_STATUSES = ("automatic", "in_review", "verified")
RECORDING_STATUSES = ("registered", "queued", "transcribing", "retrying", "transcribed", "failed", "cancelled")
DESIGN_KINDS = ("crossed", "overlap", "calibration")
DEIDENTIFICATION_STATUSES = ("detected", "applied")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """A moment in time, read back as an aware UTC datetime on every backend.

    SQLite keeps no time zone and hands back naive datetimes; PostgreSQL hands them back in the session's
    zone. Values are stored in UTC (a naive value is taken to be UTC already) and always come back aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class SoftDelete:
    """Rows that ratings hang under are never deleted for good, only marked (coder.study.tree.delete)."""

    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)

    @hybrid_property
    def live(self) -> bool:
        """Not deleted: on a row, its state; on the class, the SQL condition (``select(Dyad).where(Dyad.live)``)."""
        return self.deleted_at is None

    @live.inplace.expression
    @classmethod
    def _live_expression(cls):
        return cls.deleted_at.is_(None)


class Study(SoftDelete, Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Design choices such as what raters may see (blinding); see coder.study.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    therapists: Mapped[list[Therapist]] = relationship(back_populates="study", passive_deletes=True)
    clients: Mapped[list[Client]] = relationship(back_populates="study", passive_deletes=True)
    dyads: Mapped[list[Dyad]] = relationship(back_populates="study", passive_deletes=True)


class _Participant(SoftDelete):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(100))  # a pseudonymous identifier, never a name
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Therapist(_Participant, Base):
    __tablename__ = "therapists"
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    study: Mapped[Study] = relationship(back_populates="therapists")
    __table_args__ = (UniqueConstraint("study_id", "code"), UniqueConstraint("study_id", "id"))


class Client(_Participant, Base):
    __tablename__ = "clients"
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    study: Mapped[Study] = relationship(back_populates="clients")
    __table_args__ = (UniqueConstraint("study_id", "code"), UniqueConstraint("study_id", "id"))


class Voiceprint(Base):
    """A therapist's voice, enrolled from a sample or from a session whose roles a coordinator confirmed.

    Role assignment compares each diarised speaker with the mean of the
    therapist's voiceprints.
    """

    __tablename__ = "voiceprints"
    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id", ondelete="CASCADE"), index=True)
    embedding: Mapped[list[float]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(20))  # sample | session
    detail: Mapped[str] = mapped_column(String(500), default="")  # the sample's file, or the transcript id
    speech_s: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    therapist: Mapped[Therapist] = relationship()
    __table_args__ = (CheckConstraint(_in("source", ("sample", "session")), name="source"),)


class Dyad(SoftDelete, Base):
    """One therapist and one client of the same study."""

    __tablename__ = "dyads"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    therapist_id: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # De-identification (coder.study.deidentification). The study's lists of the people to find in the dyad's
    # transcripts: role -> names, {"Client": ["Maria", "Maria Lopez"], "Sister": ["Anna", "Beth|Bethany"]}; and
    # the pseudonyms given so far, name form -> pseudonym ({"maria": "[Client]"}), so that a name keeps its
    # pseudonym across the dyad's sessions. Both identify people, as the original transcripts do.
    identifiers: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    pseudonyms: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    study: Mapped[Study] = relationship(back_populates="dyads")
    therapist: Mapped[Therapist] = relationship(foreign_keys=[therapist_id], primaryjoin="Dyad.therapist_id == Therapist.id")
    client: Mapped[Client] = relationship(foreign_keys=[client_id], primaryjoin="Dyad.client_id == Client.id")
    sessions: Mapped[list[TherapySession]] = relationship(back_populates="dyad", passive_deletes=True,
                                                          order_by="TherapySession.number")
    __table_args__ = (
        UniqueConstraint("study_id", "code"),
        UniqueConstraint("study_id", "therapist_id", "client_id"),
        ForeignKeyConstraint(["study_id", "therapist_id"], ["therapists.study_id", "therapists.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["study_id", "client_id"], ["clients.study_id", "clients.id"], ondelete="CASCADE"),
    )


class TherapySession(SoftDelete, Base):
    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    dyad_id: Mapped[int] = mapped_column(ForeignKey("dyads.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    date: Mapped[dt.date | None] = mapped_column(Date)
    time_point: Mapped[str | None] = mapped_column(String(100))
    treatment_arm: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    dyad: Mapped[Dyad] = relationship(back_populates="sessions")
    recordings: Mapped[list[Recording]] = relationship(back_populates="session", passive_deletes=True)
    rating_units: Mapped[list[RatingUnit]] = relationship(back_populates="session", passive_deletes=True,
                                                          order_by="RatingUnit.start_s")
    __table_args__ = (UniqueConstraint("dyad_id", "number"), CheckConstraint("number >= 0", name="number_nonnegative"))


class Recording(SoftDelete, Base):
    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    original_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="registered")
    error: Mapped[str | None] = mapped_column(Text)
    # Speaker turns a user supplied (an RTTM): [[start, end, label], ...]; they override automatic diarisation.
    speaker_turns: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    speaker_turns_source: Mapped[str | None] = mapped_column(String(500))
    progress_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # audio seconds transcribed
    queued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The processing job's lease (see coder.tasks): tries so far, the running worker and its last sign of life.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    session: Mapped[TherapySession] = relationship(back_populates="recordings")
    transcripts: Mapped[list[Transcript]] = relationship(back_populates="recording", passive_deletes=True,
                                                         order_by="Transcript.created_at")
    rating_units: Mapped[list[RatingUnit]] = relationship(
        back_populates="recording", passive_deletes=True, order_by="RatingUnit.start_s",
        foreign_keys="RatingUnit.recording_id", primaryjoin="RatingUnit.recording_id == Recording.id")
    __table_args__ = (
        CheckConstraint(_in("status", RECORDING_STATUSES), name="status"),
        CheckConstraint("duration_s >= 0", name="duration_nonnegative"),
        UniqueConstraint("id", "session_id"),  # target of a rating unit's (recording, session) key
    )

    @property
    def transcript(self) -> Transcript | None:
        """The most recent transcript."""
        return self.transcripts[-1] if self.transcripts else None


class Transcript(Base):
    __tablename__ = "transcripts"
    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"), index=True)
    engine: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(20))
    duration_s: Mapped[float] = mapped_column(Float)
    # Segments with their words, as in the transcribe contract (STEM.json "segments").
    segments: Mapped[list[Any]] = mapped_column(default=list)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # How it was made: channel layout, speech found, what the guards removed (see coder.pipeline).
    notes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Review (coder.study.transcripts): automatic → in_review → verified; ``segments`` hold the current revision,
    # 0 for the recogniser's own, and every revision is kept in transcript_revisions.
    status: Mapped[str] = mapped_column(String(20), default="automatic", server_default="automatic")
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    recording: Mapped[Recording] = relationship(back_populates="transcripts")
    speakers: Mapped[list[Speaker]] = relationship(back_populates="transcript", cascade="all, delete-orphan",
                                                   passive_deletes=True, order_by="Speaker.label")
    revisions: Mapped[list[TranscriptRevision]] = relationship(back_populates="transcript", passive_deletes=True,
                                                               order_by="TranscriptRevision.number")
    deidentification: Mapped[Deidentification | None] = relationship(back_populates="transcript", uselist=False,
                                                                      passive_deletes=True)
    __table_args__ = (UniqueConstraint("recording_id", "engine", "model"),
                      CheckConstraint(_in("status", TRANSCRIPT_STATUSES), name="status"))


class TranscriptRevision(Base):
    """One saved version of a transcript's segments: who saved it, when, and what changed."""

    __tablename__ = "transcript_revisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    segments: Mapped[list[Any]] = mapped_column(default=list)
    changes: Mapped[list[Any]] = mapped_column(default=list)  # coder.pipeline.edits.changes from the one before
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    transcript: Mapped[Transcript] = relationship(back_populates="revisions")
    author: Mapped[User | None] = relationship()
    __table_args__ = (UniqueConstraint("transcript_id", "number"),)


class Deidentification(Base):
    """A transcript's de-identification (coder.study.deidentification): the candidate identifiers found in one of
    its revisions, each with a person's decision, and the de-identified version made from the accepted ones.

    ``candidates``: ``coder.pipeline.deidentify.Candidate`` fields plus ``id`` (numbered within the
    transcript), ``source`` (detected | added: words a person selected), ``decision`` (pending |
    accepted | rejected), ``decided_by`` (a user id) and ``decided_at``. ``segments`` hold the redacted segments
    made from revision ``applied_revision`` (None until applied); they are never written into
    ``transcript_turns``, so the search reads the original. The log of what was replaced is apart, in
    ``anonymisation_log``."""

    __tablename__ = "deidentifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), unique=True)
    revision: Mapped[int] = mapped_column(Integer)  # the transcript revision the candidates were found in
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="detected")  # detected | applied
    segments: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # the de-identified version
    applied_revision: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    transcript: Mapped[Transcript] = relationship(back_populates="deidentification")
    log: Mapped[list[AnonymisationEntry]] = relationship(back_populates="deidentification", passive_deletes=True,
                                                         order_by="[AnonymisationEntry.turn, "
                                                                  "AnonymisationEntry.first_word]")
    __table_args__ = (CheckConstraint(_in("status", DEIDENTIFICATION_STATUSES), name="status"),)


class AnonymisationEntry(Base):
    """One replacement in a transcript's de-identified version: the words ``first_word``..``last_word`` of turn
    ``turn`` of revision ``revision``, what they said and the pseudonym that replaced them. Written afresh each
    time the de-identification is applied; it identifies people and is kept apart from the redacted text."""

    __tablename__ = "anonymisation_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    deidentification_id: Mapped[int] = mapped_column(ForeignKey("deidentifications.id", ondelete="CASCADE"),
                                                     index=True)
    revision: Mapped[int] = mapped_column(Integer)
    turn: Mapped[int] = mapped_column(Integer)
    first_word: Mapped[int] = mapped_column(Integer)
    last_word: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    original: Mapped[str] = mapped_column(Text)  # the words replaced
    text: Mapped[str] = mapped_column(Text)  # what was detected in them
    pseudonym: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(String(50))
    role: Mapped[str | None] = mapped_column(String(100))
    recognizer: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deidentification: Mapped[Deidentification] = relationship(back_populates="log")


class Speaker(Base):
    """A diarised speaker of a transcript and the role assigned to it."""

    __tablename__ = "speakers"
    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(50))
    role: Mapped[str | None] = mapped_column(String(20))
    role_confidence: Mapped[float | None] = mapped_column(Float)
    role_source: Mapped[str] = mapped_column(String(20), default="auto")  # auto | manual
    name: Mapped[str | None] = mapped_column(String(100))  # a display name for exports and pages
    # Mean voice embedding of the speaker's speech (enrols the therapist's voice once roles are confirmed).
    embedding: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)

    transcript: Mapped[Transcript] = relationship(back_populates="speakers")
    __table_args__ = (
        UniqueConstraint("transcript_id", "label"),
        CheckConstraint(f"role IS NULL OR {_in('role', ROLES)}", name="role"),
        CheckConstraint(_in("role_source", ("auto", "manual")), name="role_source"),
    )


class TranscriptTurn(Base):
    """One turn of a transcript's current revision, as the transcript search reads it (``coder.study.search``).

    Derived data, kept in step by the mapper events at the end of this module: a transcript's rows are written
    again whenever its segments are (transcription, a review save or restore, an RTTM import), and a speaker's
    role is copied onto its turns whenever it is set. Beside the table the database keeps a full-text index
    of ``text`` that the models do not declare (migration 0013; ``coder.db.unmapped``): on SQLite two FTS5
    tables over it (``transcript_turns_fts``, diacritics folded; ``transcript_turns_fts_exact``, kept) filled
    by triggers, on PostgreSQL a GIN index on ``SEARCH_VECTOR``.
    """

    __tablename__ = "transcript_turns"
    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"))
    turn: Mapped[int] = mapped_column(Integer)  # the turn's index in the transcript's segments
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    speaker: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (UniqueConstraint("transcript_id", "turn"),)


# PostgreSQL folds diacritics with translate() (immutable, so an index can use it; unaccent needs an extension
# and is not): each Latin letter with a diacritic (U+00C0 to U+024F, those that decompose to an ASCII letter)
# becomes its lower-case base letter, and combining marks (U+0300 to U+036F) are dropped. Migration 0013 builds
# its index on exactly this expression; change both together.
FOLD_FROM = ("ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺ"
             "ĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅ"
             "ȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳ" + "".join(chr(c) for c in range(0x300, 0x370)))
FOLD_TO = ("aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhiiiiiiiiijjkkll"
           "llllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzsoouuaaiioouuuuuuuuuuaaaaggkkoooojggnnaaaaaaeeee"
           "iiiioooorrrruuuusstthhaaeeooooooooyy")


def fold_sql(column_sql: str) -> str:
    """SQL (PostgreSQL) for ``column_sql`` with its diacritics folded (``FOLD_FROM`` → ``FOLD_TO``)."""
    return f"translate({column_sql}, '{FOLD_FROM}', '{FOLD_TO}')"


# The document vector of a turn on PostgreSQL: the ``simple`` configuration (no stemming, no stop words) over
# the folded text; the GIN index ix_transcript_turns_fts is on this expression.
SEARCH_VECTOR = f"to_tsvector('simple'::regconfig, {fold_sql('transcript_turns.text')})"


class RatingUnit(SoftDelete, Base):
    """A stretch of a session that raters score: the whole session, a fixed window or a custom range of its
    recording; or, for a session rated on paper (no recording; its ratings imported), a labelled part of it."""

    __tablename__ = "rating_units"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    # None for a unit of a session without a recording; else a recording of the same session (the key below)
    recording_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(200), default="")
    # The instruments (keys) this unit is to be rated on; None: any.
    instrument_keys: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    # A calibration unit: rated by the study's master (gold-standard) rater and by raters for calibration.
    calibration: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    session: Mapped[TherapySession] = relationship(back_populates="rating_units")
    recording: Mapped[Recording | None] = relationship(back_populates="rating_units", foreign_keys=[recording_id],
                                                       primaryjoin="RatingUnit.recording_id == Recording.id")
    assignments: Mapped[list[Assignment]] = relationship(back_populates="rating_unit", passive_deletes=True)
    __table_args__ = (
        CheckConstraint(_in("kind", UNIT_KINDS), name="kind"),
        # a unit without a recording may have no time range (0 to 0)
        CheckConstraint("start_s >= 0 AND (end_s > start_s OR (recording_id IS NULL AND end_s = start_s))",
                        name="range"),
        ForeignKeyConstraint(["recording_id", "session_id"], ["recordings.id", "recordings.session_id"],
                             ondelete="CASCADE"),
    )


class Instrument(SoftDelete, Base):
    """A rating scale, stored as a versioned definition; ratings keep the version they were made with."""

    __tablename__ = "instruments"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(300))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    __table_args__ = (UniqueConstraint("key", "version"),)


class User(Base):
    """An account: a coordinator, a rater or a transcriber."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # the account's own settings of its pages (coder.rating.workspace.PREFERENCES); None: the defaults
    preferences: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # advanced by logout and by every password event: ends every login of the account (get_id)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (CheckConstraint(_in("role", USER_ROLES), name="role"),)

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        """What the login cookie holds: the id and a stamp of the password hash and the session epoch, so that a
        new password or a logout ends the account's logins (coder.study.accounts.user_of_session)."""
        stamp = f"{self.password_hash}:{self.session_epoch or 0}"
        return f"{self.id}.{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"


class Assignment(SoftDelete, Base):
    """A rater is to rate one rating unit on one instrument."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(primary_key=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    rating_unit_id: Mapped[int] = mapped_column(ForeignKey("rating_units.id", ondelete="CASCADE"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)  # order in the rater's queue
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    design_id: Mapped[int | None] = mapped_column(ForeignKey("assignment_designs.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    rater: Mapped[User] = relationship()
    rating_unit: Mapped[RatingUnit] = relationship(back_populates="assignments")
    instrument: Mapped[Instrument] = relationship()
    rating: Mapped[Rating | None] = relationship(uselist=False, viewonly=True,
                                                 primaryjoin="Rating.assignment_id == Assignment.id",
                                                 foreign_keys="Rating.assignment_id")
    __table_args__ = (
        UniqueConstraint("rater_id", "rating_unit_id", "instrument_id"),
        UniqueConstraint("id", "rater_id"),  # target of the rating's (assignment, rater) key
    )


class AssignmentDesign(Base):
    """How a set of assignments was made (fully crossed, or single coding with a double-coded fraction), with
    its seed, so that the same units and raters give the same plan again (see coder.designs)."""

    __tablename__ = "assignment_designs"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="RESTRICT"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))
    raters: Mapped[list[Any]] = mapped_column(default=list)  # usernames
    overlap: Mapped[float] = mapped_column(Float, default=0.0)  # fraction of units coded by more than one rater
    coders: Mapped[int] = mapped_column(Integer, default=1)  # raters per multiply-coded unit
    seed: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    study: Mapped[Study] = relationship()
    instrument: Mapped[Instrument] = relationship()
    __table_args__ = (CheckConstraint(_in("kind", DESIGN_KINDS), name="kind"),)


class Rating(SoftDelete, Base):
    """A rater's responses for one assignment: a draft, then submitted and locked."""

    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(Integer, unique=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    # the rater's answers: item id -> value, "markers" -> {marker id: salience | "absent"}, and "events" -> the
    # markers placed in time (coder.study.instruments)
    responses: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # "form": entered on the rating page; "import": read from a file (coder.rating.ratings_import)
    source: Mapped[str] = mapped_column(String(20), default="form", server_default="form")
    # the transcript revision the rater was shown when submitting (None: none shown)
    transcript_revision: Mapped[int | None] = mapped_column(Integer)

    assignment: Mapped[Assignment] = relationship(foreign_keys=[assignment_id],
                                                  primaryjoin="Rating.assignment_id == Assignment.id")
    rater: Mapped[User] = relationship(foreign_keys=[rater_id])
    __table_args__ = (
        ForeignKeyConstraint(["assignment_id", "rater_id"], ["assignments.id", "assignments.rater_id"],
                             ondelete="RESTRICT"),
        CheckConstraint(_in("status", RATING_STATUSES), name="status"),
        CheckConstraint("status = 'draft' OR submitted_at IS NOT NULL", name="submitted_at"),
        CheckConstraint(_in("source", RATING_SOURCES), name="source"),
    )


class AuditEvent(Base):
    """Who did what, when and why; written for every change to assignments and ratings."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    # the study the entity belongs to (coder.study.scope), so that coordinators see their studies' events only
    study_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[User | None] = relationship()


class StudyCoordinator(Base):
    """A coordinator of a study: who may see and change it (coder.access)."""

    __tablename__ = "study_coordinators"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    study: Mapped[Study] = relationship()
    user: Mapped[User] = relationship()
    __table_args__ = (UniqueConstraint("study_id", "user_id"),)


class StudyTranscriber(Base):
    """A transcriber of a study: who may correct its transcripts (coder.access)."""

    __tablename__ = "study_transcribers"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    study: Mapped[Study] = relationship()
    user: Mapped[User] = relationship()
    __table_args__ = (UniqueConstraint("study_id", "user_id"),)


class LoginFailure(Base):
    """A failed login, kept for a while to limit guessing (coder.auth)."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConsensusRating(SoftDelete, Base):
    """The responses two or more raters agreed on after discussing their discrepant ratings of a unit.

    Kept alongside the independent ratings, never in their place: reliability uses only the independent
    ones; aggregation may use the consensus (see coder.aggregate).
    """

    __tablename__ = "consensus_ratings"
    id: Mapped[int] = mapped_column(primary_key=True)
    rating_unit_id: Mapped[int] = mapped_column(ForeignKey("rating_units.id", ondelete="RESTRICT"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="RESTRICT"), index=True)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    responses: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the agreed answers, as in Rating.responses
    rating_ids: Mapped[list[Any]] = mapped_column(default=list)  # the independent ratings discussed
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    rating_unit: Mapped[RatingUnit] = relationship()
    instrument: Mapped[Instrument] = relationship()
    recorder: Mapped[User] = relationship()
    __table_args__ = (UniqueConstraint("rating_unit_id", "instrument_id"),)


class ClientVariable(Base):
    """One value of a client-level variable: an outcome (e.g. anxiety before and after treatment) or a
    covariate (age, months since injury). Numeric values in ``value``, categorical ones in ``text``."""

    __tablename__ = "client_variables"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(500), default="")  # the imported file and its SHA-256
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    client: Mapped[Client] = relationship()
    __table_args__ = (UniqueConstraint("client_id", "name"),
                      CheckConstraint("value IS NULL OR text IS NULL", name="one_kind"))


class Analysis(Base):
    """A stored analysis run: its specification, the model formulas, the data it was fitted to (a
    snapshot and its SHA-256) and the results, so that it can be reproduced and audited."""

    __tablename__ = "analyses"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(300), default="")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    formulas: Mapped[list[Any]] = mapped_column(default=list)
    data_sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # table name -> records
    results: Mapped[dict[str, Any]] = mapped_column(default=dict)
    versions: Mapped[dict[str, Any]] = mapped_column(default=dict)  # coder, statsmodels, pandas, numpy
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    study: Mapped[Study] = relationship()
    actor: Mapped[User | None] = relationship()



class ProcessMeasures(Base):
    """A recording's stored session process measures (coder.study.measures): ``figures`` hold what
    ``coder.pipeline.measures.compute`` gave for the session and each live rating unit (keyed by unit id), with
    the definitions version, the transcript, its revision and review status they came from. ``inputs_sha256``
    fingerprints the inputs (the transcript document with its roles, the units' ranges, the definitions version):
    when it no longer matches, the figures are stale and are not shown. ``error`` holds why the last measures job
    failed (the transcript is kept)."""

    __tablename__ = "process_measures"
    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"), unique=True)
    transcript_id: Mapped[int | None] = mapped_column(ForeignKey("transcripts.id", ondelete="SET NULL"))
    definitions_version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    review_status: Mapped[str] = mapped_column(String(20), default="automatic")
    inputs_sha256: Mapped[str] = mapped_column(String(64))
    voice: Mapped[bool] = mapped_column(Boolean, default=False)
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    recording: Mapped[Recording] = relationship()


# --- keeping transcript_turns in step with the transcripts ---------------------------------------------------

def index_turns(connection: Connection, transcript_id: int, segments: list[Any] | None) -> int:
    """Write the transcript's turns into ``transcript_turns`` afresh, each with its speaker's role; how many."""
    turns, speakers = TranscriptTurn.__table__, Speaker.__table__
    connection.execute(turns.delete().where(turns.c.transcript_id == transcript_id))
    roles = dict(connection.execute(select(speakers.c.label, speakers.c.role)
                                    .where(speakers.c.transcript_id == transcript_id)).all())
    rows = [{"transcript_id": transcript_id, "turn": i, "start_s": float(seg.get("start") or 0.0),
             "end_s": float(seg.get("end") or 0.0), "speaker": seg.get("speaker"),
             "role": roles.get(seg.get("speaker")), "text": str(seg.get("text") or "").strip()}
            for i, seg in enumerate(segments or []) if isinstance(seg, dict)]
    if rows:
        connection.execute(turns.insert(), rows)
    return len(rows)


def _set_role(connection: Connection, transcript_id: int, label: str | None, role: str | None) -> None:
    turns = TranscriptTurn.__table__
    connection.execute(turns.update().where(turns.c.transcript_id == transcript_id, turns.c.speaker == label)
                       .values(role=role))


@event.listens_for(Transcript, "after_insert")
def _transcript_inserted(_mapper, connection: Connection, target: Transcript) -> None:
    index_turns(connection, target.id, target.segments)


@event.listens_for(Transcript, "after_update")
def _transcript_updated(_mapper, connection: Connection, target: Transcript) -> None:
    if inspect(target).attrs.segments.history.has_changes():
        index_turns(connection, target.id, target.segments)


@event.listens_for(Speaker, "after_insert")
def _speaker_inserted(_mapper, connection: Connection, target: Speaker) -> None:
    _set_role(connection, target.transcript_id, target.label, target.role)


@event.listens_for(Speaker, "after_update")
def _speaker_updated(_mapper, connection: Connection, target: Speaker) -> None:
    label = inspect(target).attrs.label.history
    if label.has_changes():
        for old in label.deleted:
            _set_role(connection, target.transcript_id, old, None)
        _set_role(connection, target.transcript_id, target.label, target.role)
    elif inspect(target).attrs.role.history.has_changes():
        _set_role(connection, target.transcript_id, target.label, target.role)


@event.listens_for(Speaker, "after_delete")
def _speaker_deleted(_mapper, connection: Connection, target: Speaker) -> None:
    _set_role(connection, target.transcript_id, target.label, None)
