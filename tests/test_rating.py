"""The rater's workspace on the server: queue order, blinding, autosave, submit, lock, reopen, unit audio.

Run on SQLite and on a real PostgreSQL server (the ``database`` fixture).
"""
from __future__ import annotations

import io
import re
import shutil
import threading

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from coder.pipeline import playback
from coder.rating import workspace as ratings
from coder.web.app import create_app
from coder.config import load_settings
from coder.study.models import Assignment, AuditEvent, Recording, Study, User, utcnow

from .support.cli import coder
from .support.rating_study import PASSWORD, build, stored
from .support.web import without_tokens

WAI_FULL = {str(i): 5 for i in range(1, 13)}


@pytest.fixture
def study(database):
    return build(database)


@pytest.fixture
def app(tmp_path, database, study, listening_copy):
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    return create_app(settings, database, {"TESTING": True})


def login(app, username):
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    client.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return client


def save(client, assignment_id, scores, revision, notes="", action="save"):
    return client.post(f"/rate/{assignment_id}/{action}", json={"scores": scores, "notes": notes, "revision": revision},
                       headers={"X-CSRFToken": client.csrf})


# --- queue and blinding -------------------------------------------------------------------------------

def _queue_ids(database, username):
    with database.session() as db:
        rater = db.scalar(select(User).where(User.username == username))
        return [e.assignment_id for e in ratings.queue(db, rater)]


def _set_settings(database, **settings):
    with database.session() as db:
        study = db.scalar(select(Study))
        study.settings = {**(study.settings or {}), **settings}


def test_queue_is_shuffled_per_rater_stably_and_by_the_studys_seed(database, study):
    with database.session() as db:  # more units for rater1, so that the orders can differ
        rater2 = db.scalar(select(User).where(User.username == "rater2"))
        for unit in study.window_units:
            db.add(Assignment(rater_id=rater2.id, rating_unit_id=unit, instrument_id=study.instrument_ids["wai-o-s"]))
    first = _queue_ids(database, "rater1")
    assert first == _queue_ids(database, "rater1")  # stable between visits
    assert sorted(first) == sorted(study.assignments["rater1"])
    orders = set()
    for seed in range(8):
        _set_settings(database, queue_seed=seed)
        orders.add(tuple(_queue_ids(database, "rater1")))
    assert len(orders) > 1  # the seed decides the shuffle


def test_queue_in_assigned_and_chronological_order(database, study):
    ids = study.assignments["rater1"]  # whole session, minute 1, minute 2
    with database.session() as db:
        for position, aid in zip((2, 0, 1), ids):
            db.get(Assignment, aid).position = position
    _set_settings(database, queue_order="assigned")
    assert _queue_ids(database, "rater1") == [ids[1], ids[2], ids[0]]
    _set_settings(database, queue_order="chronological")
    # all three start in the same session; by unit start, then instrument
    assert _queue_ids(database, "rater1") == [ids[0], ids[1], ids[2]] or \
        _queue_ids(database, "rater1") == [ids[1], ids[0], ids[2]]
    order = _queue_ids(database, "rater1")
    assert order.index(ids[1]) < order.index(ids[2])


UNBLINDING = ("week 4", "CBT", "T1", "C1", "D1", "session3", "Trial R session 3")


def test_rater_pages_reveal_nothing_the_study_hides(app, study):
    client = login(app, "rater1")
    queue = without_tokens(client.get("/").get_data(as_text=True))
    page = without_tokens(client.get(f"/rate/{study.assignments['rater1'][0]}").get_data(as_text=True))
    for text in (queue, page):
        for secret in UNBLINDING:
            assert secret not in text
        assert "session number" not in text and "time point" not in text
    assert "Whole session" in queue and "Minute 2" in queue
    assert "\"Good\"" in page and "\"again.\"" in page  # the transcript is there, word by word


def test_blinding_settings_show_what_the_study_allows(app, database, study):
    _set_settings(database, blinding={"time_point": True, "session_number": True})
    client = login(app, "rater1")
    page = without_tokens(client.get(f"/rate/{study.assignments['rater1'][0]}").get_data(as_text=True))
    assert "time point week 4" in page and "session number 3" in page
    assert "CBT" not in page and "D1" not in page


