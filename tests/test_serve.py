"""coder serve runs the app for the configured database: SQLite by default, PostgreSQL through DATABASE_URL."""
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from coder.cli.server import port_problem
from coder.db import Database
from coder.study.models import Study

from .support.cli import child_environment, coder
from .support.network import free_port
from .support.paths import ROOT


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_serve(tmp_path, backend, request):
    settings = {"CODER_HOME": str(tmp_path / "home"), "DATABASE_URL": None}
    if backend == "postgresql":
        settings["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    coder("init", env=settings, check=True)
    coder("users", "add", "coord", "--role", "coordinator", "--password", "a long password", env=settings, check=True)
    users = coder("users", "list", env=settings, check=True).stdout
    assert users.split() == ["coord", "coordinator", "active"]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "coder.cli", "serve", "--port", str(port)],
                              env=child_environment(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                login = urllib.request.urlopen(f"{base}/login", timeout=5)
                break
            except OSError:
                assert server.poll() is None
                time.sleep(0.2)
        assert login.status == 200 and b"Log in" in login.read()
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"{base}/", timeout=5)
        assert redirect.value.code == 302 and "/login" in redirect.value.headers["Location"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    if backend == "postgresql":
        assert not (tmp_path / "home" / "coder.db").exists()


def _wait_for(base, server):
    for _ in range(150):
        try:
            return urllib.request.urlopen(f"{base}/login", timeout=5)
        except OSError:
            assert server.poll() is None, server.stdout.read().decode()
            time.sleep(0.2)
    raise AssertionError("the server did not start")


def test_serve_processes_queued_recordings_with_its_embedded_worker(tmp_path, tiny_whisper):
    """`coder serve` runs an embedded worker; `coder serve --no-worker` leaves the queue to `coder worker`."""
    import soundfile as sf

    from .support.rating_study import SESSION_AUDIO

    audio, rate = sf.read(SESSION_AUDIO, dtype="float32")
    sf.write(tmp_path / "s1.wav", audio[: 6 * rate], rate)
    (tmp_path / "manifest.csv").write_text("file,therapist,client,session\ns1.wav,T1,C1,1\n")
    settings = {"CODER_HOME": str(tmp_path / "home"), "CODER_WHISPER_MODEL": str(tiny_whisper), "DATABASE_URL": None,
                "CODER_QUEUE_URL": None}
    env = child_environment(settings)  # for the servers
    cli = [sys.executable, "-m", "coder.cli"]
    coder("init", env=settings, check=True)
    coder("ingest", tmp_path / "manifest.csv", "--study", "S", env=settings, check=True)
    # the tiny test model is an openai-whisper checkpoint; a study that names no engine gets faster-whisper
    database = Database(f"sqlite:///{tmp_path / 'home' / 'coder.db'}")
    with database.session() as db:
        db.scalar(select(Study)).settings = {"processing": {"engine": "openai-whisper"}}

    def jobs() -> str:
        return coder("jobs", env=settings, check=True).stdout

    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port), "--no-worker"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}", server)
        out = coder("jobs", "submit", "--all", env=settings)
        assert "1 recording(s) queued" in out.stdout, out.stderr
        time.sleep(3)
        assert "\tqueued\t" in jobs()
    finally:
        server.terminate()
        server.wait(timeout=30)
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}", server)
        for _ in range(600):
            if "\ttranscribed\t100 %" in jobs():
                break
            time.sleep(0.5)
        assert "\ttranscribed\t100 %" in jobs()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert b"Processing jobs from sqlite:///" in server.stdout.read()


def _listening() -> socket.socket:
    """A socket that holds a free loopback port, as a running server would."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken


def test_serve_on_a_taken_port_says_so_in_one_line(tmp_path):
    settings = {"CODER_HOME": str(tmp_path / "home"), "DATABASE_URL": None}
    coder("init", env=settings, check=True)
    with _listening() as taken:
        port = taken.getsockname()[1]
        proc = coder("serve", "--port", port, env=settings, timeout=120)
    assert proc.exit_code == 1
    assert proc.stderr.splitlines() == [f"error: port {port} on 127.0.0.1 is in use: choose another with --port "
                                        f"(coder serve --port {port + 1}) or stop what uses it"]
    assert "Serving" not in proc.stdout


def test_demo_on_a_taken_port_stops_before_it_does_anything(tmp_path):
    """Checked before the demo study, the transcription and the passwords: a rerun on a taken port must not issue
    new passwords for a demo that then cannot be served."""
    home = tmp_path / "home"
    with _listening() as taken:
        port = taken.getsockname()[1]
        proc = coder("--home", home, "demo", "--port", port, env={"CODER_MODELS_DIR": str(tmp_path / "no-models")},
                     timeout=120)
    assert proc.exit_code == 1
    assert proc.stderr.splitlines() == [f"error: port {port} on 127.0.0.1 is in use: set PORT=… (make demo "
                                        f"PORT={port + 1}, coder demo --port {port + 1}) or stop what uses it"]
    assert proc.stdout == ""  # no study, no transcription, no passwords
    assert not (home / "demo").exists()


def test_port_check():
    with _listening() as taken:
        host, port = taken.getsockname()
        assert "is in use" in port_problem(host, port, "--port")
    assert port_problem("127.0.0.1", port, "--port") is None  # free again once closed
    assert port_problem("no-such-host.invalid", 5000, "--port").startswith("cannot serve on no-such-host.invalid:5000")


def test_make_demo_takes_host_and_port():
    """`make demo HOST=... PORT=...` hands both to `coder demo` (-n: the commands are printed, not run)."""
    def demo_line(*variables: str) -> str:
        out = subprocess.run(["make", "-n", "demo", *variables], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
        return [line for line in out.splitlines() if "coder demo" in line][-1]

    assert demo_line().endswith('coder demo --host "127.0.0.1" --port "5000"')
    assert demo_line("HOST=0.0.0.0", "PORT=5001").endswith('coder demo --host "0.0.0.0" --port "5001"')
