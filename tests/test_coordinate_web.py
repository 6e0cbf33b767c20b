"""The coordinator's pages through Flask's test client, on SQLite and PostgreSQL: study set-up, uploads and
their refusals, manifests, processing in the background, units, designs, raters, the dashboard, consensus,
calibration and the audit trail."""
from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from coder.study import instruments
from coder.study.accounts import create_user
from coder.web.app import create_app
from coder.config import load_settings
from coder.study.models import (Assignment, AssignmentDesign, AuditEvent, ConsensusRating, Rating, RatingUnit,
                                Recording, Study, User)

from .support.analysis_study import build_planned, get_or_create_unit
from .support.audio import excerpt
from .support.rating_study import PASSWORD
from .support.web import csrf_token, login


def flashes(response) -> list[str]:
    return [html.unescape(re.sub(r"\s+", " ", m).strip()) for m in
            re.findall(r'<p class="flash[^"]*" role="alert">(.*?)</p>', response.get_data(as_text=True), re.S)]


@pytest.fixture
def site(tmp_path, database, monkeypatch):
    monkeypatch.setenv("CODER_MODELS_DIR", str(tmp_path / "models"))  # the processing form's model store
    with database.session() as db:
        create_user(db, "coord", PASSWORD, "coordinator", "Coordinator")
        for name in ("ana", "ben", "cem"):
            create_user(db, name, PASSWORD, "rater", name.title())
        instruments.store(db, instruments.builtin("wai-o-s"))
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    login(client, "coord")
    return app, client, database, settings


def _study(client, name="Trial W"):
    response = client.post("/studies/new", data={"name": name, "description": "observer coding"})
    assert response.status_code == 302
    study_id = int(response.location.rsplit("/", 1)[1])
    for kind, code in (("therapist", "T1"), ("client", "C1")):
        client.post(f"/studies/{study_id}/participants", data={"kind": kind, "code": code})
    response = client.post(f"/studies/{study_id}/participants", data={"kind": "dyad", "therapist": "T1",
                                                                      "client": "C1", "code": "D1"},
                           follow_redirects=True)
    assert "Dyad D1 (T1 with C1) added." in flashes(response)
    return study_id


def _upload(http, study_id, path: Path, session: int, **extra):
    name = extra.pop("filename", path.name)
    data = {"dyad_id": extra.pop("dyad_id", "1"), "session": str(session), **extra,
            "file": (io.BytesIO(path.read_bytes()), name)}
    return http.post(f"/studies/{study_id}/upload", data=data, content_type="multipart/form-data")


def test_set_up_a_study_and_upload_recordings(site, tmp_path, corrupt_file):
    app, client, database, settings = site
    study_id = _study(client)
    response = client.post("/studies/new", data={"name": "Trial W"})
    assert response.status_code == 400 and "exists already" in response.get_data(as_text=True)
    assert "exists already" in flashes(client.post(f"/studies/{study_id}/participants",
                                                   data={"kind": "client", "code": "C1"},
                                                   follow_redirects=True))[0]
    good = excerpt(tmp_path, 20, "D1 session 1.wav")
    response = _upload(client, study_id, good, 1, time_point="week 1", arm="CBT", date="2026-03-02")
    assert response.status_code == 200, response.json
    reply = response.json
    import hashlib

    assert reply["sha256"] == hashlib.sha256(good.read_bytes()).hexdigest() and reply["session"] == 1
    # the same audio under another name and session: refused, naming the first
    again = _upload(client, study_id, good, 2, filename="copy.wav")
    assert again.status_code == 409 and "duplicate of D1 session 1.wav" in again.json["error"]
    # a damaged transfer: the browser's checksum differs
    other = excerpt(tmp_path, 10, "other.wav", offset=30)
    damaged = _upload(client, study_id, other, 2, sha256="0" * 64)
    assert damaged.status_code == 400 and "damaged" in damaged.json["error"]
    # a corrupt file and a file that is not audio by name
    bad = _upload(client, study_id, corrupt_file, 3)
    assert bad.status_code == 400 and bad.json["error"].startswith("corrupt.wav: ")
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    assert "not an audio file" in _upload(client, study_id, text, 3).json["error"]
    # a new dyad by codes, with the checksum the browser computed
    ok = _upload(client, study_id, other, 2, dyad_id="", therapist="T2", client="C2",
                 sha256=hashlib.sha256(other.read_bytes()).hexdigest())
    assert ok.status_code == 200 and ok.json["dyad"] == "T2-C2"
    with database.session() as db:
        recs = db.scalars(select(Recording).order_by(Recording.id)).all()
        assert [(r.original_name, r.session.number, r.session.time_point) for r in recs] == [
            ("D1 session 1.wav", 1, "week 1"), ("other.wav", 2, None)]
        assert all(Path(r.path).parent == settings.recordings_dir and Path(r.path).is_file() for r in recs)
        uploads = db.scalars(select(AuditEvent).where(AuditEvent.action == "upload")).all()
        assert [e.detail["sha256"] for e in uploads] == [r.sha256 for r in recs]
    # nothing of the refused uploads is left on disk
    assert sorted(p.name for p in settings.recordings_dir.iterdir() if p.is_file()) == sorted(
        Path(r.path).name for r in recs)
    assert list((settings.recordings_dir / ".incoming").iterdir()) == []
    page = client.get(f"/studies/{study_id}").get_data(as_text=True)
    assert "D1 session 1.wav" in page and "other.wav" in page and "registered" in page


