"""Stored session process measures: stored per unit and session with the definitions version and the transcript
revision, never shown stale, computed again by ``coder measures`` and by the measures job (whose failure keeps the
transcript); carried into the aggregation tables and exports, and offered to the analyses from the command line
and the web form, with the coefficients checked against statsmodels fitted directly to the exported tables."""
from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import statsmodels.api as sm
from sqlalchemy import select

from coder.pipeline.measures import DEFINITIONS_VERSION
from coder.study.measures import recording_measures, state, store_measures, stored_measures
from coder.study.models import Analysis, ProcessMeasures, RatingUnit, Recording

from .support import rating_study
from .support.analysis_study import build_trial, study_of
from .support.cli import coder
from .support.measures_study import transcribe_and_measure


def test_stored_measures_are_current_until_their_inputs_change(database, tmp_path):
    built = rating_study.build(database, raters=("rater1",))
    with database.session() as db:
        rec = db.get(Recording, built.recording_id)
        assert stored_measures(db, rec) is None and state(db, rec) == "missing"
        expected = recording_measures(rec, voice=True)
        store_measures(db, rec, voice=True)
    with database.session() as db:
        rec = db.get(Recording, built.recording_id)
        got = stored_measures(db, rec)
        assert state(db, rec) == "current" and got["voice"] is True
        assert (got["definitions_version"], got["revision"], got["review_status"]) == (DEFINITIONS_VERSION, 0,
                                                                                       "automatic")
        assert got["session"] == json.loads(json.dumps(expected["session"]))
        assert [u["unit_id"] for u in got["units"]] == [u["unit_id"] for u in expected["units"]]
        assert got["units"][1]["speakers"] == json.loads(json.dumps(expected["units"][1]["speakers"]))
        assert sum(t["arousal"] is not None for t in got["turns"]) > 10  # the timeline's arousal per turn
        assert got["synchrony"]["therapist->client"]["1"]["pairs"] > 0
        # a new revision of the transcript: the stored figures are stale and not shown
        transcript = rec.transcript
        transcript.segments = transcript.segments[:6]
        transcript.revision, transcript.status = 1, "in_review"
    with database.session() as db:
        rec = db.get(Recording, built.recording_id)
        assert stored_measures(db, rec) is None and state(db, rec) == "stale"
        row = db.query(ProcessMeasures).one()
        assert row.revision == 0 and row.figures["session"]["switches"] > 5  # kept, not shown
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}
    out = coder("measures", "--recording", str(built.recording_id), env=env)
    assert out.exit_code == 0 and "storing the measures of 1 recording" in out.stderr
    with database.session() as db:
        rec = db.get(Recording, built.recording_id)
        got = stored_measures(db, rec)
        assert (got["revision"], got["review_status"], got["session"]["switches"], got["voice"]) == \
            (1, "in_review", 5, False)
        # a unit removed: stale again; grouping by speaker prints without storing
        db.get(RatingUnit, built.window_units[0]).deleted_at = rec.created_at
    out = coder("measures", "--recording", str(built.recording_id), "--by", "speaker", env=env)
    assert out.exit_code == 0 and "SPEAKER_00" in out.stdout
    with database.session() as db:
        assert state(db, db.get(Recording, built.recording_id)) == "stale"
    assert coder("measures", "--recording", str(built.recording_id), "--voice", env=env).exit_code == 0
    # figures with the voice are not replaced by figures without it from the same inputs
    assert coder("measures", "--recording", str(built.recording_id), env=env).exit_code == 0
    with database.session() as db:
        got = stored_measures(db, db.get(Recording, built.recording_id))
        assert got["voice"] and built.window_units[0] not in [u["unit_id"] for u in got["units"]]


