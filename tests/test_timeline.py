"""The session timeline (coder.reports.timeline) from a transcript and its measures: the caption says in words
what the picture shows, the moments are the long silences and overlaps; on the transcript page (for those who
may see the transcript), as downloads for the coordinators, and from ``coder pictures timeline``."""
from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image

from coder.config import load_settings
from coder.pipeline.measures import compute
from coder.reports.timeline import timeline_of
from coder.study.access import grant
from coder.study.accounts import create_user
from coder.study.models import Recording, Study
from coder.web.app import create_app

from .support.cli import coder
from .support.rating_study import PASSWORD, build
from .support.web import login
from .support.measures_docs import DOC


def test_the_caption_and_the_moments_say_what_the_picture_shows():
    timeline = timeline_of(DOC, compute(DOC), "Session 1")
    # DOC: therapist 11.5 of 28 s speaking (41 %), 4 turns; client 16.5 s (59 %), 3 turns; 4 overlaps; one 4-s
    # silence
    assert timeline.label == (
        "Session timeline, 0.5 minutes. Speaking: therapist 41 % of the speaking time in 4 turns; client 59 % of "
        "the speaking time in 3 turns. 4 overlaps (3.5 s), 1 long silence (4.0 s). Vocal arousal is not drawn: "
        "it needs the voice measures.")
    assert [(m["at"], m["what"]) for m in timeline.moments] == [
        (10.0, "overlap, 0.5 s"), (11.5, "overlap, 0.5 s"), (19.0, "long silence, 4.0 s"), (24.0, "overlap, 1.5 s"),
        (29.0, "overlap, 1.0 s")]
    assert timeline.moments[2]["clock"] == "0:19.0"
    assert timeline.svg.startswith('<svg class="timeline" role="img" aria-label="Session timeline, 0.5 minutes.')
    left, right = timeline.time_axis
    assert 0 < left < 0.2 and 0.9 < right <= 1  # the minutes axis spans the picture, less the lane names
    assert timeline.figure.axes[0].get_xlim() == (0, 32 / 60)
    assert Image.open(io.BytesIO(timeline.png())).format == "PNG"


@pytest.fixture
def site(database, tmp_path):
    built = build(database, raters=("rater1",))
    with database.session() as db:
        rec = db.get(Recording, built.recording_id)
        tid = rec.transcript.id
        study = db.get(Study, rec.session.dyad.study_id)
        grant(db, study, create_user(db, "typist", PASSWORD, "transcriber", "Typist"), None)
        create_user(db, "elsewhere", PASSWORD, "coordinator", "Elsewhere")
    app = create_app(load_settings(home=tmp_path / "home", database_url=database.url), database,
                     {"TESTING": True, "WTF_CSRF_ENABLED": False})
    return app, tid, built


def test_the_transcript_page_shows_the_timeline_and_coordinators_download_it(site):
    app, tid, _built = site
    coordinator = app.test_client()
    login(coordinator, "coord")
    html = coordinator.get(f"/transcripts/{tid}").get_data(as_text=True)
    figure = re.search(r'<figure id="session-timeline"[^>]*data-x0="([\d.]+)"\s+data-x1="([\d.]+)" '
                       r'data-duration="([\d.]+)"', html)
    assert figure and 0 < float(figure[1]) < float(figure[2]) <= 1 and float(figure[3]) > 60
    assert '<svg class="timeline" role="img" aria-label="Session timeline' in html
    assert "therapist" in html and 'id="lane-therapist"' in html
    assert 'id="timeline-svg"' in html and "/static/timeline.js" in html
    svg = coordinator.get(f"/transcripts/{tid}/timeline.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert "D1_session3_week4-timeline.svg" in svg.headers["Content-Disposition"]
    assert "D1_session3_week4.ogg: who speaks when" in svg.get_data(as_text=True)  # the export has a title
    png = coordinator.get(f"/transcripts/{tid}/timeline.png")
    assert Image.open(io.BytesIO(png.data)).format == "PNG"
    assert coordinator.get(f"/transcripts/{tid}/timeline.pdf").status_code == 404
    typist = app.test_client()
    login(typist, "typist")
    seen = typist.get(f"/transcripts/{tid}").get_data(as_text=True)
    assert 'id="session-timeline"' in seen and 'id="timeline-svg"' not in seen  # the picture, not the download
    assert typist.get(f"/transcripts/{tid}/timeline.svg").status_code == 403
    elsewhere = app.test_client()
    login(elsewhere, "elsewhere")
    assert elsewhere.get(f"/transcripts/{tid}/timeline.svg").status_code == 404


def test_a_transcript_with_no_speech_says_why_there_is_no_timeline(site, database):
    app, tid, built = site
    with database.session() as db:
        db.get(Recording, built.recording_id).transcript.segments = []
    client = app.test_client()
    login(client, "coord")
    html = client.get(f"/transcripts/{tid}").get_data(as_text=True)
    assert 'id="no-timeline"' in html and "no turns to draw" in html and 'id="timeline-svg"' not in html
    assert client.get(f"/transcripts/{tid}/timeline.svg").status_code == 404


def test_coder_pictures_timeline_of_a_file_and_of_stored_recordings(database, tmp_path):
    path = tmp_path / "session.json"
    path.write_text(json.dumps(DOC))
    out = coder("pictures", "timeline", path, "--format", "svg", "--format", "png", "--out", tmp_path / "out")
    assert out.exit_code == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["session.png", "session.svg"]
    assert (tmp_path / "out" / "session.svg").read_text() == timeline_of(DOC, compute(DOC),
                                                                         "session.json: who speaks when").svg
    built = build(database, raters=("rater1",))
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}
    stored = coder("pictures", "timeline", "--study", "Trial R", "--format", "png", "--out", tmp_path / "db",
                   env=env)
    assert stored.exit_code == 0, stored.stderr
    assert [p.name for p in (tmp_path / "db").iterdir()] == [f"recording-{built.recording_id}.png"]
    for choice in (("--all",), ("--recording", str(built.recording_id))):
        again = coder("pictures", "timeline", *choice, "--out", tmp_path / choice[0], env=env)
        assert again.exit_code == 0, again.stderr
        assert [p.name for p in (tmp_path / choice[0]).iterdir()] == [f"recording-{built.recording_id}.svg"]
    for args, message in [((), "give one of"), ((path, "--voice"), "--voice is for stored recordings"),
                          (("--study", "Trial R", "--audio", path), "--audio goes with TRANSCRIPT"),
                          (("--study", "Nope"), "no study named Nope")]:
        bad = coder("pictures", "timeline", *args, "--out", tmp_path / "bad", env=env)
        assert bad.exit_code == 1 and message in bad.stderr, bad.stderr
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"segments": []}))
    bad = coder("pictures", "timeline", empty, "--out", tmp_path / "bad")
    assert bad.exit_code == 1 and "the session has no duration" in bad.stderr, bad.stderr