def test_manifest_fills_the_upload_table(site, tmp_path):
    app, client, database, settings = site
    study_id = _study(client)
    manifest = (b"file,therapist,client,session,time_point,date\n"
                b"a/s1.wav,T1,C1,1,pre,2026-01-05\nb/s2.wav,T1,C1,two,,\n,T1,C1,3,,\n")
    reply = client.post(f"/studies/{study_id}/manifest", data={"manifest": (io.BytesIO(manifest), "m.csv")},
                        content_type="multipart/form-data").json
    assert reply["rows"] == [{"row": 2, "file": "s1.wav", "therapist": "T1", "client": "C1", "dyad": "",
                              "session": 1, "time_point": "pre", "arm": "", "date": "2026-01-05"}]
    assert reply["errors"] == ["row 3 (b/s2.wav): session must be a whole number, got 'two'",
                               "row 4 (): empty file"]
    broken = client.post(f"/studies/{study_id}/manifest", data={"manifest": (io.BytesIO(b"name,x\n1,2\n"), "m.csv")},
                         content_type="multipart/form-data").json
    assert not broken["ok"] and "missing column(s) file, therapist, client, session" in broken["error"]


@pytest.fixture
def embedded_worker(site):
    from coder.jobs import queue

    app, client, database, settings = site
    worker = queue.start_embedded(settings, database)
    yield worker
    worker.stop()


def test_processing_runs_in_the_background_with_progress(site, tmp_path, tiny_whisper, embedded_worker):
    from coder.jobs import queue

    app, client, database, settings = site
    study_id = _study(client)
    for n in (1, 2):
        assert _upload(client, study_id, excerpt(tmp_path, 12, f"s{n}.wav", offset=20 * n), n).status_code == 200
    # the form names a model of the model store (a path is refused: tests/test_hardening.py)
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / tiny_whisper.name).write_bytes(tiny_whisper.read_bytes())
    (settings.models_dir / "damaged.pt").write_bytes(b"not a checkpoint")
    response = client.post(f"/studies/{study_id}/process",
                           data={"all": "1", "engine": "openai-whisper", "model": tiny_whisper.name,
                                 "diarizer": "builtin", "num_speakers": "2"}, follow_redirects=True)
    assert "2 recording(s) queued for transcription and diarisation." in flashes(response)
    queue.wait_idle(database)
    status = client.get(f"/studies/{study_id}/recordings.json").json
    assert [r["status"] for r in status["recordings"]] == ["transcribed", "transcribed"], status
    assert all(r["progress_s"] == r["duration_s"] and r["transcript_url"] for r in status["recordings"])
    with database.session() as db:
        study = db.get(Study, study_id)
        assert study.settings["processing"]["model"] == tiny_whisper.name
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "queue_processing")).detail["recordings"] == [
            1, 2]
    # processing all again queues nothing: everything is done
    response = client.post(f"/studies/{study_id}/process", data={"all": "1", "engine": "openai-whisper",
                                                                     "model": tiny_whisper.name},
                           follow_redirects=True)
    assert "Choose recordings to process" in flashes(response)[0]
    # a model that cannot be loaded fails the recording with the reason, and the next one still runs
    response = client.post(f"/studies/{study_id}/process", data={"recording": ["1"], "engine": "openai-whisper",
                                                                     "model": "damaged.pt"},
                           follow_redirects=True)
    queue.wait_idle(database)
    first = client.get(f"/studies/{study_id}/recordings.json").json["recordings"][0]
    assert first["status"] == "failed" and first["error"].startswith("model not loaded")


