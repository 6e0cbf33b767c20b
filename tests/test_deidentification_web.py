"""The de-identification review screen's requests, through Flask's test client on SQLite and PostgreSQL: the
dyad's lists, detection, decisions, words added, applying refused while anything is pending, the de-identified
version and its exports with pseudonyms, the anonymisation log with the originals, a stale review after an
edit, the study's settings for raters, and who may reach any of it (the study's coordinators only)."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from coder.config import load_settings
from coder.study import deidentification as deid
from coder.study import transcripts
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.study.models import Recording, Study
from coder.web.app import create_app
from coder.web.views.deidentification import parse_lists

from .support.rating_study import PASSWORD, build
from .support.web import login
from .support.planted import NAMES, planted_segments

LISTS = "Client: Maria; Maria Lopez\nTherapist: Helen\nSister: Anna"


@pytest.fixture
def site(tmp_path, database):
    built = build(database)
    with database.session() as db:
        study = db.scalar(select(Study).where(Study.name == "Trial R"))
        transcript = db.get(Recording, built.recording_id).transcript
        transcript.segments = planted_segments()
        grant(db, study, create_user(db, "typist", PASSWORD, "transcriber", "Typist"), None)
        create_user(db, "other", PASSWORD, "coordinator", "Other")
        tid, study_id = transcript.id, study.id
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    return app, built, tid, study_id


def _post(client, url, body):
    response = client.post(url, json=body, headers={"Accept": "application/json"})
    return response.status_code, response.get_json()


def test_parse_lists():
    assert parse_lists("Client: Maria; Maria Lopez\n\n Sister : Anna; Beth|Bethany\nSister: Cara") == {
        "Client": ["Maria", "Maria Lopez"], "Sister": ["Anna", "Beth|Bethany", "Cara"]}
    with pytest.raises(deid.DeidError, match="line 2: write the role, a colon"):
        parse_lists("Client: Maria\nAnna")


def test_a_coordinator_reviews_applies_and_downloads(site):
    app, built, tid, _study_id = site
    client = app.test_client()
    login(client, "coord")
    base = f"/transcripts/{tid}/deidentify"
    page = client.get(base)
    assert page.status_code == 200 and 'id="deid-data"' in page.get_data(as_text=True)
    assert f'href="{base}"' in client.get(f"/transcripts/{tid}").get_data(as_text=True)  # the editor links here
    state = client.get(base + "/state").get_json()
    assert state["status"] == "none" and state["candidates"] == [] and state["deidentified"] is None

    # the dyad's lists, one role a line
    status, body = _post(client, base + "/people", {"text": LISTS})
    assert status == 200 and body["people"] == {"Client": ["Maria", "Maria Lopez"], "Therapist": ["Helen"],
                                                "Sister": ["Anna"]}
    assert body["lists_text"] == LISTS
    status, body = _post(client, base + "/people", {"text": "Anna"})
    assert status == 422 and "line 1" in body["error"]
    status, body = _post(client, base + "/people", {"people": {"Client": [3]}})
    assert status == 422 and "must be a list of strings" in body["error"]
    assert _post(client, base + "/people", {})[0] == 400

    # detect; nothing decided yet: applying is refused with the pending candidates' ids
    status, body = _post(client, base + "/detect", {})
    assert status == 200 and body["status"] == "detected" and body["counts"]["pending"] == len(body["candidates"])
    by_text = {c["text"]: c for c in body["candidates"]}
    assert by_text["Maria"]["pseudonym"] == "[Client]" and by_text["Anna"]["pseudonym"] == "[Sister 1]"
    assert len(body["segments"]) == len(planted_segments()) and body["segments"][0]["w"][5][2] == "Maria."
    status, refused = _post(client, base + "/apply", {})
    assert status == 409 and "still pending" in refused["error"]
    assert sorted(refused["pending"]) == sorted(c["id"] for c in body["candidates"])

    # decisions: one by one, then every pending one rejected
    keep = [c["id"] for c in body["candidates"] if c["text"] in NAMES]
    for ident in keep:
        status, body = _post(client, base + "/decide", {"id": ident, "accepted": True})
        assert status == 200
    assert {c["id"] for c in body["candidates"] if c["decision"] == "accepted"} == set(keep)
    assert _post(client, base + "/decide", {"id": 999, "accepted": True})[0] == 422
    assert _post(client, base + "/decide", {"id": "1", "accepted": True})[0] == 400
    assert _post(client, base + "/decide", {"id": keep[0]})[0] == 400
    status, body = _post(client, base + "/decide", {"all": True, "accepted": False})
    assert status == 200 and body["counts"]["pending"] == 0

    # words the detection missed: "worried thoughts" as an organisation; "sister Anna" as Anna
    status, body = _post(client, base + "/add", {"turn": 3, "first": 15, "last": 16, "entity": "ORGANIZATION"})
    assert status == 200
    added = [c for c in body["candidates"] if c["source"] == "added"]
    assert [(c["text"], c["decision"], c["pseudonym"]) for c in added] == [("worried thoughts", "accepted",
                                                                           "[Organisation A]")]
    status, body = _post(client, base + "/add", {"turn": 3, "first": 9, "last": 9, "entity": "PERSON",
                                                 "person": "Anna"})
    assert status == 200, body
    assert _post(client, base + "/add", {"turn": 3, "first": 40, "last": 41, "entity": "PERSON"})[0] == 422
    assert _post(client, base + "/add", {"turn": 3, "first": 1, "last": 1, "entity": "SHOE"})[0] == 422
    assert _post(client, base + "/add", {"turn": 3, "first": 1, "last": 1, "entity": "PERSON",
                                         "person": "Nobody"})[0] == 422
    assert _post(client, base + "/add", {"turn": 3, "first": 1, "entity": "PERSON"})[0] == 400

    # before applying there is nothing to download
    got = client.get(base + "/export/txt")
    assert got.status_code == 302 and got.headers["Location"].endswith(base)
    status, body = _post(client, base + "/apply", {})
    assert status == 200 and body["status"] == "applied" and body["applied_revision"] == 0
    shown = " ".join(t["text"] for t in body["deidentified"])
    assert "[Client]" in shown and "[Sister 1]" in shown and "[Town A]" in shown and "[Organisation A]" in shown
    assert not any(name in shown for name in NAMES)
    assert {t["speaker"] for t in body["deidentified"]} == {"Therapist", "Client"}

    # the log, apart, with the original words; the exports with the pseudonyms only
    log = client.get(base + "/log.csv")
    assert log.status_code == 200 and log.mimetype == "text/csv"
    assert "anonymisation-log.csv" in log.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(log.get_data(as_text=True))))
    assert {"Maria.", "Anna", "Leeds"} <= {r["original"] for r in rows}
    assert {r["pseudonym"] for r in rows} >= {"[Client]", "[Sister 1]", "[Town A]"}
    txt = client.get(base + "/export/txt")
    assert txt.status_code == 200 and f"recording-{built.recording_id}.deidentified.txt" in \
        txt.headers["Content-Disposition"]
    text = txt.get_data(as_text=True)
    assert "[Client]" in text and "[Town A]" in text and not any(name in text for name in NAMES)
    assert client.get(base + "/export/docx").status_code == 200
    assert client.get(base + "/export/pdf").status_code == 404
    # the page shows the de-identified version's place and the links
    html = client.get(base).get_data(as_text=True)
    assert f"{base}/log.csv" in html and f"{base}/export/docx" in html


def test_an_edit_makes_the_review_stale_until_detected_again(site):
    app, _built, tid, _study_id = site
    client = app.test_client()
    login(client, "coord")
    base = f"/transcripts/{tid}/deidentify"
    _post(client, base + "/people", {"text": LISTS})
    _, body = _post(client, base + "/detect", {})
    first = body["candidates"][0]["id"]
    with app.extensions["coder.db"].session() as db:
        from coder.study.models import Transcript
        transcript = db.get(Transcript, tid)
        transcripts.apply(db, transcript, 0, {"op": "edit_text", "turn": 7,
                                              "text": "Mostly that Rose at work will notice."}, None)
    state = client.get(base + "/state").get_json()
    assert state["stale"] and state["current_revision"] == 1 and state["revision"] == 0
    status, body = _post(client, base + "/decide", {"id": first, "accepted": True})
    assert status == 422 and "detect again" in body["error"]
    status, body = _post(client, base + "/detect", {})
    assert status == 200 and not body["stale"] and body["revision"] == 1
    assert [c["text"] for c in body["candidates"] if c["turn"] == 7] == ["Rose"]


def test_the_study_chooses_what_raters_read_and_hear(site):
    app, _built, _tid, study_id = site
    client = app.test_client()
    login(client, "coord")
    page = client.get(f"/studies/{study_id}").get_data(as_text=True)
    assert 'name="deid_text" value="original" checked' in page and 'name="deid_audio" value="original" checked' in page
    done = client.post(f"/studies/{study_id}/transcripts", data={"action": "deidentification",
                                                                 "deid_text": "deidentified", "deid_audio": "muted"})
    assert done.status_code == 302
    page = client.get(f"/studies/{study_id}").get_data(as_text=True)
    assert "the de-identified transcript only" in page and "identifiers muted" in page
    assert 'name="deid_text" value="deidentified" checked' in page and 'name="deid_audio" value="muted" checked' in page
    client.post(f"/studies/{study_id}/transcripts", data={"action": "deidentification", "deid_audio": "bleep"})
    assert "Not done: raters hear" in client.get(f"/studies/{study_id}").get_data(as_text=True)
    with app.extensions["coder.db"].session() as db:
        assert deid.rater_settings(db.get(Study, study_id)) == {"text": "deidentified", "audio": "muted"}


def test_only_the_studys_coordinators_reach_the_screen(site):
    app, built, tid, _study_id = site
    base = f"/transcripts/{tid}/deidentify"
    gets = [base, base + "/state", base + "/log.csv", base + "/export/txt"]
    posts = [base + "/detect", base + "/decide", base + "/add", base + "/apply", base + "/people"]
    for username, refused in (("typist", 403), ("rater1", 403), ("other", 404)):
        client = app.test_client()
        login(client, username)
        for url in gets:
            assert client.get(url).status_code == refused, (username, url)
        for url in posts:
            assert client.post(url, json={"id": 1, "accepted": True}).status_code == refused, (username, url)
    anonymous = app.test_client()
    assert anonymous.get(base).status_code == 302
    # a transcriber's editor page has no link to the screen
    typist = app.test_client()
    login(typist, "typist")
    assert "/deidentify" not in typist.get(f"/transcripts/{tid}").get_data(as_text=True)
    with app.extensions["coder.db"].session() as db:
        assert deid.deidentification_of(db, db.get(Recording, built.recording_id).transcript) is None
