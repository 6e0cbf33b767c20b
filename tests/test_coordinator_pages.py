"""The coordinator's side of rating, through Flask's test client on SQLite and PostgreSQL: the consensus page
(what the raters agree on filled in, their notes and events, the unit's audio and transcript), units made for
named instruments and deleted while unrated, and instruments stored and versioned from the browser."""
from __future__ import annotations

import html
import io
import re

import pytest
import yaml
from sqlalchemy import func, select

from coder.config import load_settings
from coder.rating import designs
from coder.study import instruments
from coder.study.models import (Assignment, AuditEvent, ConsensusRating, Instrument, Rating, RatingUnit, Study,
                                User, utcnow)
from coder.web.app import create_app

from .support.consensus_study import build_consensus
from .support.rating_study import build
from .support.web import login


def flashes(response) -> list[str]:
    return [html.unescape(re.sub(r"\s+", " ", m).strip()) for m in
            re.findall(r'<p class="flash[^"]*" role="alert">(.*?)</p>', response.get_data(as_text=True), re.S)]


def _client(tmp_path, database, username="coord"):
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _selected(page: str, name: str) -> str | None:
    select_html = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.S).group(1)
    chosen = re.search(r'<option value="([^"]*)" selected>', select_html)
    return chosen.group(1) if chosen else None


def _kept(page: str) -> set[str]:
    return set(re.findall(r'<input type="checkbox" name="event" value="([^"]+)" checked', page))


def test_the_consensus_page_starts_from_what_the_raters_agree_on(tmp_path, database):
    built = build_consensus(database)
    client = _client(tmp_path, database)
    # wai-o-s: every item but 3 and 7 scored alike by both raters
    page = client.get(f"/studies/{built.study_id}/consensus/{built.whole_unit}/{built.wai}").get_data(as_text=True)
    assert {str(i): _selected(page, f"item-{i}") for i in range(1, 13)} == \
        {str(i): (None if i in (3, 7) else "4") for i in range(1, 13)}
    assert page.count('<span class="agreed">agreed</span>') == 10 and page.count('class="differs"') == 2
    assert "Hard to hear at the start." in page and "The client sounded tired." in page
    assert f'src="/units/{built.whole_unit}/audio"' in page

    url = f"/studies/{built.study_id}/consensus/{built.window_unit}/{built.markers}"
    page = client.get(url).get_data(as_text=True)
    assert _selected(page, "item-therapist_contribution") == "2" and _selected(page, "item-resolution") is None
    assert _selected(page, "marker-denial") == "3" and _selected(page, "marker-minimal_response") == "absent"
    assert _selected(page, "marker-complaint_therapist") is None  # seen by one rater only
    r1, r2 = built.ratings[("rater1", "markers")], built.ratings[("rater2", "markers")]
    # both placed denial (12.0 s and 14.5 s, within 5 s): one of the pair is ticked; the lone complaint is not
    assert _kept(page) == {f"{r1}:e1"}
    assert page.count('name="event"') == 3 and "you never listen" in page
    # the transcript of the first minute, and the events' times to play from
    assert "Good to see you again." in page and 'data-seek="41.0"' in page
    assert "How strongly did you believe it" in page and "homework" in page.lower()

    # the coordinator decides the rest, keeps rater1's denial and rater2's complaint
    answers = {f"marker-{m.id}": "absent" for m in instruments.builtin("rupture-markers").markers}
    answers.update({"marker-denial": "3", "marker-complaint_therapist": "2", "item-therapist_contribution": "2",
                    "item-resolution": "3", "event": [f"{r1}:e1", f"{r2}:e2"], "note": "complaint confirmed"})
    # a marker answered absent while one of its events is kept: refused, the coordinator's choices kept
    refused = client.post(url, data={**answers, "marker-denial": "absent"})
    assert flashes(refused)[0].startswith("Not recorded: ") and "denial" in flashes(refused)[0]
    page = refused.get_data(as_text=True)
    assert _kept(page) == {f"{r1}:e1", f"{r2}:e2"} and _selected(page, "marker-denial") == "absent"
    assert _selected(page, "item-resolution") == "3" and "complaint confirmed" in page
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(ConsensusRating)) == 0
    response = client.post(url, data=answers, follow_redirects=True)
    assert flashes(response) == ["Consensus recorded beside the independent ratings, which stay as they were."]
    with database.session() as db:
        consensus = db.scalar(select(ConsensusRating).where(ConsensusRating.rating_unit_id == built.window_unit))
        assert consensus.rating_ids == sorted([r1, r2])
        assert consensus.responses["events"] == [
            {"id": "e1", "code": "denial", "start": 12.0, "end": 18.5, "salience": 3, "note": "says it is fine"},
            {"id": "e2", "code": "complaint_therapist", "start": 41.0, "end": None, "salience": 2,
             "note": "you never listen"}]
        assert consensus.responses["markers"]["denial"] == 3 and consensus.responses["resolution"] == 3
        assert consensus.responses["markers"]["minimal_response"] == "absent"
        # the raters' own ratings stay as they were
        assert db.get(Rating, r1).responses["events"][0]["start"] == 12.0
    # the coordinator's view of one rating plays the unit too, with the rating's events
    rating = client.get(f"/ratings/{r2}").get_data(as_text=True)
    assert f'src="/units/{built.window_unit}/audio"' in rating and "you never listen" in rating
    assert 'data-seek="41.0"' in rating and "Good to see you again." in rating
    again = client.get(url).get_data(as_text=True)
    assert _kept(again) == {f"{r1}:e1", f"{r2}:e2"} and _selected(again, "item-resolution") == "3"


