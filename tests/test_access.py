"""Access control: every route of the app, walked as every role, against the allowed set.

Two studies: "Trial R" (rated by rater1 and rater2, coordinated by coord_a) and "Trial B" (rated by ana
and ben, coordinated by coord_b, with a stored analysis); coord_none coordinates nothing; typist_r corrects the
transcripts of Trial R, typist_none those of no study. The table
``CASES`` names, for each endpoint, the objects its URLs point at and who may reach them; a route added to
the app without an entry here fails ``test_every_route_is_in_the_table``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from coder.study import instruments
from coder.rating import workspace
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.web.app import create_app
from coder.config import load_settings
from coder.study.models import (Analysis, Assignment, Rating, RatingUnit, Recording, Study, TherapySession, Dyad,
                                Transcript, User)

from .support.analysis_study import build_trial
from .support.rating_study import PASSWORD, SESSION_AUDIO, build
from .support.web import csrf_token, login

ROLES = ("anonymous", "rater1", "rater2", "ana", "coord_a", "coord_b", "coord_none", "typist_r", "typist_none")
COORDINATORS = {"coord_a": "R", "coord_b": "B", "coord_none": None}
TRANSCRIBERS = {"typist_r": "R", "typist_none": None}
RATERS = ("rater1", "rater2", "ana")
NOTE = "a note only rater2 wrote"


@dataclass
class World:
    app: object
    database: object
    ids: dict


def _full(definition) -> dict:
    return {item.id: definition.scale_of(item).min for item in definition.items}


@pytest.fixture
def world(tmp_path, database):
    built = build(database, raters=("rater1", "rater2"))
    trial = build_trial(database, dyads=8, sessions=3, seed=5, study_name="Trial B")
    ids: dict = {}
    with database.session() as db:
        study_r = db.scalar(select(Study).where(Study.name == "Trial R"))
        study_b = db.scalar(select(Study).where(Study.name == "Trial B"))
        for name, study in (("coord_a", study_r), ("coord_b", study_b), ("coord_none", None)):
            user = create_user(db, name, PASSWORD, "coordinator", name)
            if study is not None:
                grant(db, study, user, None)
        for name, study in (("typist_r", study_r), ("typist_none", None)):
            user = create_user(db, name, PASSWORD, "transcriber", name)
            if study is not None:
                grant(db, study, user, None)
        wai = instruments.builtin("wai-o-s")
        for rater, notes in (("rater1", ""), ("rater2", NOTE)):
            user = db.scalar(select(User).where(User.username == rater))
            a = db.get(Assignment, built.assignments[rater][0])
            workspace.submit(db, a, user, _full(wai), notes, 0)
        db.flush()

        def in_study(model, study):
            stmt = select(model)
            if model is not Recording:
                stmt = stmt.join(Recording, model.recording_id == Recording.id)
            return db.scalars(stmt.join(TherapySession, Recording.session_id == TherapySession.id)
                              .join(Dyad, TherapySession.dyad_id == Dyad.id)
                              .where(Dyad.study_id == study.id).order_by(model.id)).first()

        def rating_of(rater, study):
            return db.scalars(select(Rating).join(Assignment, Rating.assignment_id == Assignment.id)
                              .join(RatingUnit, Assignment.rating_unit_id == RatingUnit.id)
                              .join(Recording, RatingUnit.recording_id == Recording.id)
                              .join(TherapySession, Recording.session_id == TherapySession.id)
                              .join(Dyad, TherapySession.dyad_id == Dyad.id)
                              .join(User, Rating.rater_id == User.id)
                              .where(Dyad.study_id == study.id, User.username == rater)).first()

        # a unit of Trial B rated by both of its raters, for the consensus pages
        both = None
        for unit_id in trial_units(db, study_b):
            raters = {r.rater.username for r in db.scalars(select(Rating).join(Assignment).where(
                Assignment.rating_unit_id == unit_id))}
            if raters == {"ana", "ben"}:
                both = unit_id
                break
        b_assignment = db.scalar(select(Assignment).join(User, Assignment.rater_id == User.id)
                                 .where(User.username == "ana"))
        # the audio of ana's unit, and of the unit the coordinator's pages play, exists, so that their audio
        # requests are answered
        b_assignment.rating_unit.recording.path = str(SESSION_AUDIO)
        in_study(RatingUnit, study_b).recording.path = str(SESSION_AUDIO)
        ids = {
            "study": {"R": study_r.id, "B": study_b.id},
            "transcript": {"R": in_study(Transcript, study_r).id},
            "dyad": {"R": in_study(Transcript, study_r).recording.session.dyad_id},
            "unit": {"R": built.whole_unit, "B": in_study(RatingUnit, study_b).id},
            "consensus": {"R": (built.whole_unit, built.instrument_ids["wai-o-s"]),
                          "B": (both, b_assignment.instrument_id)},
            "rating": {"R": rating_of("rater1", study_r).id, "B": rating_of("ana", study_b).id},
            "instrument": {"R": "wai-o-s", "B": "homework-engagement"},
            "assignment": {"rater1": built.assignments["rater1"][0], "rater2": built.assignments["rater2"][0],
                           "ana": b_assignment.id},
            "rater_user": db.scalar(select(User).where(User.username == "ben")).id,
        }
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    login(client, "coord_b")
    study_url = f"/analysis/{ids['study']['B']}"
    rows = trial["clients"]
    body = "\n".join([",".join(rows[0]), *(",".join(str(v) for v in r.values()) for r in rows)]).encode()
    client.post(study_url + "/outcomes", data={"file": (io.BytesIO(body), "outcomes.csv")},
                content_type="multipart/form-data")
    done = client.post(study_url + "/run", data={"name0": "anxiety", "pre0": "hads_anx_pre",
                                                "post0": "hads_anx_post", "predictors": "homework_engagement_total",
                                                "unit": "mean", "dyad": "mean"})
    assert done.status_code == 302, done.get_data(as_text=True)
    with database.session() as db:
        ids["analysis"] = {"B": db.scalar(select(Analysis.id))}
    return World(app, database, ids)


def trial_units(db, study) -> list[int]:
    return list(db.scalars(select(RatingUnit.id).join(Recording, RatingUnit.recording_id == Recording.id)
                           .join(TherapySession, Recording.session_id == TherapySession.id)
                           .join(Dyad, TherapySession.dyad_id == Dyad.id).where(Dyad.study_id == study.id)))


# Who may reach an endpoint: "public", "user" (anyone logged in), "coordinator" (any coordinator),
# "study" (the coordinators of the study the URL points into), "transcriber" (any coordinator or transcriber),
# "transcript" (the coordinators and transcribers of the study of the transcript) or "rater" (the rater the
# assignment is for).
# Each case: (owner, URL template with {study}, {unit} ... filled from World.ids for the object's study
# or rater).
CASES: dict[str, tuple[str, list[str]]] = {
    "static": ("public", ["/static/rate.js"]),
    "auth.login": ("public", ["/login"]),
    "auth.logout": ("user", ["/logout"]),
    "auth.password": ("user", ["/account/password"]),
    "home.index": ("user", ["/"]),
    "rate.session_token": ("user", ["/session"]),
    "rate.page": ("rater", ["/rate/{assignment}"]),
    "rate.audio": ("rater", ["/rate/{assignment}/audio"]),
    "rate.save": ("rater", ["/rate/{assignment}/save"]),
    "rate.submit": ("rater", ["/rate/{assignment}/submit"]),
    "rate.next_unit": ("rater", ["/rate/{assignment}/next"]),
    "rate.preferences": ("user", ["/preferences"]),
    "ratings.index": ("coordinator", ["/ratings"]),
    "ratings.detail": ("study", ["/ratings/{rating}"]),
    "ratings.reopen": ("study", ["/ratings/{rating}/reopen"]),
    "transcripts.index": ("transcriber", ["/transcripts"]),
    "transcripts.page": ("transcript", ["/transcripts/{transcript}", "/transcripts/{transcript}?t=12"]),
    "transcripts.audio": ("transcript", ["/transcripts/{transcript}/audio"]),
    "transcripts.state": ("transcript", ["/transcripts/{transcript}/state"]),
    "transcripts.history": ("transcript", ["/transcripts/{transcript}/history"]),
    "transcripts.edit": ("transcript", ["/transcripts/{transcript}/edit"]),
    "transcripts.restore": ("transcript", ["/transcripts/{transcript}/restore"]),
    "transcripts.status": ("transcript", ["/transcripts/{transcript}/status"]),
    "transcripts.speaker": ("transcript", ["/transcripts/{transcript}/speaker"]),
    "transcripts.roles": ("transcript", ["/transcripts/{transcript}/roles"]),
    "transcripts.export": ("study", ["/transcripts/{transcript}/export/docx", "/transcripts/{transcript}/export/eaf"]),
    "transcripts.timeline": ("study", ["/transcripts/{transcript}/timeline.svg",
                                       "/transcripts/{transcript}/timeline.png"]),
    "trajectories.page": ("study", ["/studies/{study}/trajectories"]),
    "trajectories.picture": ("study", ["/studies/{study}/trajectories/{dyad}.svg",
                                       "/studies/{study}/trajectories/{dyad}.png"]),
    "trajectories.table": ("study", ["/studies/{study}/trajectories.csv"]),
    "deidentification.page": ("study", ["/transcripts/{transcript}/deidentify"]),
    "deidentification.state": ("study", ["/transcripts/{transcript}/deidentify/state"]),
    "deidentification.detect": ("study", ["/transcripts/{transcript}/deidentify/detect"]),
    "deidentification.decide": ("study", ["/transcripts/{transcript}/deidentify/decide"]),
    "deidentification.add": ("study", ["/transcripts/{transcript}/deidentify/add"]),
    "deidentification.apply": ("study", ["/transcripts/{transcript}/deidentify/apply"]),
    "deidentification.people": ("study", ["/transcripts/{transcript}/deidentify/people"]),
    "deidentification.log": ("study", ["/transcripts/{transcript}/deidentify/log.csv"]),
    "deidentification.export": ("study", ["/transcripts/{transcript}/deidentify/export/txt",
                                          "/transcripts/{transcript}/deidentify/export/docx"]),
    "reliability.index": ("coordinator", ["/reliability"]),
    "reliability.report": ("study", ["/reliability/{study}/{instrument}"]),
    "reliability.export": ("study", ["/reliability/{study}/{instrument}/export.csv",
                                     "/reliability/{study}/{instrument}/export.json"]),
    "reliability.events_export": ("study", ["/reliability/{study}/events.csv", "/reliability/{study}/events.zip"]),
    "analysis.index": ("coordinator", ["/analysis"]),
    "analysis.study_page": ("study", ["/analysis/{study}"]),
    "analysis.import_outcomes": ("study", ["/analysis/{study}/outcomes"]),
    "analysis.import_ratings": ("study", ["/analysis/{study}/ratings"]),
    "analysis.run": ("study", ["/analysis/{study}/run"]),
    "analysis.queue_measures": ("study", ["/analysis/{study}/measures"]),
    "analysis.table_file": ("study", ["/analysis/{study}/tables/dyads.csv", "/analysis/{study}/tables/tables.xlsx"]),
    "analysis.result": ("study", ["/analysis/result/{analysis}"]),
    "analysis.result_file": ("study", ["/analysis/result/{analysis}/results.csv",
                                       "/analysis/result/{analysis}/dyads.csv"]),
    "studies.new": ("coordinator", ["/studies/new"]),
    "raters.index": ("coordinator", ["/raters"]),
    "raters.change": ("coordinator", ["/raters/{rater_user}"]),
    "audit.trail": ("coordinator", ["/audit", "/audit?format=csv"]),
    "studies.page": ("study", ["/studies/{study}"]),
    "studies.coordinators": ("study", ["/studies/{study}/coordinators"]),
    "studies.participants": ("study", ["/studies/{study}/participants"]),
    "studies.transcript_settings": ("study", ["/studies/{study}/transcripts"]),
    "search.page": ("study", ["/studies/{study}/search", "/studies/{study}/search?q=homework"]),
    "search.make_units": ("study", ["/studies/{study}/search/units"]),
    "recordings.upload": ("study", ["/studies/{study}/upload"]),
    "recordings.manifest": ("study", ["/studies/{study}/manifest"]),
    "recordings.status": ("study", ["/studies/{study}/recordings.json"]),
    "recordings.process": ("study", ["/studies/{study}/process"]),
    "recordings.cancel": ("study", ["/studies/{study}/cancel"]),
    "units.add": ("study", ["/studies/{study}/units"]),
    "units.edit": ("study", ["/units/{unit}"]),
    "units.audio": ("study", ["/units/{unit}/audio"]),
    "instruments.index": ("coordinator", ["/instruments"]),
    "instruments.store": ("coordinator", ["/instruments"]),
    "instruments.show": ("coordinator", ["/instruments/wai-o-s/1"]),
    "designs.create": ("study", ["/studies/{study}/designs"]),
    "dashboard.page": ("study", ["/studies/{study}/dashboard"]),
    "calibration.page": ("study", ["/studies/{study}/calibration"]),
    "consensus.index": ("study", ["/studies/{study}/consensus"]),
    "consensus.unit": ("study", ["/studies/{study}/consensus/{consensus_unit}/{consensus_instrument}"]),
}


def _targets(world: World, owner: str, template: str) -> list[tuple[str, str | None]]:
    """(URL, the study or rater it belongs to) for each object the template can point at."""
    ids = world.ids
    if owner == "rater":
        return [(template.format(assignment=a), rater) for rater, a in ids["assignment"].items()]
    if owner not in ("study", "transcript"):
        return [(template.format(rater_user=ids["rater_user"]), None)]
    out = []
    for key, study_id in ids["study"].items():
        fields = {"study": study_id, "instrument": ids["instrument"][key]}
        for name in ("transcript", "unit", "rating", "analysis", "dyad"):
            if key in ids.get(name, {}):
                fields[name] = ids[name][key]
        unit, instrument = ids["consensus"][key]
        fields.update(consensus_unit=unit, consensus_instrument=instrument)
        try:
            out.append((template.format(**fields), key))
        except KeyError:  # the object exists in one study only
            continue
    return out


def _allowed(role: str, owner: str, belongs: str | None) -> bool:
    if owner == "public":
        return True
    if role == "anonymous":
        return False
    if owner == "user":
        return True
    if owner == "rater":
        return role == belongs
    if role in TRANSCRIBERS:
        return owner == "transcriber" or (owner == "transcript" and TRANSCRIBERS[role] == belongs)
    if owner == "transcriber":
        return role in COORDINATORS
    if role not in COORDINATORS:
        return False
    return owner == "coordinator" or COORDINATORS[role] == belongs


def _request(client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    if "/rate/" in url:  # the rating page's JSON API
        return client.post(url, json={}, headers={"Accept": "application/json"})
    return client.post(url, data={})


def test_every_route_is_in_the_table(world):
    endpoints = {rule.endpoint for rule in world.app.url_map.iter_rules()}
    assert endpoints == set(CASES), f"routes without an access rule: {endpoints - set(CASES)}; " \
                                    f"rules of no route: {set(CASES) - endpoints}"


def test_every_route_as_every_role(world):
    clients = {}
    for role in ROLES:
        clients[role] = world.app.test_client()
        if role != "anonymous":
            assert login(clients[role], role).status_code == 302
    checked = 0
    problems = []
    for rule in sorted(world.app.url_map.iter_rules(), key=lambda r: (r.endpoint == "auth.logout", r.rule)):
        owner, templates = CASES[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for template in templates:
                for url, belongs in _targets(world, owner, template):
                    for role in ROLES:
                        response = _request(clients[role], method, url)
                        to_login = response.status_code == 302 and "/login" in response.headers.get("Location", "")
                        if _allowed(role, owner, belongs):
                            refused = (403, 404) if rule.endpoint == "auth.login" else (401, 403, 404)
                            ok = response.status_code < 500 and response.status_code not in refused \
                                and not (to_login and rule.endpoint != "auth.logout")
                        elif role == "anonymous":
                            ok = to_login or response.status_code == 401
                        else:
                            ok = response.status_code in (403, 404)
                        if not ok:
                            problems.append(f"{role} {method} {url}: {response.status_code} "
                                            f"({'allowed' if _allowed(role, owner, belongs) else 'denied'})")
                        checked += 1
                        if rule.endpoint == "auth.logout" and role != "anonymous":
                            login(clients[role], role)
    assert not problems, "\n".join(problems)
    assert checked > 400


def test_a_rater_never_sees_another_raters_rating(world):
    """rater1 and rater2 rated the same unit; rater2's notes and rating reach no page rater1 can open."""
    client = world.app.test_client()
    login(client, "rater1")
    own = world.ids["assignment"]["rater1"]
    pages = [client.get(u) for u in ("/", f"/rate/{own}", "/session")]
    assert all(p.status_code == 200 for p in pages)
    assert not any(NOTE in p.get_data(as_text=True) for p in pages)
    for url in (f"/rate/{world.ids['assignment']['rater2']}", f"/ratings/{world.ids['rating']['R']}",
                f"/reliability/{world.ids['study']['R']}/wai-o-s/export.csv", "/ratings", "/audit?format=csv"):
        response = client.get(url)
        assert response.status_code in (403, 404) and NOTE not in response.get_data(as_text=True), url


