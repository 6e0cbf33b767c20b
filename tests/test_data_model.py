"""Constraints of the study data model, enforced by the database on SQLite and PostgreSQL alike."""
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from coder.study import tree as svc
from coder.study.accounts import create_user
from coder.study.models import (Assignment, AuditEvent, Client, Dyad, Instrument, Rating, RatingUnit, Recording, Study,
                                Therapist, TherapySession)


def build_tree(db, name="Trial A", sha="a" * 64):
    s = svc.get_or_create_study(db, name)
    dyad = svc.get_or_create_dyad(db, s, "T1", "C1")
    session = svc.get_or_create_session(db, dyad, 1, time_point="pre", treatment_arm="CBT")
    rec = Recording(session_id=session.id, path="/data/s1.wav", original_name="s1.wav", sha256=sha, size_bytes=10,
                    duration_s=60.0, sample_rate=16000, channels=1)
    db.add(rec)
    db.flush()
    unit = RatingUnit(recording_id=rec.id, kind="whole_session", start_s=0, end_s=60)
    instrument = Instrument(key="wai-o-s", version="1", name="WAI-O-S")
    db.add_all([unit, instrument])
    db.flush()
    return s, dyad, session, rec, unit, instrument


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
    with pytest.raises(IntegrityError):
        with database.session() as db:
            *_, unit, instrument = build_tree(db)
            assigned = create_user(db, "rater1", "correct horse battery", "rater")
            other = create_user(db, "rater2", "correct horse battery", "rater")
            a = assign(db, assigned, unit, instrument)
            db.add(Rating(assignment_id=a.id, rater_id=other.id, responses={"1": 3}))
            db.flush()
    with database.session() as db:
        assert db.scalar(select(func.count(Rating.id))) == 0


def test_rating_without_an_assignment_is_rejected(database):
    with pytest.raises(IntegrityError):
        with database.session() as db:
            rater = create_user(db, "rater1", "correct horse battery", "rater")
            db.add(Rating(assignment_id=9999, rater_id=rater.id))
            db.flush()


def test_one_rating_per_assignment(database):
    with pytest.raises(IntegrityError):
        with database.session() as db:
            *_, unit, instrument = build_tree(db)
            rater = create_user(db, "rater1", "correct horse battery", "rater")
            a = assign(db, rater, unit, instrument)
            db.add(Rating(assignment_id=a.id, rater_id=rater.id))
            db.flush()
            db.add(Rating(assignment_id=a.id, rater_id=rater.id))
            db.flush()


def test_submitted_rating_needs_a_submission_time(database):
    with pytest.raises(IntegrityError):
        with database.session() as db:
            *_, unit, instrument = build_tree(db)
            rater = create_user(db, "rater1", "correct horse battery", "rater")
            a = assign(db, rater, unit, instrument)
            db.add(Rating(assignment_id=a.id, rater_id=rater.id, status="submitted"))
            db.flush()


def test_dyad_has_exactly_one_therapist_and_one_client(database):
    with database.session() as db:
        s = svc.get_or_create_study(db, "Trial A")
        dyad = svc.get_or_create_dyad(db, s, "T1", "C1")
        assert (dyad.therapist.code, dyad.client.code) == ("T1", "C1")
    for missing in ("therapist_id", "client_id"):
        with pytest.raises(IntegrityError):
            with database.session() as db:
                s = db.scalar(select(Study))
                t, c = db.scalar(select(Therapist)), db.scalar(select(Client))
                fields = {"therapist_id": t.id, "client_id": c.id}
                fields[missing] = None
                db.add(Dyad(study_id=s.id, code=f"no-{missing}", **fields))
                db.flush()


def test_dyad_members_must_belong_to_the_dyads_study(database):
    with database.session() as db:
        a = svc.get_or_create_study(db, "Trial A")
        b = svc.get_or_create_study(db, "Trial B")
        svc.get_or_create_dyad(db, a, "T1", "C1")
        svc.get_or_create_dyad(db, b, "T9", "C9")
    with pytest.raises(IntegrityError):
        with database.session() as db:
            b = db.scalar(select(Study).where(Study.name == "Trial B"))
            t_a = db.scalar(select(Therapist).where(Therapist.code == "T1"))
            c_b = db.scalar(select(Client).where(Client.code == "C9"))
            db.add(Dyad(study_id=b.id, code="mixed", therapist_id=t_a.id, client_id=c_b.id))
            db.flush()


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
    with pytest.raises(IntegrityError):
        with database.session() as db:
            _s, dyad, *_ = build_tree(db)
            db.add(TherapySession(dyad_id=dyad.id, number=1))
            db.flush()


def test_recording_checksum_is_unique(database):
    with pytest.raises(IntegrityError):
        with database.session() as db:
            _s, _d, session, rec, *_ = build_tree(db)
            db.add(Recording(session_id=session.id, path="/x.wav", original_name="x.wav", sha256=rec.sha256,
                             size_bytes=1, duration_s=1, sample_rate=16000, channels=1))
            db.flush()


@pytest.mark.parametrize("start,end", [(10, 10), (20, 10), (-1, 5)])
def test_rating_unit_range_must_be_valid(database, start, end):
    with pytest.raises(IntegrityError):
        with database.session() as db:
            _s, _d, _sess, rec, *_ = build_tree(db)
            db.add(RatingUnit(recording_id=rec.id, kind="custom", start_s=start, end_s=end))
            db.flush()


def test_unknown_enumerated_values_are_rejected(database):
    with pytest.raises(IntegrityError):
        with database.session() as db:
            _s, _d, _sess, rec, *_ = build_tree(db)
            db.add(RatingUnit(recording_id=rec.id, kind="whenever", start_s=0, end_s=5))
            db.flush()


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
    with pytest.raises(IntegrityError):
        with database.session() as db:
            db.delete(db.scalar(select(TherapySession)))
            db.flush()
    with database.session() as db:
        assert db.scalar(select(func.count(Rating.id))) == 1


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

