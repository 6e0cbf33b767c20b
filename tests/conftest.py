"""Shared fixtures: databases (SQLite and a real PostgreSQL server), audio files, Whisper models, a live server
and Chromium. Test modules get them by name; the helpers and builders that tests, bench/ and scripts/ share are
imported from tests/support."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from coder.db import Database

from .support import postgres
from .support.audio import write_tone
from .support.browser import CHROMIUM_ARGS
from .support.paths import ROOT, SAMPLE_DIR
from .support.prerequisites import need


# --- PostgreSQL -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server on a Unix socket (or CODER_TEST_POSTGRES_URL); yields an admin URL."""
    url = os.environ.get("CODER_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    binaries = postgres.bindir()
    need(binaries is not None, "PostgreSQL server binaries (Debian package postgresql) not installed")
    with postgres.throwaway_server(binaries) as admin_url:
        yield admin_url


@pytest.fixture
def postgres_url(postgres_server):
    """A new, empty PostgreSQL database for one test."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"coder_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coder.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def database(db_url):
    db = Database(db_url)
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def sqlite_database(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'coder.db'}")
    db.migrate()
    yield db
    db.dispose()


# --- audio ----------------------------------------------------------------------------------

@pytest.fixture
def tone(tmp_path):
    return write_tone(tmp_path / "tone.wav")


@pytest.fixture
def corrupt_file(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + os.urandom(200))
    return path


# --- Whisper models -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory) -> Path:
    """A tiny, randomly initialised openai-whisper checkpoint: real code path, nonsense text."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51865, n_text_ctx=128, n_text_state=64, n_text_head=2, n_text_layer=1)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": dims.__dict__, "model_state_dict": Whisper(dims).state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def real_models_dir() -> Path:
    """The model store holding real Whisper base weights (``make models`` provisions them)."""
    path = Path(os.environ.get("CODER_TEST_MODELS_DIR") or ROOT / "models")
    need((path / "openai-whisper-base.pt").is_file() and (path / "faster-whisper-base" / "model.bin").is_file(),
         f"real Whisper base weights not in {path}; run 'make models'")
    return path


@pytest.fixture(scope="session")
def diarization_models_dir() -> Path:
    """The model store holding the builtin diariser's weights (segmentation-3.0, CAM++; ``make models``)."""
    path = Path(os.environ.get("CODER_TEST_MODELS_DIR") or ROOT / "models")
    need((path / "pyannote-segmentation-3.0" / "pytorch_model.bin").is_file()
         and (path / "campplus-sv-zh-en-16k" / "campplus_cn_en_common.pt").is_file(),
         f"diarisation weights not in {path}; run 'make models'")
    return path


# --- a real web server and a real browser ------------------------------------------------------

@pytest.fixture
def live_server():
    """Serve a Flask app with waitress on a free loopback port: ``live_server(app) -> base URL``."""
    import threading

    from waitress.server import create_server

    servers = []

    def start(app, threads: int = 4) -> str:
        server = create_server(app, host="127.0.0.1", port=0, threads=threads)
        servers.append(server)
        threading.Thread(target=server.run, daemon=True).start()
        return f"http://127.0.0.1:{server.effective_port}"

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def listening_copy(tmp_path_factory):
    """The demo session's listening copy (coder.playback), decoded once per run; copy it into a home."""
    from coder.pipeline import playback
    from coder.pipeline.audio import sha256_file

    folder = tmp_path_factory.mktemp("playback")
    audio = SAMPLE_DIR / "demo_session.ogg"
    playback.prepare(audio, sha256_file(audio), folder)
    return folder


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, driven by Playwright (no browser download: the system's binary is used)."""
    path = os.environ.get("CODER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    need(path is not None, "Chromium not installed (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright not installed (pip install -e .[test])")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