def test_other_raters_ratings_only_after_own_submission_and_only_if_shown(app, database, study):
    r2 = login(app, "rater2")
    assert save(r2, study.assignments["rater2"][0], WAI_FULL, 0, action="submit").status_code == 200
    r1 = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    assert "Rater 2" not in r1.get(f"/rate/{aid}").get_data(as_text=True)
    _set_settings(database, blinding={"other_ratings": True})
    assert "Rater 2" not in r1.get(f"/rate/{aid}").get_data(as_text=True)  # not before own submission
    assert save(r1, aid, {**WAI_FULL, "1": 6}, 0, action="submit").status_code == 200
    page = r1.get(f"/rate/{aid}").get_data(as_text=True)
    assert "Other raters" in page and "Rater 2" in page


def test_nobody_reaches_another_raters_unit(app, study):
    theirs = study.assignments["rater1"][0]
    r2 = login(app, "rater2")
    for path in (f"/rate/{theirs}", f"/rate/{theirs}/audio"):
        assert r2.get(path).status_code == 404
    assert save(r2, theirs, {"1": 5}, 0).status_code == 404
    assert stored(app.extensions["coder.db"], theirs) is None
    coordinator = login(app, "coord")
    assert coordinator.get(f"/rate/{theirs}").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/rate/{theirs}/audio").status_code == 302
    response = anonymous.post(f"/rate/{theirs}/save", json={"scores": {}, "revision": 0})
    assert response.status_code == 401 and response.get_json()["ok"] is False


def test_deleted_assignment_disappears(app, database, study):
    aid = study.assignments["rater1"][1]
    with database.session() as db:
        db.get(Assignment, aid).deleted_at = utcnow()
    client = login(app, "rater1")
    assert client.get(f"/rate/{aid}").status_code == 404
    assert f"/rate/{aid}" not in client.get("/").get_data(as_text=True)


# --- saving, submitting, reopening --------------------------------------------------------------------

def test_draft_saves_advance_the_revision_and_keep_partial_scores(app, database, study):
    client = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    first = save(client, aid, {"1": 5}, 0, notes="first impressions")
    assert first.status_code == 200 and first.get_json()["revision"] == 1
    second = save(client, aid, {"1": 5, "2": 3}, 1, notes="first impressions")
    assert second.get_json()["revision"] == 2
    rating = stored(database, aid)
    assert rating.status == "draft" and rating.responses == {"1": 5, "2": 3} and rating.notes == "first impressions"
    assert "Saved" in client.get(f"/rate/{aid}").get_data(as_text=True)
    with database.session() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.entity == "ratings").order_by(AuditEvent.id)).all()
        assert [e.action for e in events] == ["save_draft", "save_draft"]
        assert events[1].detail["changed"] == {"2": [None, 3]}


def test_a_stale_revision_is_a_conflict_and_changes_nothing(app, database, study):
    client = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    save(client, aid, {"1": 5}, 0)
    save(client, aid, {"1": 6}, 1)
    response = save(client, aid, {"1": 2}, 1)  # a second window still on revision 1
    assert response.status_code == 409
    body = response.get_json()
    assert body["current"]["revision"] == 2 and body["current"]["scores"] == {"1": 6}
    assert stored(database, aid).responses == {"1": 6}


def test_a_retried_save_is_harmless(app, database, study):
    client = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    save(client, aid, {"1": 5}, 0)
    again = save(client, aid, {"1": 5}, 0)  # the first answer was lost; the browser sends it again
    assert again.status_code == 200 and again.get_json()["revision"] == 1
    assert stored(database, aid).revision == 1


@pytest.mark.parametrize("scores, problem", [({"1": 8}, "not on the scale"), ({"1": 4.5}, "not on the scale"),
                                             ({"99": 3}, "no such item"), ({"1": "abc"}, "not a number")])
def test_values_off_the_scale_are_refused_with_the_item_named(app, database, study, scores, problem):
    client = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    response = save(client, aid, scores, 0)
    assert response.status_code == 422
    assert problem in response.get_json()["error"] and next(iter(scores)) in response.get_json()["problems"][0]
    assert stored(database, aid) is None