def test_the_measures_job_stores_them_and_a_failure_keeps_the_transcript(database, tmp_path):
    from coder.config import load_settings
    from coder.jobs import queue
    from coder.jobs.processing import measure_one

    built = rating_study.build(database, raters=("rater1",))
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    queue.configure(settings, database)
    huey = queue.make_huey(settings)
    huey.immediate = True  # the task runs as it is queued, through the registered "measures" task
    queue.enqueue_measures([built.recording_id], huey)
    with database.session() as db:
        rec = db.get(Recording, built.recording_id)
        got = stored_measures(db, rec)
        assert got["voice"] and got["session"]["speakers"]["client"]["f0_mean_hz"] > 150
        rec.path = str(tmp_path / "gone.ogg")  # the audio moved away
        rec.transcript.revision = 3
    assert measure_one(database, built.recording_id).startswith("measures not computed:")
    with database.session() as db:
        rec = db.get(Recording, built.recording_id)
        row = db.query(ProcessMeasures).one()
        assert "gone.ogg" in row.error and state(db, rec) == "failed" and stored_measures(db, rec) is None
        assert rec.transcript is not None and rec.transcript.revision == 3 and rec.status == "transcribed"


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    from coder.db import Database
    from coder.reports import outcomes

    path = tmp_path_factory.mktemp("measured")
    database = Database(f"sqlite:///{path / 'coder.db'}")
    database.migrate()
    built = build_trial(database, dyads=24, sessions=4, seed=13, study_name="Trial M")
    assert transcribe_and_measure(database, "Trial M") > 60
    outcome_csv = path / "outcomes.csv"
    with open(outcome_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(built["clients"][0]))
        writer.writeheader()
        writer.writerows(built["clients"])
    with database.session() as db:
        outcomes.import_csv(db, study_of(db, "Trial M"), outcome_csv)
    yield database, path
    database.dispose()


SHARE, PAUSE = "pm_cl_speaking_share", "pm_cl_switching_pause_mean_s"


def test_the_tables_and_exports_carry_the_measures(trial, tmp_path):
    database, _ = trial
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}
    out = coder("aggregate", "--study", "Trial M", "--out", tmp_path / "t", env=env, timeout=300)
    assert out.exit_code == 0, out.stderr
    units, sessions, dyads = (pd.read_csv(tmp_path / "t" / f"{n}.csv") for n in ("units", "sessions", "dyads"))
    with database.session() as db:
        rec = db.get(Recording, db.scalar(select(Recording.id).order_by(Recording.id)))
        first, session_id = stored_measures(db, rec), rec.session_id
    # the unit's and the session's own figures; the dyad's the mean over its sessions (the dyad rule)
    unit = units[units["unit_id"] == first["units"][0]["unit_id"]].iloc[0]
    assert unit[SHARE] == pytest.approx(first["units"][0]["speakers"]["client"]["speaking_share"], rel=1e-12)
    session = sessions[sessions["session_id"] == session_id].iloc[0]
    assert session[PAUSE] == pytest.approx(first["session"]["speakers"]["client"]["switching_pause_mean_s"],
                                           rel=1e-12)
    assert session["pm_definitions_version"] == DEFINITIONS_VERSION and session["pm_review_status"] == "automatic"
    for code, mine in sessions.groupby("dyad"):
        row = dyads[dyads["dyad"] == code].iloc[0]
        assert row[SHARE] == pytest.approx(mine[SHARE].mean(), rel=1e-12)
        assert row["pm_n_sessions"] == len(mine)
    assert "pm_th_f0_mean_hz" not in sessions.columns  # no audio here: the voice columns are left out
    book = pd.read_csv(tmp_path / "t" / "codebook.csv")
    label = book[(book["table"] == "dyads") & (book["variable"] == PAUSE)]["label"].iloc[0]
    assert label == f"client: switching pause before their turns, mean (s; measures v{DEFINITIONS_VERSION})"
    # the same columns, labelled, in SPSS and Stata
    sav, meta = pyreadstat.read_sav(str(tmp_path / "t" / "sessions.sav"))
    assert meta.column_names_to_labels[SHARE].startswith("client: speaking share (0-1")
    np.testing.assert_allclose(sav[SHARE], sessions[SHARE], rtol=1e-12)
    dta = pd.read_stata(tmp_path / "t" / "dyads.dta")
    np.testing.assert_allclose(dta[SHARE], dyads[SHARE], rtol=1e-12)
    slope = coder("aggregate", "--study", "Trial M", "--dyad", "slope", "--out", tmp_path / "s", "--format", "csv",
                  env=env, timeout=300)
    assert slope.exit_code == 0
    sloped = pd.read_csv(tmp_path / "s" / "dyads.csv").set_index("dyad")
    one = sessions[sessions["dyad"] == sessions["dyad"].iloc[0]]
    assert sloped.loc[one["dyad"].iloc[0], SHARE] == pytest.approx(np.polyfit(one["session"], one[SHARE], 1)[0])


