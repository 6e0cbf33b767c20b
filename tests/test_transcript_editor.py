"""The transcript editor's requests, through Flask's test client on SQLite and PostgreSQL: corrections saved as
revisions, a stale editor refused with the current version, undo and restore, status, speakers' names, the
history, the exports rewritten after a save, what the study's raters read, and the transcriber's reach."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from coder.config import load_settings
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.study.models import Recording, Study
from coder.study.speakers import write_exports
from coder.web.app import create_app

from .support.rating_study import PASSWORD, build
from .support.web import csrf_token, login


@pytest.fixture
def site(tmp_path, database):
    built = build(database)
    with database.session() as db:
        study = db.scalar(select(Study).where(Study.name == "Trial R"))
        grant(db, study, create_user(db, "typist", PASSWORD, "transcriber", "Typist"), None)
        create_user(db, "stranger", PASSWORD, "transcriber", "Stranger")
        transcript_id = db.get(Recording, built.recording_id).transcript.id
        study_id = study.id
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    return app, built, transcript_id, study_id, settings


def _post(client, url, body):
    response = client.post(url, json=body, headers={"Accept": "application/json"})
    return response.status_code, response.get_json()


def _words(state, turn):
    return [w[2] for w in state["segments"][turn]["w"]]


def test_corrections_through_the_editor_requests(site):
    app, _built, tid, _study_id, _settings = site
    client = app.test_client()
    login(client, "typist")
    state = client.get(f"/transcripts/{tid}/state").get_json()
    assert state["revision"] == 0 and state["status"] == "automatic"
    first = _words(state, 0)
    status, body = _post(client, f"/transcripts/{tid}/edit", {"revision": 0, "op": {
        "op": "edit_text", "turn": 0, "text": " ".join(["Hello", *first[1:]])}})
    assert status == 200 and body["revision"] == 1 and body["status"] == "in_review"
    assert _words(body, 0) == ["Hello", *first[1:]]
    # a second editor still on revision 0 is refused, and gets the current version
    status, body = _post(client, f"/transcripts/{tid}/edit", {"revision": 0, "op": {"op": "merge_turns", "turn": 0}})
    assert status == 409 and "changed since revision 0" in body["error"] and body["current"]["revision"] == 1
    assert _words(body["current"], 0)[0] == "Hello"
    # split, move words to the other speaker, mark checked
    status, body = _post(client, f"/transcripts/{tid}/edit", {"revision": 1, "op": {"op": "split_turn", "turn": 0,
                                                                                      "at": 1}})
    assert status == 200 and _words(body, 0) == ["Hello"] and _words(body, 1) == first[1:]
    other = body["segments"][2]["speaker"]
    status, body = _post(client, f"/transcripts/{tid}/edit", {"revision": 2, "op": {
        "op": "move_words", "turn": 1, "first": 0, "last": 0, "speaker": other}})
    assert status == 200 and body["segments"][1]["speaker"] == other and _words(body, 1) == first[1:2]
    status, body = _post(client, f"/transcripts/{tid}/edit", {"revision": 3, "op": {"op": "check_turn", "turn": 0}})
    assert status == 200 and body["segments"][0]["checked"] is True
    # a correction that does not fit is refused with the reason, and nothing is saved
    status, body = _post(client, f"/transcripts/{tid}/edit", {"revision": 4, "op": {"op": "split_turn", "turn": 0,
                                                                                      "at": 0}})
    assert status == 422 and "cannot be split" in body["error"]
    assert _post(client, f"/transcripts/{tid}/edit", {"op": {"op": "check_turn", "turn": 0}})[0] == 400
    # undo: revision 3 saved again as revision 5
    status, body = _post(client, f"/transcripts/{tid}/restore", {"revision": 4, "number": 3})
    assert status == 200 and body["revision"] == 5 and not body["segments"][0]["checked"]
    history = client.get(f"/transcripts/{tid}/history").get_json()
    assert [r["number"] for r in history["revisions"]] == [5, 4, 3, 2, 1, 0]
    assert history["revisions"][0]["note"] == "restored revision 3" and history["revisions"][0]["author"] == "typist"
    assert history["revisions"][-1]["author"] is None and history["revisions"][1]["changes"]
    # speakers' names and the status
    status, body = _post(client, f"/transcripts/{tid}/speaker", {"label": "SPEAKER_00", "name": "Dr  Reyes"})
    assert status == 200 and [s["shown"] for s in body["speakers"] if s["label"] == "SPEAKER_00"] == ["Dr Reyes"]
    assert _post(client, f"/transcripts/{tid}/speaker", {"label": "SPEAKER_09", "name": "x"})[0] == 422
    status, body = _post(client, f"/transcripts/{tid}/status", {"status": "verified"})
    assert status == 200 and body["status"] == "verified"
    assert _post(client, f"/transcripts/{tid}/status", {"status": "perfect"})[0] == 422


def test_a_save_rewrites_the_exports_that_processing_wrote(site):
    app, built, tid, _study_id, settings = site
    database = app.extensions["coder.db"]
    with database.session() as db:
        paths = write_exports(db.get(Recording, built.recording_id).transcript, settings.transcripts_dir)
    client = app.test_client()
    login(client, "coord")
    first = _words(client.get(f"/transcripts/{tid}/state").get_json(), 0)
    _post(client, f"/transcripts/{tid}/edit", {"revision": 0, "op": {"op": "edit_text", "turn": 0,
                                                                     "text": " ".join(["Welcome", *first[1:]])}})
    _post(client, f"/transcripts/{tid}/speaker", {"label": "SPEAKER_00", "name": "Dr Reyes"})
    doc = json.loads(paths["json"].read_text())
    assert doc["review"] == {"status": "in_review", "revision": 1}
    assert doc["segments"][0]["text"].startswith("Welcome")
    assert "Dr Reyes: Welcome" in paths["txt"].read_text() and "<v Dr Reyes>Welcome" in paths["vtt"].read_text()


def test_a_coordinator_downloads_the_corrected_transcript(site, tmp_path):
    import docx
    import pympi

    app, _built, tid, _study_id, _settings = site
    client = app.test_client()
    login(client, "coord")
    first = _words(client.get(f"/transcripts/{tid}/state").get_json(), 0)
    _post(client, f"/transcripts/{tid}/edit", {"revision": 0, "op": {"op": "edit_text", "turn": 0,
                                                                     "text": " ".join(["Welcome", *first[1:]])}})
    _post(client, f"/transcripts/{tid}/speaker", {"label": "SPEAKER_00", "name": "Dr Reyes"})
    got = client.get(f"/transcripts/{tid}/export/docx")
    assert got.status_code == 200 and "attachment" in got.headers["Content-Disposition"]
    (tmp_path / "t.docx").write_bytes(got.data)
    paragraphs = [p.text for p in docx.Document(str(tmp_path / "t.docx")).paragraphs]
    assert any(p.startswith("[00:00:0") and "Dr Reyes: Welcome" in p for p in paragraphs)
    (tmp_path / "t.eaf").write_bytes(client.get(f"/transcripts/{tid}/export/eaf").data)
    eaf = pympi.Elan.Eaf(str(tmp_path / "t.eaf"))
    assert "Dr Reyes" in eaf.get_tier_names()
    assert sorted(eaf.get_annotation_data_for_tier("Dr Reyes"))[0][2].startswith("Welcome")
    assert client.get(f"/transcripts/{tid}/export/exe").status_code == 404
    typist = app.test_client()
    login(typist, "typist")
    assert typist.get(f"/transcripts/{tid}/export/docx").status_code == 403


def test_the_editor_page_and_the_transcribers_list(site):
    app, _built, tid, _study_id, _settings = site
    client = app.test_client()
    login(client, "typist")
    assert client.get("/").headers["Location"].endswith("/transcripts")
    listing = client.get("/transcripts").get_data(as_text=True)
    assert "Trial R" in listing and f"/transcripts/{tid}" in listing and "automatic" in listing
    page = client.get(f"/transcripts/{tid}?t=30").get_data(as_text=True)
    assert 'id="transcript-data"' in page and "review.js" in page and '"start": 30.0' in page
    # the transcriber reaches transcripts, nothing else of the study
    assert client.get("/studies/1").status_code in (403, 404)
    assert client.get("/ratings").status_code == 403
    stranger = app.test_client()
    login(stranger, "stranger")
    assert "Trial R" not in stranger.get("/transcripts").get_data(as_text=True)
    for url in (f"/transcripts/{tid}", f"/transcripts/{tid}/state", f"/transcripts/{tid}/history"):
        assert stranger.get(url).status_code == 404
    assert _post(stranger, f"/transcripts/{tid}/edit", {"revision": 0, "op": {"op": "check_turn", "turn": 0}})[0] \
        == 404
    rater = app.test_client()
    login(rater, "rater1")
    assert rater.get(f"/transcripts/{tid}/state").status_code == 403


def test_the_study_page_sets_what_raters_read_and_who_transcribes(site, database):
    app, _built, _tid, study_id, _settings = site
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    login(client, "coord")
    page = client.get(f"/studies/{study_id}").get_data(as_text=True)
    assert 'value="typist"' in page and "<option>stranger</option>" in page
    token = csrf_token(client, f"/studies/{study_id}")
    done = client.post(f"/studies/{study_id}/transcripts", data={"action": "raters", "view": "verified",
                                                                 "csrf_token": token}, follow_redirects=True)
    assert "Raters now read verified transcripts only." in done.get_data(as_text=True)
    bad = client.post(f"/studies/{study_id}/transcripts", data={"action": "raters", "view": "some",
                                                                "csrf_token": token}, follow_redirects=True)
    assert "Not done: choose what raters read" in bad.get_data(as_text=True)
    client.post(f"/studies/{study_id}/transcripts", data={"action": "add", "new": "stranger", "csrf_token": token})
    client.post(f"/studies/{study_id}/transcripts", data={"action": "remove", "username": "typist",
                                                          "csrf_token": token})
    with database.session() as db:
        assert db.get(Study, study_id).settings["transcripts"] == "verified"
    typist, stranger = app.test_client(), app.test_client()
    login(typist, "typist")
    login(stranger, "stranger")
    assert "Trial R" not in typist.get("/transcripts").get_data(as_text=True)
    assert "Trial R" in stranger.get("/transcripts").get_data(as_text=True)


def test_transcribers_on_the_command_line(site, database, tmp_path):
    from .support.cli import coder

    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}
    made = coder("users", "add", "typist2", "--role", "transcriber", "--password", PASSWORD, "--study", "Trial R",
                 env=env)
    assert made.exit_code == 0 and "created transcriber typist2" in made.stdout
    shown = coder("study", "Trial R", "--add-transcriber", "stranger", "--remove-transcriber", "typist", env=env)
    assert shown.exit_code == 0 and "transcribers stranger, typist2;" in shown.stdout
    wrong = coder("study", "Trial R", "--add-transcriber", "rater1", env=env)
    assert wrong.exit_code == 1 and "rater1 is a rater, not a transcriber" in wrong.stderr
    with database.session() as db:
        from coder.study.access import transcribers_of
        study = db.scalar(select(Study).where(Study.name == "Trial R"))
        assert [u.username for u in transcribers_of(db, study)] == ["stranger", "typist2"]