def test_malformed_requests_get_clear_errors(app, study):
    client = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    h = {"X-CSRFToken": client.csrf}
    assert client.post(f"/rate/{aid}/save", data="not json", headers=h).status_code == 400
    assert client.post(f"/rate/{aid}/save", json={"scores": [1, 2], "revision": 0}, headers=h).status_code == 422
    assert client.post(f"/rate/{aid}/save", json={"scores": {}}, headers=h).status_code == 422
    no_token = client.post(f"/rate/{aid}/save", json={"scores": {"1": 5}, "revision": 0})
    assert no_token.status_code == 400 and "security token" in no_token.get_json()["error"]


def test_submit_needs_every_required_item_then_locks(app, database, study):
    client = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    save(client, aid, {"1": 5}, 0)
    refused = save(client, aid, {"1": 5}, 1, action="submit")
    assert refused.status_code == 422
    assert refused.get_json()["problems"] == [f"{i}: required" for i in range(2, 13)]
    assert stored(database, aid).status == "draft"
    done = save(client, aid, WAI_FULL, 1, action="submit")
    assert done.status_code == 200 and done.get_json()["status"] == "submitted"
    rating = stored(database, aid)
    assert rating.status == "submitted" and rating.submitted_at is not None
    twice = save(client, aid, WAI_FULL, 1, action="submit")  # a double click
    assert twice.status_code == 200 and stored(database, aid).revision == rating.revision
    late = save(client, aid, {**WAI_FULL, "1": 2}, rating.revision)
    assert late.status_code == 423 and stored(database, aid).responses == WAI_FULL
    page = client.get(f"/rate/{aid}").get_data(as_text=True)
    assert "it is locked" in page


def test_markers_are_saved_with_their_salience(app, database, study):
    client = login(app, "rater1")
    aid = study.assignments["rater1"][1]  # a rupture-markers window
    ok = save(client, aid, {"therapist_contribution": 2, "markers": {"denial": 3}}, 0)
    assert ok.status_code == 200
    bad = save(client, aid, {"markers": {"denial": 9}}, 1)
    assert bad.status_code == 422 and "markers.denial" in bad.get_json()["error"]
    assert stored(database, aid).responses == {"therapist_contribution": 2, "markers": {"denial": 3}}


def test_events_in_time_are_saved_in_one_order_and_checked_against_the_unit(app, database, study):
    client = login(app, "rater1")
    aid = study.assignments["rater1"][1]  # a rupture-markers window of 60 s
    events = [{"id": "k2", "code": "denial", "start": 30.5, "end": 33, "salience": 2, "note": "changes topic"},
              {"id": "k1", "code": "clarify", "start": 4.25, "salience": 3}]
    ok = save(client, aid, {"markers": {"control": "absent"}, "events": events}, 0)
    assert ok.status_code == 200, ok.get_json()
    kept = stored(database, aid).responses
    assert kept == {"markers": {"control": "absent"}, "events": [
        {"id": "k1", "code": "clarify", "start": 4.25, "end": None, "salience": 3, "note": ""},
        {"id": "k2", "code": "denial", "start": 30.5, "end": 33, "salience": 2, "note": "changes topic"}]}
    again = save(client, aid, {"markers": {"control": "absent"}, "events": events[::-1]}, 0)  # a retried request
    assert again.status_code == 200 and stored(database, aid).revision == 1
    late = save(client, aid, {"events": [{**events[0], "start": 61}]}, 1)
    assert late.status_code == 422 and "events[0].start" in late.get_json()["error"]
    absent = save(client, aid, {"markers": {"denial": "absent"}, "events": events}, 1)
    assert absent.get_json()["problems"] == ["markers.denial: answered absent, but 1 event of it is placed"]
    unanswered = save(client, aid, {"therapist_contribution": 1, "resolution": 1, "events": events}, 1,
                      action="submit")
    assert unanswered.status_code == 422 and len(unanswered.get_json()["problems"]) == 20 - 2
    assert stored(database, aid).responses == kept