def _check_change_models(result: dict, dyads: pd.DataFrame) -> None:
    """The change models against statsmodels' OLS fitted directly to the exported dyad table (statsmodels
    0.14, ``sm.OLS``)."""
    sample = dyads.dropna(subset=["hads_anx_pre", "hads_anx_post", SHARE, PAUSE])
    ones = np.ones(len(sample))
    difference, residualised = result["changes"][0]["models"]
    for model, y, X in ((difference, sample["hads_anx_post"] - sample["hads_anx_pre"],
                         np.column_stack([ones, sample[SHARE], sample[PAUSE]])),
                        (residualised, sample["hads_anx_post"],
                         np.column_stack([ones, sample["hads_anx_pre"], sample[SHARE], sample[PAUSE]]))):
        ref = sm.OLS(np.asarray(y, float), X).fit()
        assert [c["term"] for c in model["coefficients"]][-2:] == [SHARE, PAUSE]
        np.testing.assert_allclose([c["estimate"] for c in model["coefficients"]], ref.params, rtol=1e-8)
        np.testing.assert_allclose([c["se"] for c in model["coefficients"]], ref.bse, rtol=1e-8)
        assert model["n"] == len(sample) > 20


def test_an_analysis_with_talk_share_and_switching_pause_from_the_command_line(trial, tmp_path):
    database, _ = trial
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}
    assert coder("aggregate", "--study", "Trial M", "--out", tmp_path / "t", "--format", "csv", env=env,
                 timeout=300).exit_code == 0
    out = coder("analyze", "--study", "Trial M", "--change", "anxiety=hads_anx_pre:hads_anx_post",
                "--predictor", SHARE, "--predictor", PAUSE, "--session-outcome", "homework_engagement_total",
                "--session-predictor", SHARE, "--session-predictor", PAUSE, "--no-random-slopes",
                "--no-therapist-level", "--no-store", "--json", env=env, timeout=300)
    assert out.exit_code == 0, out.stderr
    result = json.loads(out.stdout)["results"]
    _check_change_models(result, pd.read_csv(tmp_path / "t" / "dyads.csv"))
    # the two-level model against statsmodels' MixedLM on the exported session table, centred by hand
    s = pd.read_csv(tmp_path / "t" / "sessions.csv").dropna(subset=["homework_engagement_total", SHARE, PAUSE])
    columns = [np.ones(len(s))]
    for x in (SHARE, PAUSE):
        between = s["dyad"].map(s.groupby("dyad")[x].mean()).to_numpy()
        columns += [s[x].to_numpy() - between, between]
    ref = sm.MixedLM(s["homework_engagement_total"].to_numpy(), np.column_stack(columns),
                     groups=s["dyad"].to_numpy()).fit(reml=True)
    (m,) = result["session_models"]
    assert [c["term"] for c in m["coefficients"]] == ["Intercept", f"{SHARE}_within", f"{SHARE}_between",
                                                      f"{PAUSE}_within", f"{PAUSE}_between"]
    np.testing.assert_allclose([c["estimate"] for c in m["coefficients"]], ref.fe_params, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose([c["se"] for c in m["coefficients"]], ref.bse_fe, rtol=1e-6)


def test_an_analysis_with_talk_share_and_switching_pause_from_the_web_form(trial, tmp_path):
    from coder.config import load_settings
    from coder.web.app import create_app

    from .support.rating_study import PASSWORD
    from .support.web import csrf_token, login

    database, _ = trial
    app = create_app(load_settings(home=tmp_path / "home", database_url=database.url), database, {"TESTING": True})
    client = app.test_client()
    login(client, "coord", PASSWORD)
    with database.session() as db:
        url = f"/analysis/{study_of(db, 'Trial M').id}"
    page = client.get(url).get_data(as_text=True)
    assert re.search(r'<p id="measure-states">\d+ current</p>', page) and 'id="measures-form"' not in page
    assert f'name="predictors" value="{SHARE}"' in page and f'name="session_covariates" value="{PAUSE}"' in page
    token = csrf_token(client, url)
    done = client.post(url + "/run", data={"csrf_token": token, "title": "talk", "name0": "anxiety",
                                           "pre0": "hads_anx_pre", "post0": "hads_anx_post",
                                           "predictors": [SHARE, PAUSE], "unit": "mean", "dyad": "mean"})
    assert done.status_code == 302, done.get_data(as_text=True)
    dyads = pd.read_csv(io.StringIO(client.get(url + "/tables/dyads.csv").get_data(as_text=True)))
    with database.session() as db:
        row = db.query(Analysis).filter(Analysis.title == "talk").one()
        assert row.data["variables"]["measures"][:2] and SHARE in row.data["variables"]["measures"]
        _check_change_models(row.results, dyads)
        assert client.get(done.headers["Location"]).status_code == 200
        rec = db.get(Recording, db.scalar(select(Recording.id).order_by(Recording.id)))
        share = stored_measures(db, rec)["session"]["speakers"]["client"]["speaking_share"]
        assert f"<td>{share:.2f}</td>" in page and 'id="measures-table"' in page
        rec.transcript.revision = 1  # a reviewed revision: stale
    page = client.get(url).get_data(as_text=True)
    assert re.search(r'<p id="measure-states">\d+ current · 1 stale</p>', page) and 'id="measures-form"' in page
    # the button queues the measures job; without the audio it fails, with the reason on the page
    from coder.jobs import queue

    queue.configure(load_settings(home=tmp_path / "home", database_url=database.url), database)
    app.extensions["coder.huey"].immediate = True
    queued = client.post(url + "/measures", data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    assert "1 recording(s) queued for their session process measures." in queued
    assert ("failed: measures not computed: cannot read the audio /nonexistent/Trial M/D1/1/Whole session.wav: "
            "file not found") in queued and re.search(r'<p id="measure-states">\d+ current · 1 failed</p>', queued)
    with database.session() as db:
        store_measures(db, db.get(Recording, db.scalar(select(Recording.id).order_by(Recording.id))), voice=False)


def test_verifying_a_transcript_queues_its_measures_again(trial, tmp_path):
    """Marking a corrected transcript verified queues its measures job (here run at once by the queue); the job
    fails for want of the audio, and says so, which shows it ran on the verified revision."""
    from coder.config import load_settings
    from coder.jobs import queue
    from coder.web.app import create_app

    from .support.rating_study import PASSWORD
    from .support.web import csrf_token, login

    database, _ = trial
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True})
    queue.configure(settings, database)
    app.extensions["coder.huey"].immediate = True
    client = app.test_client()
    login(client, "coord", PASSWORD)
    with database.session() as db:
        rec = db.get(Recording, db.scalar(select(Recording.id).order_by(Recording.id)))
        assert state(db, rec) == "current"
        rec.transcript.revision = 1  # corrected since the measures were stored
        tid, url = rec.transcript.id, f"/analysis/{study_of(db, 'Trial M').id}"
    JSON = {"Accept": "application/json", "X-CSRFToken": csrf_token(client, url)}
    saved = client.post(f"/transcripts/{tid}/status", json={"status": "in_review"}, headers=JSON)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    with database.session() as db:
        assert state(db, db.get(Recording, db.scalar(select(Recording.id).order_by(Recording.id)))) == "stale"
    saved = client.post(f"/transcripts/{tid}/status", json={"status": "verified"}, headers=JSON)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    with database.session() as db:
        assert state(db, db.get(Recording, db.scalar(select(Recording.id).order_by(Recording.id)))) == "failed"
    assert re.search(r'<p id="measure-states">\d+ current · 1 failed</p>', client.get(url).get_data(as_text=True))