def test_the_units_audio_for_coordinators(tmp_path, database, listening_copy):
    import shutil

    built = build_consensus(database)
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    shutil.copytree(listening_copy, settings.playback_dir)
    client = _client(tmp_path, database)
    whole = client.get(f"/units/{built.window_unit}/audio", headers={"Range": "bytes=0-99"})
    assert whole.status_code == 206 and whole.headers["Content-Type"] == "audio/wav"
    assert whole.headers["Content-Range"] == f"bytes 0-99/{44 + 60 * 16000 * 2}"  # one minute at 16 kHz
    with database.session() as db:
        db.get(RatingUnit, built.window_unit).deleted_at = utcnow()
    assert client.get(f"/units/{built.window_unit}/audio").status_code == 404


def test_units_are_made_for_named_instruments_and_deleted_while_unrated(tmp_path, database):
    built = build(database, raters=("rater1", "rater2"))
    client = _client(tmp_path, database)
    with database.session() as db:
        study_id = db.scalar(select(Study.id))

    def add(**form):
        return flashes(client.post(f"/studies/{study_id}/units", data={"all": "1", **form}, follow_redirects=True))

    assert "choose the instrument(s) the units are for" in add(how="whole")[0]
    assert add(how="whole", instrument="rupture-markers") == [
        "No units added: rupture-markers is rated on 5-minute segments: cut 5-minute windows (or hand-picked "
        "ranges) for it."]
    assert "not 10-minute windows" in add(how="window", minutes="10", instrument="rupture-markers")[0]
    assert "wai-o-s is rated on whole sessions" in add(how="window", minutes="5", instrument="wai-o-s")[0]
    assert add(how="window", minutes="5", instrument="rupture-markers") == \
        ["1 rating unit(s) added for rupture-markers."]  # the demo session is under 3 minutes
    assert add(how="whole", instrument="wai-o-s") == ["1 rating unit(s) added for wai-o-s."]
    with database.session() as db:
        window, whole = db.scalars(select(RatingUnit).where(RatingUnit.instrument_keys.is_not(None))
                                   .order_by(RatingUnit.id)).all()
        assert (window.kind, window.instrument_keys, whole.kind) == ("fixed_window", ["rupture-markers"],
                                                                     "whole_session")
        window_id, whole_id = window.id, whole.id

    # a rupture-marker design takes the new window, not the whole-session units that name no instrument
    response = client.post(f"/studies/{study_id}/designs", data={"instrument": "rupture-markers", "kind": "crossed",
                                                                 "rater": ["rater1", "rater2"], "seed": "1"},
                           follow_redirects=True)
    assert flashes(response)[0].startswith("Design 1 (crossed, seed 1): 2 assignment(s) over 1 unit(s)")
    with database.session() as db:
        markers = db.scalar(select(Instrument).where(Instrument.key == "rupture-markers"))
        on_markers = set(db.scalars(select(Assignment.rating_unit_id).where(Assignment.instrument_id == markers.id)))
        assert window_id in on_markers and built.whole_unit not in on_markers and whole_id not in on_markers
        # by hand neither: a whole-session unit naming no instrument does not fit a segment instrument
        with pytest.raises(designs.DesignError, match="does not fit rupture-markers"):
            designs.assign(db, db.scalar(select(User).where(User.username == "rater2")),
                           [db.get(RatingUnit, built.whole_unit)], markers, None)
        with pytest.raises(designs.DesignError, match="is for wai-o-s, not rupture-markers"):
            designs.assign(db, db.scalar(select(User).where(User.username == "rater2")), [db.get(RatingUnit, whole_id)],
                           markers, None)

    # deleting: an unrated unit goes, its assignments withdrawn; a unit with a draft stays
    response = client.post(f"/units/{window_id}", data={"action": "delete", "reason": "cut by mistake"},
                           follow_redirects=True)
    assert flashes(response) == [f"Unit {window_id} deleted; 2 unrated assignment(s) withdrawn."]
    with database.session() as db:
        a = db.get(Assignment, built.assignments["rater1"][0])
        db.add(Rating(assignment_id=a.id, rater_id=a.rater_id, responses={"1": 3}, status="draft"))
    response = client.post(f"/units/{built.whole_unit}", data={"action": "delete"}, follow_redirects=True)
    assert flashes(response) == [f"Not deleted: unit {built.whole_unit} has ratings and cannot be deleted; ratings "
                                 "keep the unit they were made on."]
    assert client.post(f"/units/{window_id}", data={"action": "delete"}).status_code == 404  # gone already
    with database.session() as db:
        assert db.get(RatingUnit, window_id).deleted_at is not None
        assert db.get(RatingUnit, built.whole_unit).deleted_at is None
        assert db.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.rating_unit_id == window_id, Assignment.deleted_at.is_(None))) == 0
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "delete",
                                                   AuditEvent.entity == "rating_units"))
        assert event.detail["reason"] == "cut by mistake" and event.detail["assignments_withdrawn"] == 2
    page = client.get(f"/studies/{study_id}").get_data(as_text=True)
    assert f'>{built.whole_unit}: Whole session' in page and f">{window_id}: " not in page