def test_coordinators_see_only_their_studies(world):
    for role, visible, hidden in (("coord_a", "Trial R", "Trial B"), ("coord_b", "Trial B", "Trial R")):
        client = world.app.test_client()
        login(client, role)
        for url in ("/", "/reliability", "/analysis"):
            html = client.get(url).get_data(as_text=True)
            assert visible in html and hidden not in html, (role, url)
        overview = client.get("/ratings").get_data(as_text=True)
        assert visible in overview and hidden not in overview
        trail = client.get("/audit?format=csv").get_data(as_text=True)
        assert hidden not in trail
    client = world.app.test_client()
    login(client, "coord_none")
    html = client.get("/").get_data(as_text=True)
    assert "Trial R" not in html and "Trial B" not in html


def test_adding_and_removing_coordinators(world):
    study_r = world.ids["study"]["R"]
    a, none = world.app.test_client(), world.app.test_client()
    login(a, "coord_a")
    login(none, "coord_none")
    assert none.get(f"/studies/{study_r}").status_code == 404
    page = a.get(f"/studies/{study_r}").get_data(as_text=True)
    assert 'value="coord_a"' in page and "<option>coord_none</option>" in page
    a.post(f"/studies/{study_r}/coordinators", data={"action": "add", "new": "coord_none", "reason": "joins"})
    assert none.get(f"/studies/{study_r}").status_code == 200
    # the last coordinator stays
    for name in ("coord_none", "coord"):
        a.post(f"/studies/{study_r}/coordinators", data={"action": "remove", "username": name})
    refused = a.post(f"/studies/{study_r}/coordinators", data={"action": "remove", "username": "coord_a"},
                     follow_redirects=True)
    assert "only coordinator" in refused.get_data(as_text=True)
    assert none.get(f"/studies/{study_r}").status_code == 404 and a.get(f"/studies/{study_r}").status_code == 200
    trail = a.get("/audit?action=grant").get_data(as_text=True)
    assert "coord_none" in trail and "joins" in trail