def _units(database, dyads=4, sessions=3):
    with database.session() as db:
        study = db.scalar(select(Study))
        units: dict = {}
        for d in range(1, dyads + 1):
            for s in range(1, sessions + 1):
                get_or_create_unit(db, study, f"D{d}", s, "Whole session", units)
        return study.id, sorted(u.id for u in units.values())


def test_units_designs_dashboard_and_a_rater_who_leaves(site, tmp_path):
    app, client, database, settings = site
    study_id = _study(client)
    assert _upload(client, study_id, excerpt(tmp_path, 8, "s1.wav"), 1).status_code == 200
    response = client.post(f"/studies/{study_id}/units", data={"all": "1", "how": "whole",
                                                               "instrument": "wai-o-s"}, follow_redirects=True)
    assert flashes(response) == ["1 rating unit(s) added for wai-o-s."]
    response = client.post(f"/studies/{study_id}/units", data={"all": "1", "how": "find", "pattern": "homework",
                                                               "instrument": "wai-o-s"}, follow_redirects=True)
    assert "has no transcript to search" in flashes(response)[0]
    study_id, _ids = _units(database)
    with database.session() as db:  # two hand-picked stretches besides: 15 units in all
        for label in ("Stretch A", "Stretch B"):
            get_or_create_unit(db, db.get(Study, study_id), "D5", 1, label, {})
    response = client.post(f"/studies/{study_id}/designs", data={
        "instrument": "wai-o-s", "kind": "overlap", "overlap": "20", "coders": "2", "rater": ["ana", "ben", "cem"],
        "seed": "5", "due": "2026-01-31", "reason": "wave 1"}, follow_redirects=True)
    message = flashes(response)[0]
    assert message.startswith("Design 1 (overlap, seed 5): 18 assignment(s) over 15 unit(s), 3 coded by more than "
                              "one rater; per rater ana 6, ben 6, cem 6"), message
    with database.session() as db:
        design = db.get(AssignmentDesign, 1)
        assert design.raters == ["ana", "ben", "cem"] and design.overlap == 0.2 and design.seed == 5
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "assign")) == 18
    # the dashboard: everything is overdue (due date in the past), nothing done yet
    page = client.get(f"/studies/{study_id}/dashboard").get_data(as_text=True)
    rows = re.findall(r"<tr><td>(ana|ben|cem)</td><td>wai-o-s</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>"
                      r"<td>(\d+)</td><td[^>]*>(\d+)</td>", page)
    assert rows == [(r, "6", "6", "0", "0", "6") for r in ("ana", "ben", "cem")]
    assert page.count("2026-01-31") == 18
    # cem leaves: deactivated, the unrated units move to ana and ben, never twice to one rater
    cem = database.sessionmaker().scalar(select(User).where(User.username == "cem"))
    response = client.post(f"/raters/{cem.id}", data={"action": "deactivate", "reason": ""}, follow_redirects=True)
    assert "give a reason" in flashes(response)[0]
    response = client.post(f"/raters/{cem.id}", data={"action": "deactivate", "reason": "left the team",
                                                      "reassign": "1"}, follow_redirects=True)
    assert flashes(response) == ["cem deactivated; their ratings stay. 6 unrated assignment(s) moved to ana, ben."]
    with database.session() as db:
        live = db.execute(select(Assignment.rating_unit_id, Assignment.rater_id)
                          .where(Assignment.deleted_at.is_(None))).all()
        assert len(live) == 18 and len(set(live)) == 18
        assert not db.scalar(select(User).where(User.username == "cem")).active
    audit = client.get("/audit?action=withdraw").get_data(as_text=True)
    assert audit.count("left the team") == 6
    csv = client.get("/audit?format=csv&action=deactivate").get_data(as_text=True)
    assert "deactivate,users" in csv and "left the team" in csv
    workload = client.get("/raters").get_data(as_text=True)
    assert re.search(r'data-rater="ana"><td>Ana \(ana\)</td><td>active</td>\s*<td>9</td>', workload)