DEFINITION = {"id": "focus", "name": "Session focus", "version": "1", "rating_unit": "session",
              "scale": {"min": 1, "max": 5}, "items": [{"id": "f1", "label": "Stays on the agenda"}]}


def test_instruments_are_stored_and_versioned_from_the_browser(tmp_path, database):
    built = build(database, raters=("rater1",))
    client = _client(tmp_path, database)
    page = client.get("/instruments").get_data(as_text=True)
    assert "/instruments/wai-o-s/1" in page and 'value="homework-engagement"' in page

    response = client.post("/instruments", data={"builtin": "homework-engagement"}, follow_redirects=True)
    assert flashes(response) == ["Stored homework-engagement version 1."]
    assert "rated on whole sessions" in response.get_data(as_text=True)

    # every problem with its field; nothing stored, the text kept
    bad = ("id: Focus\nname: ''\nversion: 1\nrating_unit: minutes\n"
           "items:\n  - {id: f1, label: x, scale: {min: 5, max: 1}}\n")
    response = client.post("/instruments", data={"text": bad})
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    problems = re.findall(r"<li>(.*?)</li>", body.split('class="instrument-problems"')[1].split("</ul>")[0])
    assert {p.split(":")[0] for p in problems} >= {"id", "name", "rating_unit"}, problems
    assert bad.strip() in body
    assert "line 1" in html.unescape(client.post("/instruments", data={"text": "id: [unclosed"}).get_data(
        as_text=True))

    upload = {"file": (io.BytesIO(yaml.safe_dump(DEFINITION).encode()), "focus.yaml")}
    response = client.post("/instruments", data=upload, content_type="multipart/form-data", follow_redirects=True)
    assert flashes(response) == ["Stored focus version 1."] and "Session focus" in response.get_data(as_text=True)
    changed = yaml.safe_dump({**DEFINITION, "name": "Session focus (revised)"})
    assert flashes(client.post("/instruments", data={"text": changed}, follow_redirects=True)) == \
        ["Updated focus version 1 (no rating uses it yet)."]
    assert flashes(client.post("/instruments", data={"text": changed}, follow_redirects=True)) == \
        ["focus version 1 was stored already, unchanged."]
    with database.session() as db:  # a rating on version 1: a changed definition becomes version 2
        row = db.scalar(select(Instrument).where(Instrument.key == "focus"))
        a = Assignment(rater_id=db.scalar(select(User.id).where(User.username == "rater1")),
                       rating_unit_id=built.whole_unit, instrument_id=row.id)
        db.add(a)
        db.flush()
        db.add(Rating(assignment_id=a.id, rater_id=a.rater_id, responses={"f1": 2}, status="draft"))
    response = client.post("/instruments", data={"text": yaml.safe_dump({**DEFINITION, "name": "Focus, v2"})},
                           follow_redirects=True)
    assert flashes(response) == ["Stored as focus version 2: version 1 has ratings and keeps the definition they "
                                 "were made with."]
    with database.session() as db:
        assert sorted(db.scalars(select(Instrument.version).where(Instrument.key == "focus"))) == ["1", "2"]
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.entity == "instruments", AuditEvent.actor_id.is_not(None))) == 4
    shown = client.get("/instruments/focus/1").get_data(as_text=True)
    assert "Session focus (revised)" in shown and 'href="/instruments/focus/2"' in shown
    assert client.get("/instruments/focus/9").status_code == 404
    rater = _client(tmp_path, database, "rater1")
    assert rater.get("/instruments").status_code == 403
