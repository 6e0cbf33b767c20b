"""Upload validation: type by content, safe names and paths, the size limit, decoding in a limited child
process."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from coder.pipeline import audio
from coder.study import uploads
from coder.study.models import Dyad, Recording, Study
from coder.study.tree import get_or_create_dyad, get_or_create_study

from .support.audio import write_tone


@pytest.fixture
def dyad(sqlite_database):
    with sqlite_database.session() as db:
        dyad = get_or_create_dyad(db, get_or_create_study(db, "Trial U"), "T1", "C1", "D1")
        db.expunge_all()
    return dyad


def _store(database, tmp_path, data: bytes, name: str, **kw):
    with database.session() as db:
        dyad = db.scalar(select(Dyad))
        return uploads.store(db, tmp_path / "recordings", io.BytesIO(data), name, dyad, 1, None, **kw)


def _left(tmp_path) -> list[Path]:
    return [p for p in (tmp_path / "recordings").rglob("*") if p.is_file()]


@pytest.mark.parametrize("fmt, ext", [("WAV", ".wav"), ("FLAC", ".flac"), ("OGG", ".ogg")])
def test_the_content_decides_the_type(sqlite_database, dyad, tmp_path, fmt, ext):
    import soundfile as sf

    tone = write_tone(tmp_path / "tone.wav", 2.0)
    data, rate = sf.read(tone)
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format=fmt)
    rec = _store(sqlite_database, tmp_path, buffer.getvalue(), "session one.mp3")  # a misleading name
    assert Path(rec.path).suffix == ext and rec.original_name == "session one.mp3"
    assert audio.sniff(buffer.getvalue()[:64])[1] == ext


@pytest.mark.parametrize("data, what", [
    (b"%PDF-1.7\n" + b"x" * 500, "a PDF document"), (b"PK\x03\x04" + b"\0" * 500, "a ZIP archive"),
    (b"hello, this is not audio at all" * 10, "text"), (bytes(range(256)) * 4, "unknown binary data"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "a PNG image"),
])
def test_files_that_are_not_audio_are_refused_whatever_their_name(sqlite_database, dyad, tmp_path, data, what):
    with pytest.raises(uploads.UploadError, match=f"not an audio file \\(its content is {what}"):
        _store(sqlite_database, tmp_path, data, "session.wav")
    assert _left(tmp_path) == []


def test_names_cannot_choose_the_storage_path(sqlite_database, dyad, tmp_path):
    tone = write_tone(tmp_path / "tone.wav", 2.0).read_bytes()
    rec = _store(sqlite_database, tmp_path, tone, "../../../etc/cron.d/evil\x00.wav")
    assert Path(rec.path).parent == tmp_path / "recordings" and Path(rec.path).name == f"{rec.sha256}.wav"
    assert "/" not in rec.original_name and "\x00" not in rec.original_name and ".." not in rec.original_name
    assert uploads.safe_name("..\\..\\windows\\system32\\x.wav") == "x.wav"
    assert uploads.safe_name("...") == "recording"


def test_the_size_limit(sqlite_database, dyad, tmp_path):
    tone = write_tone(tmp_path / "tone.wav", 5.0).read_bytes()
    with pytest.raises(uploads.UploadError, match="larger than the upload limit"):
        _store(sqlite_database, tmp_path, tone, "big.wav", max_bytes=len(tone) - 1)
    assert _left(tmp_path) == []
    assert _store(sqlite_database, tmp_path, tone, "fits.wav", max_bytes=len(tone)).size_bytes == len(tone)


def test_decoding_runs_in_a_child_with_limits(tmp_path):
    tone = write_tone(tmp_path / "tone.wav", 2.0)
    info = audio.probe_isolated(tone)
    assert info == audio.probe(tone)
    with pytest.raises(audio.AudioError, match="decoding took longer than"):
        audio.probe_isolated(tone, timeout_s=0.001)
    with pytest.raises(audio.AudioError, match="the decoder failed|more memory"):
        audio.probe_isolated(tone, memory_bytes=64 << 20)  # too little even to start: the web app lives on
    silent = write_tone(tmp_path / "silent.wav", 2.0, freq=0.0)
    with pytest.raises(audio.AudioError, match="silent"):
        audio.probe_isolated(silent)


def test_the_web_app_answers_an_oversized_request_with_the_limit(sqlite_database, tmp_path):
    from coder.study.accounts import create_user
    from coder.study.access import grant
    from coder.web.app import create_app
    from coder.config import load_settings

    from .support.rating_study import PASSWORD
    from .support.web import login

    with sqlite_database.session() as db:
        study = db.scalar(select(Study))
        study = study or get_or_create_study(db, "Trial U")
        grant(db, study, create_user(db, "coord", PASSWORD, "coordinator"), None)
        study_id = study.id
    app = create_app(load_settings(home=tmp_path / "home", database_url=sqlite_database.url), sqlite_database,
                     {"TESTING": True, "WTF_CSRF_ENABLED": False, "MAX_UPLOAD_BYTES": 10_000})
    assert app.config["MAX_CONTENT_LENGTH"] == 10_000 + (1 << 20)  # the upload and its form fields
    app.config["MAX_CONTENT_LENGTH"] = 20_000
    client = app.test_client()
    login(client, "coord")
    tone = write_tone(tmp_path / "tone.wav", 5.0).read_bytes()
    response = client.post(f"/studies/{study_id}/upload", data={"session": "1", "therapist": "T9", "client": "C9",
                                                                "file": (io.BytesIO(tone), "t.wav")},
                           content_type="multipart/form-data")
    assert response.status_code == 413 and "larger than the upload limit of 0.0 GB" in response.json["error"]
    small = write_tone(tmp_path / "small.wav", 0.5)
    response = client.post(f"/studies/{study_id}/upload", data={"session": "1", "therapist": "T9", "client": "C9",
                                                                "file": (io.BytesIO(small.read_bytes()[:15_000]),
                                                                         "t.wav")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "larger than the upload limit" in response.json["error"]
    with sqlite_database.session() as db:
        assert db.scalar(select(Recording)) is None