def test_a_coordinator_cannot_deactivate_a_rater_working_in_other_studies(world):
    with world.database.session() as db:
        ben = db.scalar(select(User).where(User.username == "ben"))
        wai = db.scalar(select(Assignment.instrument_id).where(Assignment.id == world.ids["assignment"]["rater1"]))
        db.add(Assignment(rater_id=ben.id, rating_unit_id=world.ids["unit"]["B"], instrument_id=wai))
    a, b = world.app.test_client(), world.app.test_client()
    login(a, "coord_a")
    login(b, "coord_b")
    url = f"/raters/{world.ids['rater_user']}"
    refused = a.post(url, data={"action": "deactivate", "reason": "left"}, follow_redirects=True)
    assert "ben has 1 unrated assignment(s) in studies you do not coordinate" in refused.get_data(as_text=True)
    with world.database.session() as db:
        assert db.scalar(select(User.active).where(User.username == "ben"))
    b.post(url, data={"action": "deactivate", "reason": "left", "reassign": "1"})
    with world.database.session() as db:
        assert not db.scalar(select(User.active).where(User.username == "ben"))


def test_new_studies_belong_to_their_creator(world):
    client = world.app.test_client()
    login(client, "coord_none")
    response = client.post("/studies/new", data={"name": "Trial N"})
    assert response.status_code == 302
    assert client.get(response.headers["Location"]).status_code == 200
    other = world.app.test_client()
    login(other, "coord_a")
    assert other.get(response.headers["Location"]).status_code == 404


def test_csrf_is_required_on_every_state_changing_route(world):
    app = world.app
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        client = app.test_client()
        login_page = csrf_token(client)
        client.post("/login", data={"username": "coord_a", "password": PASSWORD, "csrf_token": login_page})
        for rule in app.url_map.iter_rules():
            if "POST" not in rule.methods or rule.endpoint == "auth.login":
                continue
            owner, templates = CASES[rule.endpoint]
            for template in templates:
                for url, _belongs in _targets(world, owner, template):
                    response = _request(client, "POST", url)
                    assert response.status_code == 400, (url, response.status_code)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
