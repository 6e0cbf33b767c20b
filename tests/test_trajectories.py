"""Per-dyad trajectories across sessions (coder.reports.trajectories): each session's values are that session's
measures (hand-computed here on constructed transcripts), drawn as a line per role, in the table, the CSV, the
web page and ``coder pictures trajectories``."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from PIL import Image
from sqlalchemy import select

from coder.config import load_settings
from coder.reports import trajectories
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.study.models import Recording, Speaker, Study, Transcript
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study
from coder.web.app import create_app

from .support.cli import coder
from .support.web import login

PASSWORD = "a long enough password"
T, C = "SPEAKER_00", "SPEAKER_01"


def seg(speaker, start, end, text):
    return {"speaker": speaker, "start": start, "end": end, "text": text, "words": []}


def session_segments(k: int) -> list[dict]:
    """Session k: the therapist speaks 10·k s in two turns, the client 10 s; the client answers after 0.5·k s
    and the therapist after 1 s; the client interrupts k - 1 times (a turn started 0.5 s before the therapist
    stops). Times are multiples of 0.25 s, exact in binary."""
    out = [seg(T, 0.0, 5.0 * k, "How have you been? Tell me."), seg(C, 5.0 * k + 0.5 * k, 5.0 * k + 0.5 * k + 5.0,
                                                                     "Better this week")]
    t = out[-1]["end"] + 1.0
    out.append(seg(T, t, t + 5.0 * k, "Good. What changed?"))
    start = t + 5.0 * k + (-0.5 if k > 1 else 2.0)
    out.append(seg(C, start, start + 5.0, "I slept more and walked"))
    return out


def expected_share(k: int) -> float:
    return 100 * 10 * k / (10 * k + 10)


def add_recording(db, session, name: str, segments: list[dict] | None):
    rec = Recording(session_id=session.id, path=f"/nowhere/{name}", original_name=name,
                    sha256=name.encode().hex().ljust(64, "0")[:64], size_bytes=10, duration_s=120.0,
                    sample_rate=16000, channels=1, status="transcribed" if segments is not None else "registered")
    db.add(rec)
    db.flush()
    if segments is not None:
        db.add(Transcript(recording_id=rec.id, engine="script", model="turns", language="en", duration_s=120.0,
                          segments=segments, speakers=[Speaker(label=T, role="therapist"),
                                                       Speaker(label=C, role="client")]))
    return rec


@pytest.fixture
def study(database):
    """Trial P: D1 with sessions 1-3 transcribed (session 2 twice: the first recording counts), D2 with sessions
    1 and 3 transcribed and 2 not, D3 with no session; a coordinator of it and one of nothing."""
    with database.session() as db:
        s = get_or_create_study(db, "Trial P")
        d1 = get_or_create_dyad(db, s, "T1", "C1", "D1")
        d2 = get_or_create_dyad(db, s, "T2", "C2", "D2")
        get_or_create_dyad(db, s, "T3", "C3", "D3")
        for k in (1, 2, 3):
            session = get_or_create_session(db, d1, k, time_point=f"week {k}")
            add_recording(db, session, f"d1-s{k}.wav", session_segments(k))
            if k == 2:
                add_recording(db, session, "d1-s2-again.wav", session_segments(3))
        for k in (1, 2, 3):
            session = get_or_create_session(db, d2, k)
            add_recording(db, session, f"d2-s{k}.wav", session_segments(k) if k != 2 else None)
        grant(db, s, create_user(db, "coord", PASSWORD, "coordinator", "Coordinator"), None)
        create_user(db, "other", PASSWORD, "coordinator", "Other")
    return database


def _trajectories(database):
    with database.session() as db:
        return trajectories.study_trajectories(db, db.scalar(select(Study).where(Study.name == "Trial P")))


def test_each_session_gives_its_own_measures_by_role(study):
    d1, d2, d3 = _trajectories(study)
    assert (d1.code, d1.therapist, d1.client) == ("D1", "T1", "C1")
    assert [(s.number, s.time_point) for s in d1.sessions] == [(1, "week 1"), (2, "week 2"), (3, "week 3")]
    assert [s.number for s in d2.sessions] == [1, 3] and d3.sessions == [] and not d1.problems
    share = trajectories.MEASURES[0]
    assert share.key == "speaking_share"
    series = d1.series(share)
    assert [v for _, v in series["therapist"]] == pytest.approx([expected_share(k) for k in (1, 2, 3)])
    assert [v for _, v in series["client"]] == pytest.approx([100 - expected_share(k) for k in (1, 2, 3)])
    pause = next(m for m in trajectories.MEASURES if m.key == "switching_pause_mean_s")
    # into the client's turns: 0.5·k, and in session 1 also the 2 s before the second answer
    assert d1.series(pause)["client"] == [(1, 1.25), (2, 1.0), (3, 1.5)]
    assert d1.series(pause)["therapist"] == [(1, 1.0), (2, 1.0), (3, 1.0)]
    interruptions = next(m for m in trajectories.MEASURES if m.key == "interruptions_made")
    assert d1.series(interruptions) == {"therapist": [(1, 0), (2, 0), (3, 0)], "client": [(1, 0), (2, 1), (3, 1)]}
    # without the audio there is no arousal and no synchrony: those measures are left out
    assert {m.key for m in d1.measures()} >= {"speaking_share", "switching_pause_mean_s", "long_silences"}
    assert not {"arousal_mean", "synchrony_r"} & {m.key for m in d1.measures()}


def test_the_picture_draws_the_values_and_the_table_and_csv_hold_them(study):
    d1, d2, _d3 = _trajectories(study)
    picture = trajectories.picture(d1)
    panel = picture.figure.axes[0]
    assert panel.get_title(loc="left") == "talk share (%)"
    lines = {line.get_label(): line for line in panel.get_lines()}
    assert list(lines["therapist"].get_xdata()) == [1, 2, 3]
    assert list(lines["therapist"].get_ydata()) == pytest.approx([expected_share(k) for k in (1, 2, 3)])
    assert picture.svg.startswith('<svg class="trajectories" role="img" aria-label="Dyad D1 (T1 with C1)')
    assert Image.open(io.BytesIO(picture.png())).format == "PNG"
    rows = trajectories.rows(d1)
    assert rows[0] == {"measure": "talk share (%)", "series": "therapist",
                       "values": pytest.approx([expected_share(k) for k in (1, 2, 3)])}
    table = trajectories.long_table([d1, d2])
    share = table[(table["measure"] == "speaking_share") & (table["series"] == "client")]
    assert list(zip(share["dyad"], share["session"])) == [("D1", 1), ("D1", 2), ("D1", 3), ("D2", 1), ("D2", 3)]
    assert list(share["value"]) == pytest.approx([100 - expected_share(k) for k in (1, 2, 3, 1, 3)])
    with study.session() as db:
        first = db.scalar(select(Recording).where(Recording.original_name == "d1-s2.wav"))
        assert table[(table["dyad"] == "D1") & (table["session"] == 2)]["recording_id"].unique().tolist() == [first.id]


def test_the_page_the_pictures_and_the_csv_for_the_studys_coordinator(study, tmp_path):
    app = create_app(load_settings(home=tmp_path / "home", database_url=study.url), study,
                     {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    assert login(client, "coord", PASSWORD).status_code == 302
    with study.session() as db:
        s = db.scalar(select(Study).where(Study.name == "Trial P"))
        dyads = {d.code: d.id for d in trajectories.dyads(db, s)}
        sid = s.id
    listing = client.get(f"/studies/{sid}").get_data(as_text=True)
    assert f"/studies/{sid}/trajectories?dyad={dyads['D2']}" in listing and 'id="trajectories-link"' in listing
    page = client.get(f"/studies/{sid}/trajectories")  # the first dyad by code
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Dyad D1: T1 with C1" in html and '<svg class="trajectories"' in html
    assert "<th scope=\"col\">session 3 (week 3)</th>" in html and "%.2f" % expected_share(2) in html
    none = client.get(f"/studies/{sid}/trajectories?dyad={dyads['D3']}").get_data(as_text=True)
    assert 'id="no-sessions"' in none and "<svg" not in none
    assert client.get(f"/studies/{sid}/trajectories?dyad=999999").status_code == 404
    svg = client.get(f"/studies/{sid}/trajectories/{dyads['D2']}.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and "dyad-D2.svg" in svg.headers[
        "Content-Disposition"]
    png = client.get(f"/studies/{sid}/trajectories/{dyads['D2']}.png")
    assert Image.open(io.BytesIO(png.data)).format == "PNG"
    assert client.get(f"/studies/{sid}/trajectories/{dyads['D3']}.svg").status_code == 404
    assert client.get(f"/studies/{sid}/trajectories/{dyads['D1']}.pdf").status_code == 404
    table = pd.read_csv(io.BytesIO(client.get(f"/studies/{sid}/trajectories.csv").data))
    assert set(table["dyad"]) == {"D1", "D2"} and set(table["series"]) >= {"therapist", "client", "session"}
    other = app.test_client()
    login(other, "other", PASSWORD)
    for url in (f"/studies/{sid}/trajectories", f"/studies/{sid}/trajectories/{dyads['D1']}.svg",
                f"/studies/{sid}/trajectories.csv"):
        assert other.get(url).status_code == 404


def test_coder_pictures_trajectories_writes_each_dyads_pictures_and_the_table(study, tmp_path):
    env = {"DATABASE_URL": study.url, "CODER_HOME": tmp_path / "home"}
    out = coder("pictures", "trajectories", "Trial P", "--format", "svg", "--format", "png", "--out",
                tmp_path / "out", env=env)
    assert out.exit_code == 0, out.stderr
    assert "dyad D3: no transcribed session" in out.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "dyad-D1.png", "dyad-D1.svg", "dyad-D2.png", "dyad-D2.svg", "trajectories.csv"]
    table = pd.read_csv(tmp_path / "out" / "trajectories.csv")
    assert len(table[(table["dyad"] == "D2") & (table["measure"] == "speaking_share")]) == 4  # 2 sessions × 2
    one = coder("pictures", "trajectories", "Trial P", "--dyad", "D2", "--out", tmp_path / "one", env=env)
    assert one.exit_code == 0 and sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        "dyad-D2.svg", "trajectories.csv"]
    for args, message in [(("Nope",), "no study named Nope"), (("Trial P", "--dyad", "D9"), "has no dyad D9"),
                          (("Trial P", "--dyad", "D3"), "no dyad has a transcribed session")]:
        bad = coder("pictures", "trajectories", *args, "--out", tmp_path / "bad", env=env)
        assert bad.exit_code == 1 and message in bad.stderr, bad.stderr


def test_arousal_and_synchrony_come_in_where_the_voice_measures_were_computed():
    from coder.pipeline.measures import compute

    from .support.audio import RATE
    from .support.measures_docs import dialogue

    # the client follows the therapist's pitch turn by turn: synchrony at lag 1 in that direction
    audio, doc = dialogue([100.0, 130.0, 110.0, 150.0, 120.0, 140.0], [200.0, 260.0, 220.0, 300.0, 240.0, 280.0])
    result = compute(doc, audio, RATE, surrogates=20)
    values = trajectories.session_values(result)
    speakers = result["session"]["speakers"]
    assert values[("arousal_mean", "therapist")] == speakers["therapist"]["arousal_mean"]
    assert values[("arousal_mean", "client")] == speakers["client"]["arousal_mean"]
    follows = values[("synchrony_r", "client follows therapist")]
    assert follows == result["synchrony"]["therapist->client"]["1"]["r"] and follows > 0.9
    assert values[("synchrony_r", "therapist follows client")] == result["synchrony"]["client->therapist"]["1"]["r"]
    trajectory = trajectories.DyadTrajectory(1, "D1", "T1", "C1", [
        trajectories.SessionPoint(1, None, 1, 0, 1, values), trajectories.SessionPoint(2, None, 2, 0, 1, values)])
    assert {"arousal_mean", "synchrony_r"} <= {m.key for m in trajectory.measures()}
    labels = [ax.get_title(loc="left") for ax in trajectories.picture(trajectory).figure.axes if ax.get_visible()]
    assert labels[-2:] == ["vocal arousal, mean (z)", "vocal synchrony, lag 1 turn (r)"]
