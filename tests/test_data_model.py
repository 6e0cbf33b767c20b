"""Constraints of the study data model, enforced by the database on SQLite and PostgreSQL alike."""
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from coder.study import tree as svc
from coder.study.accounts import create_user
from coder.study.models import Assignment, AuditEvent, Dyad, Rating, RatingUnit, Recording, TherapySession

from .support.tree import build_tree


# What each backend says when a rating's (assignment, rater) key is not an assignment's: PostgreSQL names the
# constraint, SQLite names no foreign key.
RATING_KEY = r"fk_ratings_assignment_id_rater_id_assignments|^FOREIGN KEY constraint failed$"


def refused(database, row, because: str) -> None:
    """Add ``row`` in a session of its own: the database must refuse it when it is written (the flush), and
    only then, for the reason ``because`` (a pattern of the message on PostgreSQL or SQLite)."""
    with database.session() as db:
        db.add(row)
        with pytest.raises(IntegrityError) as error:
            db.flush()
        db.rollback()
    assert re.search(because, str(error.value.orig)), error.value.orig


def assign(db, rater, unit, instrument):
    a = Assignment(rater_id=rater.id, rating_unit_id=unit.id, instrument_id=instrument.id)
    db.add(a)
    db.flush()
    return a


def test_rating_by_the_assigned_rater_is_stored(database):
    with database.session() as db:
        *_, unit, instrument = build_tree(db)
        rater = create_user(db, "rater1", "correct horse battery", "rater")
        a = assign(db, rater, unit, instrument)
        db.add(Rating(assignment_id=a.id, rater_id=rater.id, responses={"1": 5}))
    with database.session() as db:
        rating = db.scalar(select(Rating))
        assert rating.assignment.rater.username == "rater1"
        assert rating.status == "draft" and rating.responses == {"1": 5}


def test_rating_by_another_rater_is_rejected(database):
    with database.session() as db:
        *_, unit, instrument = build_tree(db)
        assigned = create_user(db, "rater1", "correct horse battery", "rater")
        other = create_user(db, "rater2", "correct horse battery", "rater")
        assignment_id, other_id = assign(db, assigned, unit, instrument).id, other.id
    refused(database, Rating(assignment_id=assignment_id, rater_id=other_id, responses={"1": 3}), RATING_KEY)
    with database.session() as db:
        assert db.scalar(select(func.count(Rating.id))) == 0
        assert db.get(Assignment, assignment_id).rater.username == "rater1"  # the setup stands


def test_rating_without_an_assignment_is_rejected(database):
    with database.session() as db:
        rater_id = create_user(db, "rater1", "correct horse battery", "rater").id
    refused(database, Rating(assignment_id=9999, rater_id=rater_id), RATING_KEY)


def test_one_rating_per_assignment(database):
    with database.session() as db:
        *_, unit, instrument = build_tree(db)
        rater = create_user(db, "rater1", "correct horse battery", "rater")
        a = assign(db, rater, unit, instrument)
        db.add(Rating(assignment_id=a.id, rater_id=rater.id))
        db.flush()
        assignment_id, rater_id = a.id, rater.id
    refused(database, Rating(assignment_id=assignment_id, rater_id=rater_id),
            r"uq_ratings_assignment_id|UNIQUE constraint failed: ratings\.assignment_id")
    with database.session() as db:
        assert db.scalar(select(func.count(Rating.id))) == 1


def test_submitted_rating_needs_a_submission_time(database):
    with database.session() as db:
        *_, unit, instrument = build_tree(db)
        rater = create_user(db, "rater1", "correct horse battery", "rater")
        assignment_id, rater_id = assign(db, rater, unit, instrument).id, rater.id
    refused(database, Rating(assignment_id=assignment_id, rater_id=rater_id, status="submitted"),
            "ck_ratings_submitted_at")


def test_dyad_has_exactly_one_therapist_and_one_client(database):
    with database.session() as db:
        s = svc.get_or_create_study(db, "Trial A")
        dyad = svc.get_or_create_dyad(db, s, "T1", "C1")
        assert (dyad.therapist.code, dyad.client.code) == ("T1", "C1")
        fields = {"study_id": s.id, "therapist_id": dyad.therapist_id, "client_id": dyad.client_id}
    for missing in ("therapist_id", "client_id"):
        refused(database, Dyad(code=f"no-{missing}", **{**fields, missing: None}),
                rf'"{missing}" of relation "dyads" violates not-null|NOT NULL constraint failed: dyads\.{missing}')


def test_dyad_members_must_belong_to_the_dyads_study(database):
    with database.session() as db:
        a = svc.get_or_create_study(db, "Trial A")
        b = svc.get_or_create_study(db, "Trial B")
        t_a = svc.get_or_create_dyad(db, a, "T1", "C1").therapist
        c_b = svc.get_or_create_dyad(db, b, "T9", "C9").client
        ids = {"study_id": b.id, "therapist_id": t_a.id, "client_id": c_b.id}
    refused(database, Dyad(code="mixed", **ids), r"fk_dyads_study_id_therapist_id_therapists|^FOREIGN KEY")


def test_dyad_code_cannot_be_reused_for_another_pair(database):
    with database.session() as db:
        s = svc.get_or_create_study(db, "Trial A")
        svc.get_or_create_dyad(db, s, "T1", "C1", "D1")
        assert svc.get_or_create_dyad(db, s, "T1", "C1", "D1").code == "D1"
        with pytest.raises(svc.StudyError, match="already pairs"):
            svc.get_or_create_dyad(db, s, "T2", "C1", "D1")
        with pytest.raises(svc.StudyError, match="already form dyad D1"):
            svc.get_or_create_dyad(db, s, "T1", "C1", "D2")


