"""The web app: login, CSRF, what coordinators and raters each see."""
import re

import pytest
from sqlalchemy import select

from coder.study.access import grant
from coder.study.accounts import create_user
from coder.web.app import create_app
from coder.config import load_settings
from coder.study.models import Assignment, Instrument, RatingUnit, Recording, Speaker, Transcript, User
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study

from .support.rating_study import PASSWORD
from .support.web import csrf_token, login, without_tokens


@pytest.fixture
def app(tmp_path, database):
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    with database.session() as db:
        study = get_or_create_study(db, "Trial A")
        dyad = get_or_create_dyad(db, study, "T07", "C13", "D7")
        session = get_or_create_session(db, dyad, 4, time_point="week 6", treatment_arm="CBT-TBI")
        rec = Recording(session_id=session.id, path="/nowhere/s4.wav", original_name="s4.wav", sha256="b" * 64,
                        size_bytes=1, duration_s=125.0, sample_rate=16000, channels=1, status="transcribed")
        db.add(rec)
        db.flush()
        db.add(Transcript(recording_id=rec.id, engine="openai-whisper", model="base", language="en", duration_s=125,
                          segments=[{"start": 0.5, "end": 2.0, "speaker": "SPEAKER_00",
                                     "text": "Shall we look at the homework?", "words": []}],
                          speakers=[Speaker(label="SPEAKER_00", role="therapist")]))
        unit = RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="whole_session", start_s=0,
                          end_s=125, label="Whole session")
        instrument = Instrument(key="demo", version="1", name="Alliance demo")
        db.add_all([unit, instrument])
        grant(db, study, create_user(db, "coord", PASSWORD, "coordinator"), None)
        rater = create_user(db, "rater1", PASSWORD, "rater")
        create_user(db, "rater2", PASSWORD, "rater")
        db.flush()
        db.add(Assignment(rater_id=rater.id, rating_unit_id=unit.id, instrument_id=instrument.id))
    app = create_app(settings, database, {"TESTING": True})
    return app


def test_pages_need_login(app):
    client = app.test_client()
    for path in ("/", "/transcripts/1"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_password_is_refused(app):
    client = app.test_client()
    response = login(client, "coord", "not the password")
    assert response.status_code == 401
    assert client.get("/").status_code == 302


def test_login_form_needs_csrf_token(app):
    client = app.test_client()
    response = client.post("/login", data={"username": "coord", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_coordinator_sees_sessions_and_transcripts(app):
    client = app.test_client()
    assert login(client, "coord").status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "Trial A" in home and "1 transcribed" in home
    study_url = re.search(r'href="(/studies/\d+)"', home).group(1)
    page = client.get(study_url).get_data(as_text=True)
    for text in ("Trial A", "D7", "T07", "C13", "week 6", "s4.wav", "2:05", "transcribed"):
        assert text in page
    transcript = client.get("/transcripts/1").get_data(as_text=True)
    assert "Shall we look at the homework?" in transcript and "Therapist" in transcript
    assert client.get("/transcripts/999").status_code == 404


def test_rater_sees_only_their_queue_and_no_unblinding_details(app):
    client = app.test_client()
    login(client, "rater1")
    page = without_tokens(client.get("/").get_data(as_text=True))
    assert "Alliance demo" in page and "Whole session" in page and "to do" in page
    for secret in ("week 6", "CBT-TBI", "T07", "C13", "s4.wav", "D7"):
        assert secret not in page
    assert client.get("/transcripts/1").status_code == 403


def test_other_rater_has_an_empty_queue(app):
    client = app.test_client()
    login(client, "rater2")
    assert "Nothing is assigned to you yet." in client.get("/").get_data(as_text=True)


def test_logout_ends_the_session(app):
    client = app.test_client()
    login(client, "coord")
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_deactivated_user_is_logged_out(app):
    client = app.test_client()
    login(client, "rater1")
    assert client.get("/").status_code == 200
    database = app.extensions["coder.db"]
    with database.session() as db:
        db.scalar(select(User).where(User.username == "rater1")).active = False
    assert client.get("/").status_code == 302
    assert login(client, "rater1").status_code == 401


def test_open_redirect_is_refused(app):
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login?next=//evil.example/x", data={"username": "coord", "password": PASSWORD,
                                                                 "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_security_headers_and_cookie_flags(app):
    client = app.test_client()
    response = login(client, "coord")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["X-Frame-Options"] == "DENY"


def test_coordinator_corrects_roles_on_the_transcript_page(app, database):
    client = app.test_client()
    login(client, "coord")
    page = client.get("/transcripts/1").get_data(as_text=True)
    assert 'name="role-SPEAKER_00"' in page and "automatic" in page
    token = csrf_token(client, "/transcripts/1")
    assert client.post("/transcripts/1/roles", data={"role-SPEAKER_00": "client"}).status_code == 400  # no CSRF
    response = client.post("/transcripts/1/roles", data={"role-SPEAKER_00": "client", "reason": "listened",
                                                         "action": "set", "csrf_token": token},
                           follow_redirects=True)
    assert "Roles saved; the process measures of the session are computed again." in response.get_data(as_text=True)
    with database.session() as db:
        speaker = db.scalar(select(Speaker))
        assert (speaker.role, speaker.role_source) == ("client", "manual")
    response = client.post("/transcripts/1/roles", data={"action": "swap", "csrf_token": token},
                           follow_redirects=True)
    assert "Roles saved; the process measures of the session are computed again." in response.get_data(as_text=True)
    with database.session() as db:
        assert db.scalar(select(Speaker)).role == "therapist"
    bad = client.post("/transcripts/1/roles", data={"role-SPEAKER_00": "patient", "action": "set",
                                                    "csrf_token": token}, follow_redirects=True)
    assert "Roles not saved: unknown role patient" in bad.get_data(as_text=True)


def test_raters_cannot_correct_roles(app):
    client = app.test_client()
    login(client, "rater1")
    token = csrf_token(client, "/")
    assert client.post("/transcripts/1/roles", data={"action": "swap", "csrf_token": token}).status_code == 403
