"""The analysis pages: coordinators only; importing outcomes, downloading tables, running and reading an
analysis, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest
import pyreadstat

from coder.web.app import create_app
from coder.config import load_settings

from .support.analysis_study import build_trial, run_in_browser
from .support.rating_study import PASSWORD
from .support.web import csrf_token, login, without_tokens


@pytest.fixture
def app(tmp_path, database):
    built = build_trial(database, dyads=12, sessions=4, seed=11, study_name="Trial W")
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True})
    app.clients_rows = built["clients"]
    return app


def _csv(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def test_analysis_pages(app, tmp_path):
    client = app.test_client()
    login(client, "ana", PASSWORD)
    assert client.get("/analysis").status_code == 403 and client.get("/analysis/1").status_code == 403
    client = app.test_client()
    login(client, "coord", PASSWORD)
    html = client.get("/analysis").get_data(as_text=True)
    study_url = re.search(r'href="(/analysis/\d+)">Trial W', html).group(1)
    page = client.get(study_url).get_data(as_text=True)
    assert "mean over the unit&#39;s raters" in page and "→ 12 dyads" in page

    token = csrf_token(client, study_url)
    bad = client.post(study_url + "/outcomes", data={"csrf_token": token, "file": (io.BytesIO(
        b"client,hads_anx_pre\nC1,12\nC2,high\n"), "bad.csv")}, content_type="multipart/form-data",
        follow_redirects=True).get_data(as_text=True)
    assert "nothing imported" in bad and "row 3, column hads_anx_pre: &#39;high&#39; is not a number" in bad
    good = client.post(study_url + "/outcomes", data={"csrf_token": token, "file": (io.BytesIO(
        _csv(app.clients_rows)), "outcomes.csv")}, content_type="multipart/form-data",
        follow_redirects=True).get_data(as_text=True)
    assert "Imported 48 values of 12 clients" in good and "<code>sex</code> (text)" in good

    dyads = client.get(study_url + "/tables/dyads.csv?dyad=slope")
    assert dyads.status_code == 200 and dyads.mimetype == "text/csv"
    frame = pd.read_csv(io.StringIO(dyads.get_data(as_text=True)))
    assert len(frame) == 12 and "least-squares slope" in frame["aggregation"][0] and "hads_anx_pre" in frame
    sav = client.get(study_url + "/tables/sessions.sav")
    path = tmp_path / "sessions.sav"
    path.write_bytes(sav.get_data())
    sessions, meta = pyreadstat.read_sav(str(path))
    assert meta.file_label == "coder: unit=mean, session=mean" and len(sessions) > 12
    assert client.get(study_url + "/tables/tables.xlsx").status_code == 200
    assert client.get(study_url + "/tables/dyads.xlsx").status_code == 404
    assert client.get(study_url + "/tables/dyads.csv?unit=median").status_code == 400

    form = {"csrf_token": token, "title": "Engagement and anxiety", "name0": "anxiety",
            "pre0": "hads_anx_pre", "post0": "hads_anx_post", "predictors": "homework_engagement_total",
            "covariates": "age", "session_outcomes": "homework_engagement_completion",
            "session_predictors": "homework_engagement_determinants", "unit": "mean", "dyad": "mean"}
    done = client.post(study_url + "/run", data=form)
    assert done.status_code == 302
    result_url = done.headers["Location"]
    result = without_tokens(client.get(result_url).get_data(as_text=True))
    assert "Engagement and anxiety" in result and "anxiety: residualised change" in result
    assert "homework_engagement_determinants_within" in result and "<svg" in result
    assert "the results are identical to those stored" in result
    assert "Lord" in result or "No predictor correlates" in result
    table = pd.read_csv(io.StringIO(client.get(result_url + "/results.csv").get_data(as_text=True)))
    assert {"difference", "residualised", "multilevel"} == set(table["kind"])
    data = client.get(result_url + "/results.json").get_json()
    assert data["formulas"][0].startswith("anxiety_change ~") and len(data["data_sha256"]) == 64
    assert "<svg" in client.get(result_url + "/results.html").get_data(as_text=True)
    assert client.get(result_url + "/secrets.txt").status_code == 404
    listing = client.get(study_url).get_data(as_text=True)
    assert "Engagement and anxiety" in listing and data["data_sha256"][:12] in listing

    failed = client.post(study_url + "/run", data={"csrf_token": token, "unit": "mean", "dyad": "mean"},
                         follow_redirects=True).get_data(as_text=True)
    assert "The analysis did not run: nothing to fit" in failed


def test_an_analysis_in_a_real_browser(sqlite_database, tmp_path, live_server, chromium):
    """Upload outcomes, fill in the form, run, read the result: Chromium against the served app."""
    built = build_trial(sqlite_database, dyads=10, sessions=4, seed=2, study_name="Trial B")
    outcomes_csv = tmp_path / "outcomes.csv"
    outcomes_csv.write_bytes(_csv(built["clients"]))
    base = live_server(create_app(load_settings(home=tmp_path / "home", database_url=sqlite_database.url),
                                  sqlite_database))
    page = chromium.new_context().new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    run_in_browser(page, "Trial B", outcomes_csv)
    text = page.inner_text("main")
    assert "anxiety: residualised change (hads_anx_post adjusted for hads_anx_pre)" in text
    assert "identical to those stored" in text and "\nage\t" in text  # the imported covariate
    assert page.locator("svg.plot").count() >= 3  # two partial regression plots and the trajectories
    with page.expect_download() as download:
        page.click("text=results CSV")
    rows = pd.read_csv(download.value.path())
    assert set(rows["kind"]) == {"difference", "residualised"} and rows["n"].iloc[0] == 10


def test_ratings_made_elsewhere_from_the_analysis_page(app):
    """The study's long export, with one rater's ratings taken out of the database, imports them back: a check
    first, then the import, then the same file again (nothing changes); a bad file names its lines."""
    client = app.test_client()
    login(client, "coord", PASSWORD)
    html = client.get("/analysis").get_data(as_text=True)
    study_url = re.search(r'href="(/analysis/\d+)">Trial W', html).group(1)
    long = client.get(study_url + "/tables/long.csv").get_data()
    page = client.get(study_url).get_data(as_text=True)
    assert "Ratings made elsewhere" in page and 'value="homework-engagement:1"' in page
    token = csrf_token(client, study_url)

    def send(body: bytes, name: str, **form):
        return client.post(study_url + "/ratings", data={"csrf_token": token, "instrument": "homework-engagement:1",
                                                         "file": (io.BytesIO(body), name), **form},
                           content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)

    same = send(long, "long.csv", dry_run="1")
    n = len(pd.read_csv(io.BytesIO(long)))
    assert f"would import 0 ratings; {n} already here, unchanged" in same
    assert f"imported 0 ratings; {n} already here, unchanged" in send(long, "long.csv")
    bad = send(b"dyad,session,unit,rater,item,value\nD1,1,Whole session,ana,quantity,7\n", "bad.csv")
    assert "nothing imported" in bad and "line 2, column &#39;value&#39;: &#39;7&#39; is not on item quantity" in bad
    assert "Choose the instrument" in send(long, "long.csv", instrument="no-such-scale")
    paper = b"dyad,therapist,client,session,unit,rater,item,value\nD99,T99,C99,1,Whole session,ana,quantity,3\n"
    assert "no dyad &#39;D99&#39;" in send(paper, "paper.csv")
    done = send(paper, "paper.csv", register="1")
    assert "imported 1 ratings, 1 new dyads, 1 new sessions without a recording, 1 new units" in done
    dyads = pd.read_csv(io.BytesIO(client.get(study_url + "/tables/dyads.csv").get_data()))
    assert "D99" in set(dyads["dyad"])