def test_coordinator_sees_and_reopens_with_a_reason(app, database, study):
    rater = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    save(rater, aid, WAI_FULL, 0, notes="clear alliance", action="submit")
    rating_id = stored(database, aid).id
    coordinator = login(app, "coord")
    listing = coordinator.get("/ratings?status=submitted").get_data(as_text=True)
    # all items 5, reverse-keyed items 4 and 10 count as 3: (10 × 5 + 2 × 3) / 12
    assert "Rater 1" in listing and "submitted" in listing and "4.67" in listing
    detail = coordinator.get(f"/ratings/{rating_id}").get_data(as_text=True)
    assert "clear alliance" in detail and "Reopen" in detail
    no_reason = coordinator.post(f"/ratings/{rating_id}/reopen", data={"csrf_token": coordinator.csrf, "reason": " "},
                                 follow_redirects=True)
    assert "give a reason" in no_reason.get_data(as_text=True) and stored(database, aid).status == "submitted"
    coordinator.post(f"/ratings/{rating_id}/reopen", data={"csrf_token": coordinator.csrf,
                                                           "reason": "item 4 scored on the wrong key"})
    reopened = stored(database, aid)
    assert reopened.status == "draft" and reopened.responses == WAI_FULL
    with database.session() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "reopen"))
        assert event.detail["reason"] == "item 4 scored on the wrong key" and event.detail["scores"] == WAI_FULL
    assert save(rater, aid, {**WAI_FULL, "4": 3}, reopened.revision).status_code == 200
    assert rater.post(f"/ratings/{rating_id}/reopen", data={"csrf_token": rater.csrf, "reason": "x"}).status_code == 403
    assert rater.get("/ratings").status_code == 403


