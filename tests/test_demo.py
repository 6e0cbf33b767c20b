"""End to end with real Whisper base weights: the demo, the served app, both engines, missing weights."""
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import jiwer
import pytest
import soundfile as sf
from sqlalchemy import select as sql_select

from coder.db import Database
from coder.study.measures import stored_measures
from coder.study.models import Assignment, Recording, Transcript, User

from .support.cli import coder
from .support.network import free_port
from .support.paths import SAMPLE_DIR

pytestmark = pytest.mark.whisper


def script_text(until_s: float | None = None) -> str:
    turns = json.loads((SAMPLE_DIR / "demo_session.turns.json").read_text())
    return " ".join(t["text"] for t in turns if until_s is None or t["end"] <= until_s)


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalise(reference), normalise(hypothesis))


@pytest.fixture(scope="module")
def demo(tmp_path_factory, real_models_dir):
    home = tmp_path_factory.mktemp("demo-home")
    env = {"CODER_MODELS_DIR": str(real_models_dir), "CODER_WHISPER_MODEL": ""}
    proc = coder("--home", home, "demo", "--no-serve", env=env, timeout=900)
    assert proc.exit_code == 0, proc.stderr
    return home, env, proc


def credentials(output: str) -> dict[str, str]:
    return dict(re.findall(r"user (\S+)\s+password (\S+)", output))


def test_demo_transcribes_the_sample_session(demo):
    home, _env, proc = demo
    # the default engine, and the progress: minutes of audio done of the total, the time left, the end
    assert "Transcribing 1 demo recording(s) with faster-whisper (faster-whisper-base), 2.9 min of audio" in proc.stdout
    progress = [line for line in proc.stdout.splitlines() if " of 2.9 audio-min done, " in line]
    assert progress and re.fullmatch(r"2\.9 of 2\.9 audio-min done, in (\d+ min )?\d+ s", progress[-1]), proc.stdout
    assert all(re.fullmatch(r"\d\.\d of 2\.9 audio-min done, (about .+ left|.+ so far, time left not yet known)", line)
               for line in progress[:-1]), proc.stdout
    db = Database(f"sqlite:///{home / 'demo' / 'coder.db'}")
    with db.session() as s:
        rec = s.scalar(sql_select(Recording))
        assert rec.status == "transcribed" and rec.session.dyad.study.name == "Demo study"
        transcript = s.scalar(sql_select(Transcript))
        text = " ".join(seg["text"] for seg in transcript.segments)
        # The script is known; Whisper base on synthetic speech gets most of it right.
        assert wer(script_text(), text) < 0.15
        words = [w for seg in transcript.segments for w in seg["words"]]
        assert len(words) > 300 and all(w["start"] <= w["end"] for w in words)
        assert words[-1]["end"] <= rec.duration_s + 0.5
        # the session process measures, with the voice, stored from the transcript (the measures job's work)
        measured = stored_measures(s, rec)
        assert measured and measured["voice"] and measured["revision"] == 0 and measured["units"]
        assert "Computing the session process measures of 1 demo recording(s)" in proc.stdout
        raters = s.scalars(sql_select(User).where(User.role == "rater")).all()
        assert len(raters) == 2
        # each rater: the whole session on the alliance form, and its one 5-minute segment on the rupture markers
        assigned = {(a.rater.username, a.instrument.key, a.rating_unit.kind) for a in s.scalars(sql_select(Assignment))}
        assert assigned == {(r, key, kind) for r in ("rater1", "rater2")
                            for key, kind in (("wai-o-s", "whole_session"), ("rupture-markers", "fixed_window"))}
    for ext in ("json", "rttm", "vtt", "txt"):
        assert (home / "demo" / "transcripts" / f"recording-1.{ext}").is_file()
    assert set(credentials(proc.stdout)) == {"coordinator", "transcriber", "rater1", "rater2"}


OFFLINE = {"CODER_WHISPER_MODEL": "", "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def test_demo_serves_and_the_coordinator_logs_in(demo, tmp_path):
    home, _env, _ = demo
    # No weights and no hub: a finished demo restarts without them.
    (tmp_path / "empty").mkdir()
    env = {**OFFLINE, "CODER_MODELS_DIR": str(tmp_path / "empty"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "coder.cli", "--home", str(home), "demo", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, **env})
    try:
        lines: list[str] = []
        # a thread reads the output: select() on the pipe misses lines already in the reader's buffer
        threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True).start()
        deadline = time.time() + 300
        while "Serving coder on" not in "".join(lines):
            assert server.poll() is None and time.time() < deadline, "".join(lines)
            time.sleep(0.2)
        output = "".join(lines)
        assert "Transcribing" not in output  # a rerun reuses the stored transcript
        creds = credentials(output)
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        for _ in range(50):
            try:
                login_page = opener.open(f"{base}/login", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
        form = urllib.parse.urlencode({"username": "coordinator", "password": creds["coordinator"],
                                       "csrf_token": token}).encode()
        page = opener.open(f"{base}/login", data=form, timeout=10).read().decode()
        assert "Demo study" in page  # the coordinator's studies; the recordings are on the study's page
        study = opener.open(f"{base}/studies/1", timeout=10).read().decode()
        assert "demo_session.ogg" in study and "transcribed" in study
        transcript = opener.open(f"{base}/transcripts/1", timeout=10).read().decode()
        assert "homework" in transcript.lower()
        # the session timeline, drawn from the stored measures (with each speaker's arousal)
        assert 'id="session-timeline"' in transcript and "<svg" in transcript
        assert "vocal arousal per turn (z)" in transcript  # drawn, from the measures the demo stored
        measures = opener.open(f"{base}/analysis/1", timeout=10).read().decode()
        assert 'id="measures-table"' in measures and '<p id="measure-states">1 current</p>' in measures
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_demo_without_weights_says_how_to_provide_them(tmp_path):
    """A process of its own: urllib reads the proxy settings (the closed port below) once per process, at its first
    download, so only a fresh process is sure to meet the unreachable hub; and the one-line check then covers all
    that the process prints, library warnings and log records included."""
    empty = tmp_path / "empty-store"
    empty.mkdir()
    # a closed local port stands in for an unreachable model hub
    env = {**OFFLINE, "CODER_MODELS_DIR": str(empty), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "coder.cli", "--home", str(tmp_path / "home"), "demo", "--no-serve"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "'base' could not be loaded" in lines[0]
    assert "--model PATH" in lines[0] and "CODER_WHISPER_MODEL" in lines[0]


@pytest.fixture(scope="module")
def first_30s(tmp_path_factory):
    audio, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    sf.write(path, audio[: 30 * rate], rate)
    return path


@pytest.mark.parametrize("engine,model", [("openai-whisper", "openai-whisper-base.pt"),
                                          ("faster-whisper", "faster-whisper-base")])
def test_engines_transcribe_real_speech(first_30s, real_models_dir, tmp_path, engine, model):
    proc = coder("transcribe", first_30s, "--out", tmp_path, "--engine", engine, "--model", real_models_dir / model,
                 "--language", "en", timeout=900)
    assert proc.exit_code == 0, proc.stderr
    doc = json.loads((tmp_path / "clip.json").read_text())
    assert doc["engine"] == engine and doc["model"] == model and doc["language"] == "en"
    text = " ".join(seg["text"] for seg in doc["segments"])
    assert wer(script_text(until_s=30), text) < 0.25
    words = [w for seg in doc["segments"] for w in seg["words"]]
    assert words and words[0]["start"] < 2.0