def test_consensus_recorded_beside_the_independent_ratings(site):
    app, client, database, settings = site
    built = build_planned(database, [("D1", 1, "Whole session", "ana", 1), ("D1", 1, "Whole session", "ben", 3),
                                     ("D2", 1, "Whole session", "ana", 2)], study_name="Trial K")
    study_id, unit_id, instrument_id = built["study_id"], built["units"][("D1", 1, "Whole session")], \
        built["instrument_id"]
    page = client.get(f"/studies/{study_id}/consensus").get_data(as_text=True)
    assert page.count("record consensus") == 1 and "ana, ben" in page  # D2 has one rater only
    url = f"/studies/{study_id}/consensus/{unit_id}/{instrument_id}"
    form = client.get(url).get_data(as_text=True)
    assert form.count('class="differs"') == 12
    definition = instruments.builtin("homework-engagement")
    incomplete = {f"item-{item.id}": "2" for item in definition.items[:5]}
    response = client.post(url, data={**incomplete, "note": "discussed"}, follow_redirects=True)
    assert flashes(response)[0].startswith("Not recorded:") and "required" in flashes(response)[0]
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(ConsensusRating)) == 0
        before = {r.id: dict(r.responses) for r in db.scalars(select(Rating))}
    full = {f"item-{item.id}": "2" for item in definition.items}
    response = client.post(url, data={**full, "note": "agreed on 2 after listening again"}, follow_redirects=True)
    assert flashes(response) == ["Consensus recorded beside the independent ratings, which stay as they were."]
    with database.session() as db:
        consensus = db.scalar(select(ConsensusRating))
        assert consensus.responses == {item.id: 2 for item in definition.items}
        assert consensus.rating_ids == sorted(built["ratings"][("D1", 1, "Whole session", r)] for r in ("ana", "ben"))
        assert {r.id: dict(r.responses) for r in db.scalars(select(Rating))} == before
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "record_consensus")).detail["note"] == \
            "agreed on 2 after listening again"
    assert "recorded: edit" in client.get(f"/studies/{study_id}/consensus").get_data(as_text=True)


def test_calibration_page_sets_the_master_and_shows_flags(site):
    app, client, database, settings = site
    plan = [(f"D{d}", 1, "Cal", "ana", 2) for d in range(1, 4)] + [(f"D{d}", 1, "Cal", "ben", 4) for d in range(1, 4)]
    built = build_planned(database, plan, study_name="Trial L")
    with database.session() as db:
        for unit in db.scalars(select(RatingUnit)):
            unit.calibration = True
    url = f"/studies/{built['study_id']}/calibration"
    response = client.post(url, data={"master": "ana", "statistic": "within_one", "threshold": "0.9",
                                      "window": "2", "reason": "calibration round 1"}, follow_redirects=True)
    assert flashes(response) == ["Calibration settings saved."]
    assert re.search(r"<td>ben</td><td>3</td>\s*<td>0.00</td>\s*<td><strong class=\"flag\">below 0.9</strong>",
                     response.get_data(as_text=True))
    dashboard = client.get(f"/studies/{built['study_id']}/dashboard").get_data(as_text=True)
    assert ("<strong>ben</strong> on homework-engagement: within_one 0.00 is below the study's threshold 0.90"
            in dashboard)
    bad = client.post(url, data={"statistic": "icc", "threshold": "0.7", "window": "2"}, follow_redirects=True)
    assert "at least 3" in flashes(bad)[0]


def test_coordinator_pages_are_closed_to_raters_and_need_csrf(site, tmp_path, database):
    app, client, database, settings = site
    study_id = _study(client)
    rater = app.test_client()
    login(rater, "ana")
    for path in (f"/studies/{study_id}", f"/studies/{study_id}/dashboard", f"/studies/{study_id}/calibration",
                 f"/studies/{study_id}/consensus", f"/studies/{study_id}/recordings.json", "/raters", "/audit",
                 "/studies/new"):
        assert rater.get(path).status_code == 403, path
    for path in (f"/studies/{study_id}/upload", f"/studies/{study_id}/process", f"/studies/{study_id}/designs",
                 f"/studies/{study_id}/units", "/raters", f"/studies/{study_id}/participants"):
        assert rater.post(path, data={}).status_code == 403, path
    strict = create_app(settings, database, {"TESTING": True})
    c = strict.test_client()
    c.post("/login", data={"username": "coord", "password": PASSWORD, "csrf_token": csrf_token(c)})
    assert c.post("/studies/new", data={"name": "No token"}).status_code == 400
    token = csrf_token(c, "/studies/new")
    assert c.post("/studies/new", data={"name": "With token", "csrf_token": token}).status_code == 302