@pytest.mark.parametrize("n_threads", [8])
def test_concurrent_saves_of_one_rating_apply_exactly_one(database, study, n_threads):
    """Eight requests based on the same revision race: one wins, the others get a conflict, none is mixed in."""
    aid = study.assignments["rater1"][0]
    with database.session() as db:
        rater = db.scalar(select(User).where(User.username == "rater1"))
        ratings.save_draft(db, db.get(Assignment, aid), rater, {"1": 1}, "", 0)
    barrier = threading.Barrier(n_threads)
    outcomes = []

    def worker(value):
        with database.sessionmaker() as db:
            rater = db.scalar(select(User).where(User.username == "rater1"))
            assignment = ratings.assignment_for(db, rater, aid)
            barrier.wait()
            try:
                ratings.save_draft(db, assignment, rater, {"1": value % 7 + 1}, f"from {value}", 1)
                db.commit()
                outcomes.append(value)
            except ratings.Conflict:
                db.rollback()
                outcomes.append("conflict")

    threads = [threading.Thread(target=worker, args=(v,)) for v in range(1, n_threads + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1 and outcomes.count("conflict") == n_threads - 1
    rating = stored(database, aid)
    assert rating.revision == 2 and rating.responses == {"1": winners[0] % 7 + 1} and rating.notes == f"from {winners[0]}"


# --- the unit's audio ---------------------------------------------------------------------------------

def test_unit_audio_is_a_wav_of_just_the_unit(app, study, listening_copy):
    client = login(app, "rater1")
    window = study.assignments["rater1"][2]  # minute 2: 60-120 s
    whole = client.get(f"/rate/{window}/audio")
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    samples, rate = sf.read(io.BytesIO(whole.data), dtype="int16")
    assert rate == 16000 and len(samples) == 60 * 16000
    full = np.fromfile(next(listening_copy.glob("*.pcm")), dtype="<i2")
    assert np.array_equal(samples, full[60 * 16000:120 * 16000])


def test_unit_audio_serves_byte_ranges(app, study):
    client = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    full = client.get(f"/rate/{aid}/audio").data
    part = client.get(f"/rate/{aid}/audio", headers={"Range": "bytes=1000000-1000099"})
    assert part.status_code == 206 and part.data == full[1000000:1000100]
    assert part.headers["Content-Range"] == f"bytes 1000000-1000099/{len(full)}"
    head = client.get(f"/rate/{aid}/audio", headers={"Range": "bytes=0-43"})
    assert head.data == full[:44] and head.data[:4] == b"RIFF"
    tail = client.get(f"/rate/{aid}/audio", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == full[-10:]
    beyond = client.get(f"/rate/{aid}/audio", headers={"Range": f"bytes={len(full) + 5}-"})
    assert beyond.status_code == 416


def test_a_recording_that_cannot_be_decoded_gets_a_clear_message(app, database, study, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEfmt garbage")
    with database.session() as db:
        rec = db.get(Recording, study.recording_id)
        rec.path, rec.sha256 = str(broken), "f" * 64
    client = login(app, "rater1")
    aid = study.assignments["rater1"][0]
    page = client.get(f"/rate/{aid}")
    assert page.status_code == 200 and "The recording cannot be played" in page.get_data(as_text=True)
    assert client.get(f"/rate/{aid}/audio").status_code == 404
    assert save(client, aid, {"1": 4}, 0).status_code == 200  # rating still works from the transcript


# --- the listening copy -------------------------------------------------------------------------------

def test_listening_copy_and_waveform(tmp_path):
    rate = 16000
    t = np.arange(3 * rate) / rate
    signal = np.where(t < 1, 0.0, 0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    signal[: rate // 2] = 0.001  # near silence, not silence (silent files are refused)
    path = tmp_path / "tone.wav"
    sf.write(path, signal, rate)
    copy = playback.prepare(path, "abc", tmp_path / "pb")
    assert copy.samples == 3 * rate and abs(copy.duration_s - 3.0) < 1e-9
    wave = playback.waveform(copy, 0, 3, buckets=30)
    assert len(wave) == 30 and max(wave[:10]) < 0.01 and min(wave[10:]) > 0.45
    assert playback.waveform(copy, 1, 2, buckets=1000) == pytest.approx([0.5] * 100, abs=0.01)
    clip = playback.clip(copy, 0.5, 1.5)
    data = b"".join(clip.read(0, clip.length))
    decoded, sr = sf.read(io.BytesIO(data), dtype="float32")
    assert sr == rate and len(decoded) == rate
    assert np.allclose(decoded, signal[rate // 2: 3 * rate // 2], atol=1e-4)
    # A clip past the end is cut at the end; a second prepare reuses the files.
    assert playback.clip(copy, 2.5, 10).n_bytes == rate
    mtime = copy.pcm.stat().st_mtime_ns
    playback.prepare(path, "abc", tmp_path / "pb")
    assert copy.pcm.stat().st_mtime_ns == mtime


# --- the command line ---------------------------------------------------------------------------------

def test_study_settings_and_assignments_from_the_command_line(tmp_path):
    from coder.db import Database

    home = tmp_path / "home"
    database = Database(f"sqlite:///{home / 'coder.db'}")
    database.migrate()
    study = build(database, raters=("rater1", "rater2"))

    def run(*args):
        return coder("--home", home, *args, timeout=120)

    shown = run("study", "Trial R", "--show", "time_point", "--show", "other_ratings", "--queue-order", "assigned")
    assert shown.exit_code == 0, shown.stderr
    assert "raters see time_point, other_ratings; queue order assigned" in shown.stdout
    hidden = run("study", "Trial R", "--hide", "other_ratings")
    assert "raters see time_point;" in hidden.stdout
    assert run("study", "Trial R", "--show", "diagnosis").exit_code != 0
    assert run("study", "No such study").exit_code != 0

    assigned = run("assign", "rater2", *map(str, study.window_units), "--instrument", "rupture-markers")
    assert assigned.exit_code == 0, assigned.stderr
    again = run("assign", "rater2", str(study.window_units[0]), "--instrument", "rupture-markers:2")
    assert "already assigned" in again.stdout
    assert run("assign", "coord", str(study.window_units[0]), "--instrument", "wai-o-s").exit_code != 0
    assert run("assign", "rater2", "999", "--instrument", "wai-o-s").exit_code != 0
    assert run("assign", "rater2", str(study.whole_unit), "--instrument", "nope").exit_code != 0
    with database.session() as db:
        rater2 = db.scalar(select(User).where(User.username == "rater2"))
        entries = ratings.queue(db, rater2)
        assert [e.unit["label"] for e in entries] == ["Whole session", "Minute 1", "Minute 2"]  # assigned order
        assert entries[0].unit["time_point"] == "week 4" and "treatment_arm" not in entries[0].unit
        assert db.scalar(select(Study)).settings["blinding"] == {"time_point": True}
    database.dispose()
