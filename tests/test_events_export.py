"""Coded events out of the database: the reliability report's markers and events section, event rates in the
aggregation tables, the CSV and ELAN exports (read back with pympi), ``coder events export`` and the
coordinator's download; only live, submitted ratings count.

The study is Trial R of tests/support/rating_study.py: two one-minute windows (0–60 s and 60–120 s of the
recording) on the 3RS rupture markers (tolerance 5 s), rated by rater1 and rater2:

    window 1  rater1: denial 10–15 s (salience 3, "looks away"), control at 30 s (2)
              rater2: denial 12–14 s (3), control at 36 s (2)
    window 2  rater1: denial at 5 s (4); clarify present without an event (2)
              rater2: no events; clarify present (2)

Timing, worked by hand: denial 10 ↔ 12 match (2 s apart; offsets 15 ↔ 14, 1 s), rater1's 5 s in window 2 has
no partner: 2·1/(2 + 1) = 2/3; control 30 ↔ 36 is 6 s apart: 0/2; overall 2·1/5 = 0.4.
Presence (units × raters, 1 present): denial [1, 1 | 1, 0], control [1, 1 | 0, 0], clarify [0, 0 | 1, 1],
the other 17 markers absent throughout.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import numpy as np
import pandas as pd
import pympi
import pytest
from sqlalchemy import select

from coder.config import load_settings
from coder.rating.events import Coded, coded_ratings, event_table
from coder.rating.scores import ratings_table
from coder.reports import aggregation, event_export, reliability_report as rr
from coder.stats import agreement
from coder.study import instruments
from coder.study.accounts import create_user
from coder.study.models import Assignment, Instrument, Rating, Study, User
from coder.web.app import create_app

from .support.browser import accessibility_problems, log_in
from .support.cli import coder
from .support.rating_study import PASSWORD, build
from .support.web import login

KEY = "rupture-markers"
SUBMITTED = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


def event(event_id: str, code: str, start: float, end: float | None, salience: int, note: str = "") -> dict:
    return {"id": event_id, "code": code, "start": start, "end": end, "salience": salience, "note": note}


PLAN = {  # rater -> window -> (events, unit-level answers besides the events' markers)
    "rater1": [([event("e1", "denial", 10.0, 15.0, 3, "looks away"), event("e2", "control", 30.0, None, 2)], {}),
               ([event("e1", "denial", 5.0, None, 4)], {"clarify": 2})],
    "rater2": [([event("e1", "denial", 12.0, 14.0, 3), event("e2", "control", 36.0, None, 2)], {}),
               ([], {"clarify": 2})],
}


def responses(definition, events: list[dict], present: dict[str, int]) -> dict:
    """Complete responses: both items, every marker answered (a salience where present or placed, else
    "absent") and the events; checked as the rating page would check them before submitting."""
    marked = {**{e["code"]: e["salience"] for e in events}, **present}
    out = {"therapist_contribution": 2, "resolution": 3,
           instruments.MARKERS: {m.id: marked.get(m.id, instruments.ABSENT) for m in definition.markers},
           instruments.EVENTS: events}
    assert instruments.check_responses(definition, out, submit=True, duration=60.0) == []
    return out


@pytest.fixture
def coded_study(database):
    return plant(database)


def plant(database):
    """Trial R with the plan's submitted ratings, a draft of rater3 and a deleted rating of rater4 (both with
    events that must not count)."""
    built = build(database, raters=("rater1", "rater2"))
    instrument_id = built.instrument_ids[KEY]
    with database.session() as db:
        definition = instruments.stored(db.get(Instrument, instrument_id))
        users = {name: db.scalar(select(User).where(User.username == name))
                 for name in ("rater1", "rater2")}
        users["rater3"] = create_user(db, "rater3", PASSWORD, "rater", "Rater 3")
        users["rater4"] = create_user(db, "rater4", PASSWORD, "rater", "Rater 4")
        db.flush()
        plan = {**PLAN, "rater3": [([event("e1", "denial", 11.0, None, 5)], {})],
                "rater4": [([event("e1", "control", 31.0, None, 5)], {})]}
        for rater, windows in plan.items():
            for unit_id, (events, present) in zip(built.window_units, windows):
                assignment = db.scalar(select(Assignment).where(Assignment.rater_id == users[rater].id,
                                                                Assignment.rating_unit_id == unit_id))
                if assignment is None:
                    assignment = Assignment(rater_id=users[rater].id, rating_unit_id=unit_id,
                                            instrument_id=instrument_id)
                    db.add(assignment)
                    db.flush()
                draft = rater == "rater3"
                db.add(Rating(assignment_id=assignment.id, rater_id=users[rater].id,
                              responses=responses(definition, events, present),
                              status="draft" if draft else "submitted", submitted_at=None if draft else SUBMITTED,
                              deleted_at=SUBMITTED if rater == "rater4" else None))
    return built


def _study(db) -> Study:
    return db.scalar(select(Study).where(Study.name == "Trial R"))


# --- the reliability report --------------------------------------------------------------------------------

def test_the_report_gives_timing_and_presence_agreement_on_the_stored_events(database, coded_study):
    with database.session() as db:
        study = _study(db)
        definition, table = ratings_table(db, study, KEY)
        coded = coded_ratings(db, study, KEY, definition.version)
    assert {(c.rater, c.unit_id) for c in coded} == {(r, u) for r in ("rater1", "rater2")
                                                      for u in coded_study.window_units}
    report = rr.build(table, definition, "Trial R", n_boot=0, coded=coded)
    section = report["events"]
    assert section["tolerance_s"] == 5 and section["spans"] is True and section["marker_answers"] == "required"
    timing = section["timing"]
    assert timing["overall"]["value"] == pytest.approx(0.4) and timing["n_pairs"] == 1
    codes = {c["code"]: c for c in timing["codes"]}
    assert codes["denial"]["value"] == pytest.approx(2 / 3) and codes["denial"]["kind"] == "withdrawal"
    assert codes["denial"]["mean_onset_difference"] == pytest.approx(2.0)
    assert codes["denial"]["mean_offset_difference"] == pytest.approx(1.0)
    assert codes["control"]["value"] == 0 and codes["clarify"]["value"] is None
    kinds = {k["kind"]: k for k in timing["kinds"]}
    assert kinds["withdrawal"]["value"] == pytest.approx(2 / 3) and kinds["resolution"]["value"] is None
    # presence: against the validated coefficients on the table worked by hand
    presence = {m["marker"]: m for m in section["presence"]["markers"]}
    denial = np.array([[1, 1], [1, 0]], dtype=float)
    assert presence["denial"]["percent_agreement"]["value"] == pytest.approx(0.5)
    assert presence["denial"]["n_present"] == 3
    pooled = np.zeros((40, 2))
    pooled[:4] = [[1, 1], [1, 0], [1, 1], [1, 1]]  # denial (two units), control, clarify
    got = section["presence"]["pooled"]
    assert got["n_units"] == 40 and got["n_present"] == 7
    assert got["percent_agreement"]["value"] == pytest.approx(39 / 40)
    assert got["cohen_kappa"]["value"] == pytest.approx(agreement.cohen_kappa(pooled[:, 0], pooled[:, 1]).value)
    assert got["gwet_ac1"]["value"] == pytest.approx(agreement.gwet_ac(pooled, None, [0, 1]).value)
    assert got["fleiss_kappa"]["value"] == pytest.approx(agreement.fleiss_kappa(pooled, [0, 1]).value)
    withdrawal = next(k for k in section["presence"]["kinds"] if k["kind"] == "withdrawal")
    assert withdrawal["n_units"] == 14 and withdrawal["percent_agreement"]["value"] == pytest.approx(13 / 14)
    assert presence["denial"]["cohen_kappa"]["value"] == pytest.approx(
        agreement.cohen_kappa(denial[:, 0], denial[:, 1]).value)
    # the tidy rows carry both parts, the tolerance named
    rows = rr.to_rows(report)
    timing_rows = rows[(rows["section"] == "event timing") & (rows["measure"] == "events") & rows["rater_a"].isna()]
    assert "±5 s" in timing_rows["statistic"].iloc[0] and timing_rows["value"].iloc[0] == pytest.approx(0.4)
    ac1 = rows[(rows["section"] == "marker presence") & (rows["measure"] == "markers")
               & (rows["statistic"] == "presence: Gwet's AC1")]
    assert ac1["value"].iloc[0] == pytest.approx(got["gwet_ac1"]["value"])
    # without the coded ratings (or markers) the report has no such section
    assert rr.build(table, definition, "Trial R", n_boot=0)["events"] is None


def test_the_command_and_the_page_show_the_event_section(database, coded_study, tmp_path):
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}
    out = coder("reliability", "--study", "Trial R", "--instrument", KEY, "--bootstrap", "0", env=env, check=True)
    assert "Event timing: starts within ±5 s match" in out.stdout
    assert "all codes" in out.stdout and "0.400" in out.stdout
    assert "Markers present per unit" in out.stdout
    app = create_app(load_settings(home=tmp_path / "home", database_url=database.url), database, {"TESTING": True})
    client = app.test_client()
    login(client, "coord")
    with database.session() as db:
        study_id = _study(db).id
    page = client.get(f"/reliability/{study_id}/{KEY}?bootstrap=0")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Markers and events" in html and "tolerance ±5 s" in html and "40 %" in html
    assert f"/reliability/{study_id}/events.csv?instrument={KEY}" in html


# --- event rates ---------------------------------------------------------------------------------------------

def test_event_rates_per_session_sit_beside_the_marker_counts(database, coded_study):
    with database.session() as db:
        tables = aggregation.aggregate(db, _study(db), keys=[KEY])
    stem = "rupture_markers"
    long = tables.long.set_index(["rater", "unit"])
    assert long.loc[("rater1", "Minute 1"), f"{stem}_withdrawal_events"] == 1
    assert long.loc[("rater1", "Minute 1"), f"{stem}_withdrawal_events_per_hour"] == pytest.approx(60)
    assert long.loc[("rater2", "Minute 2"), f"{stem}_withdrawal_events"] == 0
    units = tables.units.set_index("unit")
    assert units.loc["Minute 2", f"{stem}_withdrawal_events"] == pytest.approx(0.5)  # mean over the raters
    session = tables.sessions.iloc[0]
    # withdrawal: 1 + 0.5 events over the two rated minutes → 1.5 / (2/60 h) = 45 per hour
    assert session[f"{stem}_withdrawal_events"] == pytest.approx(1.5)
    assert session[f"{stem}_withdrawal_events_per_hour"] == pytest.approx(45)
    assert session[f"{stem}_confrontation_events"] == pytest.approx(1)
    assert session[f"{stem}_confrontation_events_per_hour"] == pytest.approx(30)
    assert session[f"{stem}_resolution_events"] == 0 and session[f"{stem}_resolution_events_per_hour"] == 0
    assert f"{stem}_withdrawal_n" in tables.sessions.columns  # the marker counts stay
    assert "per hour of rated unit time" in tables.labels[f"{stem}_withdrawal_events_per_hour"]
    assert tables.dyads.iloc[0][f"{stem}_withdrawal_events_per_hour"] == pytest.approx(45)


# --- exports -------------------------------------------------------------------------------------------------

def test_the_csv_holds_every_submitted_event_in_recording_time(database, coded_study, tmp_path):
    with database.session() as db:
        coded = coded_ratings(db, _study(db))
    written = event_export.write(coded, tmp_path / "out", "csv")
    rows = list(csv.DictReader(io.StringIO(written[0].read_text())))
    assert [(r["rater"], r["unit"], r["code"], r["start"], r["end"]) for r in rows] == [
        ("rater1", "Minute 1", "denial", "10.0", "15.0"), ("rater1", "Minute 1", "control", "30.0", ""),
        ("rater2", "Minute 1", "denial", "12.0", "14.0"), ("rater2", "Minute 1", "control", "36.0", ""),
        ("rater1", "Minute 2", "denial", "65.0", ""),  # 60 s (the unit's start) + 5 s
    ]
    first = rows[0]
    assert (first["study"], first["dyad"], first["session"], first["recording"], first["kind"], first["salience"],
            first["note"], first["instrument"]) == ("Trial R", "D1", "3", "D1_session3_week4.ogg", "withdrawal", "3",
                                                   "looks away", KEY)
    assert rows[4]["unit_time_start"] == "5.0" and rows[4]["unit_start_s"] == "60.0"
    assert not any(r["rater"] in ("rater3", "rater4") for r in rows)  # a draft, a deleted rating


def test_the_eaf_files_read_back_with_pympi(database, coded_study, tmp_path):
    with database.session() as db:
        coded = coded_ratings(db, _study(db))
    written = event_export.write(coded, tmp_path / "out", "eaf")
    assert [p.name for p in written] == [f"D1_session3_week4-{KEY}.eaf"]
    eaf = pympi.Elan.Eaf(str(written[0]))
    assert set(eaf.get_tier_names()) == {"units", "rater1 denial", "rater1 control", "rater2 denial",
                                        "rater2 control"}
    assert sorted(eaf.get_annotation_data_for_tier("rater1 denial")) == [(10000, 15000, "3: looks away"),
                                                                          (65000, 65500, "4")]
    assert eaf.get_annotation_data_for_tier("rater2 control") == [(36000, 36500, "2")]  # a moment: 0.5 s
    assert sorted(eaf.get_annotation_data_for_tier("units")) == [(0, 60000, "Minute 1"), (60000, 120000, "Minute 2")]
    assert eaf.tiers["rater2 denial"][2]["PARTICIPANT"] == "rater2"
    media = eaf.get_linked_files()
    assert media and media[0]["MEDIA_URL"].endswith("demo_session.ogg")


def test_overlapping_events_of_one_code_go_on_a_second_tier_with_their_times_kept(tmp_path):
    definition = instruments.builtin(KEY)
    coded = Coded(1, KEY, definition.version, definition, "S", "D1", 1, 1, 7, "s1.wav", "/data/s1.wav", 1,
                  "Segment 1", 300.0, 600.0, "ana",
                  events=[event("a", "denial", 10.0, 40.0, 3), event("b", "denial", 20.0, None, 2),
                          event("c", "denial", 50.0, None, 1, "late")])
    (tmp_path / "s1.eaf").write_text(event_export.eaf_text([coded]))
    eaf = pympi.Elan.Eaf(str(tmp_path / "s1.eaf"))
    assert sorted(eaf.get_annotation_data_for_tier("ana denial")) == [(310000, 340000, "3"),
                                                                       (350000, 350500, "1: late")]
    assert eaf.get_annotation_data_for_tier("ana denial (2)") == [(320000, 320500, "2")]
    assert event_export.annotation_value(None, "only a note") == "only a note"
    table = event_table([coded])
    assert table["start"].tolist() == [310.0, 320.0, 350.0] and table["end"].isna().tolist() == [False, True, True]


def test_the_command_exports_csv_and_eaf_and_refuses_what_it_cannot(database, coded_study, tmp_path):
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}
    out = coder("events", "export", "Trial R", "--format", "csv", "--out", tmp_path / "csv", env=env, check=True)
    assert "5 events in 4 submitted ratings" in out.stdout
    assert len(pd.read_csv(tmp_path / "csv" / "events.csv")) == 5
    coder("events", "export", "Trial R", "--format", "eaf", "--out", tmp_path / "eaf", "--instrument", f"{KEY}:2",
          env=env, check=True)
    assert [p.name for p in (tmp_path / "eaf").iterdir()] == [f"D1_session3_week4-{KEY}.eaf"]
    refused = coder("events", "export", "Trial R", "--out", tmp_path / "none", "--instrument", "wai-o-s", env=env)
    assert refused.exit_code != 0 and "no submitted ratings on an instrument with markers (wai-o-s)" in refused.stderr
    unknown = coder("events", "export", "No such study", "--out", tmp_path / "none", env=env)
    assert unknown.exit_code != 0 and "No such study" in unknown.stderr
    bad = coder("events", "export", "Trial R", "--format", "xlsx", "--out", tmp_path / "none", env=env)
    assert bad.exit_code == 2


def test_coordinators_download_the_events_and_raters_do_not(database, coded_study, tmp_path):
    app = create_app(load_settings(home=tmp_path / "home", database_url=database.url), database, {"TESTING": True})
    with database.session() as db:
        study_id = _study(db).id
    coordinator = app.test_client()
    login(coordinator, "coord")
    body = coordinator.get(f"/reliability/{study_id}/events.csv").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(body)))) == 5
    archive = zipfile.ZipFile(io.BytesIO(coordinator.get(f"/reliability/{study_id}/events.zip").data))
    assert archive.namelist() == [f"D1_session3_week4-{KEY}.eaf"]
    assert coordinator.get(f"/reliability/{study_id}/events.xlsx").status_code == 404
    rater = app.test_client()
    login(rater, "rater1")
    response = rater.get(f"/reliability/{study_id}/events.csv")
    assert response.status_code in (403, 404) and "looks away" not in response.get_data(as_text=True)


def test_the_event_section_of_the_page_passes_axe(sqlite_database, tmp_path, live_server, chromium):
    plant(sqlite_database)
    url = live_server(create_app(load_settings(home=tmp_path / "home", database_url=sqlite_database.url),
                                 sqlite_database))
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    log_in(page, url, "coord", PASSWORD)
    with sqlite_database.session() as db:
        study_id = _study(db).id
    page.goto(f"{url}/reliability/{study_id}/{KEY}?bootstrap=0#events")
    assert page.locator("#event-timing-table").is_visible()
    assert accessibility_problems(page) == []
    context.close()