def test_calibration_units_and_the_calibration_design(site):
    app, client, database, settings = site
    _study(client)
    study_id, unit_ids = _units(database, dyads=3, sessions=2)
    url = f"/studies/{study_id}/designs"
    response = client.post(url, data={"instrument": "wai-o-s", "kind": "calibration", "rater": ["ana", "ben"]},
                           follow_redirects=True)
    assert "set the study's master (gold-standard) rater first" in flashes(response)[0]
    response = client.post(f"/studies/{study_id}/calibration", data={"master": "cem", "statistic": "within_one",
                                                                     "threshold": "0.8", "window": "5"},
                           follow_redirects=True)
    assert flashes(response) == ["Calibration settings saved."]
    response = client.post(url, data={"instrument": "wai-o-s", "kind": "calibration", "rater": ["ana", "ben"]},
                           follow_redirects=True)
    assert "mark calibration units first" in flashes(response)[0]
    for unit_id in unit_ids[:2]:
        response = client.post(f"/units/{unit_id}", data={"action": "calibration"}, follow_redirects=True)
        assert flashes(response) == [f"Unit {unit_id} is now a calibration unit."]
    response = client.post(url, data={"instrument": "wai-o-s", "kind": "calibration", "rater": ["ana", "ben"],
                                      "seed": "3"}, follow_redirects=True)
    assert "6 assignment(s) over 2 unit(s)" in flashes(response)[0]  # both units to ana, ben and the master
    # the ordinary units are still free for the study's main design, which leaves calibration units out
    response = client.post(url, data={"instrument": "wai-o-s", "kind": "overlap", "overlap": "0",
                                      "rater": ["ana", "ben"]}, follow_redirects=True)
    assert "4 assignment(s) over 4 unit(s), 0 coded by more than one rater" in flashes(response)[0]
    with database.session() as db:
        got = db.execute(select(Assignment.rating_unit_id, User.username).join(User, Assignment.rater_id == User.id)
                         .where(Assignment.rating_unit_id.in_(unit_ids[:2]))).all()
        assert sorted(got) == sorted((u, r) for u in unit_ids[:2] for r in ("ana", "ben", "cem"))
        marks = db.scalars(select(AuditEvent).where(AuditEvent.action == "calibration")).all()
        assert sorted(e.entity_id for e in marks) == unit_ids[:2]
    client.post(f"/units/{unit_ids[0]}", data={"action": "calibration"})
    with database.session() as db:
        assert not db.get(RatingUnit, unit_ids[0]).calibration


def test_cancelling_queued_recordings_from_the_study_page(site, tmp_path):
    app, client, database, settings = site  # no worker runs: the jobs stay queued
    study_id = _study(client)
    assert _upload(client, study_id, excerpt(tmp_path, 5, "s1.wav"), 1).status_code == 200
    # the form offers the default engine first, selected, and a form that names none gets it too
    assert re.search(r"<option selected>faster-whisper</option><option\s*>openai-whisper</option>",
                     client.get(f"/studies/{study_id}").get_data(as_text=True))
    response = client.post(f"/studies/{study_id}/process", data={"recording": ["1"]}, follow_redirects=True)
    assert flashes(response) == ["1 recording(s) queued for transcription and diarisation."]
    with database.session() as db:
        assert db.get(Study, study_id).settings["processing"]["engine"] == "faster-whisper"
    assert client.get(f"/studies/{study_id}/recordings.json").json["recordings"][0]["status"] == "queued"
    response = client.post(f"/studies/{study_id}/cancel", data={"recording": ["1"], "reason": "wrong session"},
                           follow_redirects=True)
    assert flashes(response) == ["1 processing job(s) cancelled."]
    first = client.get(f"/studies/{study_id}/recordings.json").json["recordings"][0]
    assert first["status"] == "cancelled" and first["error"] == "cancelled: wrong session"
    response = client.post(f"/studies/{study_id}/cancel", data={"recording": ["1"]}, follow_redirects=True)
    assert "None of the selected recordings" in flashes(response)[0]
    # a cancelled recording can be processed again
    response = client.post(f"/studies/{study_id}/process", data={"all": "1"}, follow_redirects=True)
    assert flashes(response) == ["1 recording(s) queued for transcription and diarisation."]