def test_session_numbers_unique_within_a_dyad(database):
    with database.session() as db:
        _s, dyad, *_ = build_tree(db)
        dyad_id = dyad.id
    refused(database, TherapySession(dyad_id=dyad_id, number=1),
            r"uq_sessions_dyad_id_number|UNIQUE constraint failed: sessions\.dyad_id, sessions\.number")


def test_recording_checksum_is_unique(database):
    with database.session() as db:
        _s, _d, session, rec, *_ = build_tree(db)
        session_id, sha = session.id, rec.sha256
    refused(database, Recording(session_id=session_id, path="/x.wav", original_name="x.wav", sha256=sha,
                                size_bytes=1, duration_s=1, sample_rate=16000, channels=1),
            r"uq_recordings_sha256|UNIQUE constraint failed: recordings\.sha256")


@pytest.mark.parametrize("start,end", [(10, 10), (20, 10), (-1, 5)])
def test_rating_unit_range_must_be_valid(database, start, end):
    with database.session() as db:
        rec = build_tree(db)[3]
        recording_id, session_id = rec.id, rec.session_id
    refused(database, RatingUnit(session_id=session_id, recording_id=recording_id, kind="custom", start_s=start,
                                 end_s=end), "ck_rating_units_range")


def test_unknown_enumerated_values_are_rejected(database):
    with database.session() as db:
        rec = build_tree(db)[3]
        recording_id, session_id = rec.id, rec.session_id
    refused(database, RatingUnit(session_id=session_id, recording_id=recording_id, kind="whenever", start_s=0,
                                 end_s=5), "ck_rating_units_kind")


def test_a_unit_belongs_to_its_recordings_session_or_to_a_session_without_one(database):
    """The unit's (recording, session) key: a recording of another session is refused; a unit without a
    recording (a session rated on paper) may have no time range, a recorded one may not."""
    with database.session() as db:
        _s, dyad, session, rec, *_ = build_tree(db)
        other = svc.get_or_create_session(db, dyad, 99)
        db.commit()
        ids = (session.id, rec.id, other.id)
    session_id, recording_id, other_id = ids
    refused(database, RatingUnit(session_id=other_id, recording_id=recording_id, kind="custom", start_s=0, end_s=5),
            r"fk_rating_units_recording_id_session_id_recordings|FOREIGN KEY constraint failed")
    refused(database, RatingUnit(session_id=session_id, recording_id=recording_id, kind="custom", start_s=0, end_s=0),
            "ck_rating_units_range")
    with database.session() as db:
        db.add(RatingUnit(session_id=other_id, recording_id=None, kind="whole_session", start_s=0, end_s=0,
                          label="paper"))
        db.commit()


def test_delete_is_soft_where_ratings_exist(database):
    with database.session() as db:
        s, dyad, session, rec, unit, instrument = build_tree(db)
        rater = create_user(db, "rater1", "correct horse battery", "rater")
        a = assign(db, rater, unit, instrument)
        db.add(Rating(assignment_id=a.id, rater_id=rater.id, responses={"1": 4}))
        db.flush()
        for obj in (session, rec, unit, dyad, a):
            assert svc.has_ratings(db, obj)
        assert svc.delete(db, session, reason="withdrew consent") == "soft"
        assert svc.delete(db, rater) == "soft"
    with database.session() as db:
        session = db.scalar(select(TherapySession))
        assert session is not None and session.deleted_at is not None
        assert db.scalar(select(func.count(Rating.id))) == 1
        assert db.scalar(select(Recording)).deleted_at is None  # children stay, hidden through their session
        rater = db.scalar(select(Rating)).rater
        assert not rater.active
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == "soft_delete")).all()
        assert {(e.entity, e.detail.get("reason")) for e in events} >= {("sessions", "withdrew consent")}


def test_database_refuses_hard_delete_under_ratings(database):
    """Even bypassing coder.study.delete, ON DELETE RESTRICT keeps ratings from vanishing with their session."""
    with database.session() as db:
        _s, _d, session, _rec, unit, instrument = build_tree(db)
        rater = create_user(db, "rater1", "correct horse battery", "rater")
        a = assign(db, rater, unit, instrument)
        db.add(Rating(assignment_id=a.id, rater_id=rater.id))
    with database.session() as db:
        db.delete(db.scalar(select(TherapySession)))
        with pytest.raises(IntegrityError) as error:
            db.flush()
        db.rollback()
    assert re.search(RATING_KEY, str(error.value.orig)), error.value.orig
    with database.session() as db:
        assert db.scalar(select(func.count(Rating.id))) == 1
        assert db.scalar(select(func.count(TherapySession.id))) == 1


def test_delete_is_hard_without_ratings(database):
    with database.session() as db:
        _s, _d, session, rec, unit, instrument = build_tree(db)
        rater = create_user(db, "rater1", "correct horse battery", "rater")
        assign(db, rater, unit, instrument)  # assigned but not yet rated
        assert not svc.has_ratings(db, session)
        assert svc.delete(db, session) == "hard"
    with database.session() as db:
        assert db.scalar(select(func.count(TherapySession.id))) == 0
        assert db.scalar(select(func.count(Recording.id))) == 0  # cascaded
        assert db.scalar(select(func.count(RatingUnit.id))) == 0
        assert db.scalar(select(func.count(Assignment.id))) == 0
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "delete")).entity == "sessions"

