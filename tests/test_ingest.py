"""coder init and coder ingest: good recordings registered, bad ones reported, nothing half-stored."""
import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from coder.cli import main
from coder.db import Database
from coder.study.models import AuditEvent, Dyad, Recording, TherapySession

from .support.audio import write_tone
from .support.paths import SAMPLE_DIR


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    result = CliRunner().invoke(main, ["--home", str(home), "init"])
    assert result.exit_code == 0, result.output
    return home


def run(home, *args):
    return CliRunner().invoke(main, ["--home", str(home), *args])


def ingest(home, path):
    return run(home, "ingest", str(path), "--study", "Trial A")


def db_of(home):
    return Database(f"sqlite:///{home / 'coder.db'}")


def manifest(path, rows, header="file,therapist,client,dyad,session,date,time_point,arm"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def count(home, model):
    with db_of(home).session() as db:
        return db.scalar(select(func.count(model.id)))


def test_init_creates_database(home):
    assert (home / "coder.db").exists()
    assert (home / "secret_key").stat().st_mode & 0o777 == 0o600


def test_commands_before_init_say_what_to_do(tmp_path):
    result = run(tmp_path / "nothing", "ingest", "x.csv")
    assert result.exit_code == 1
    assert "run 'coder init' first" in result.output


def test_one_good_one_corrupt(home, tmp_path, corrupt_file):
    good = write_tone(tmp_path / "good.wav")
    m = manifest(tmp_path / "m.csv", ["good.wav,T1,C1,D1,1,2026-01-05,pre,CBT",
                                      "corrupt.wav,T1,C1,D1,2,2026-01-12,mid,CBT"])
    result = ingest(home, m)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "corrupt.wav" in errors[0] and "row 3" in errors[0]
    assert "1 registered" in result.output and "1 rejected" in result.output
    with db_of(home).session() as db:
        recs = db.scalars(select(Recording)).all()
        assert [r.original_name for r in recs] == ["good.wav"]
        rec = recs[0]
        assert rec.path == str(good.resolve())
        assert rec.duration_s == pytest.approx(3.0) and rec.sample_rate == 16000 and rec.channels == 1
        session = rec.session
        assert (session.number, str(session.date), session.time_point, session.treatment_arm) == \
            (1, "2026-01-05", "pre", "CBT")
        assert (session.dyad.code, session.dyad.therapist.code, session.dyad.client.code) == ("D1", "T1", "C1")
        # the corrupt row's session was not created either
        assert db.scalar(select(func.count(TherapySession.id))) == 1
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "register")).entity_id == rec.id


def test_rerun_skips_registered_and_duplicates_are_rejected(home, tmp_path):
    write_tone(tmp_path / "a.wav")
    shutil.copy(tmp_path / "a.wav", tmp_path / "copy-of-a.wav")
    write_tone(tmp_path / "b.wav", freq=330)
    m = manifest(tmp_path / "m.csv", ["a.wav,T1,C1,,1,,,", "b.wav,T1,C1,,2,,,"])
    first = ingest(home, m)
    assert first.exit_code == 0 and "2 registered" in first.output
    again = ingest(home, m)
    assert again.exit_code == 0 and "0 registered, 2 already registered" in again.output
    dup = manifest(tmp_path / "dup.csv", ["copy-of-a.wav,T2,C2,,1,,,"])
    result = ingest(home, dup)
    assert result.exit_code == 1
    assert "copy-of-a.wav" in result.output and "already registered as a.wav" in result.output
    assert count(home, Recording) == 2
    assert count(home, Dyad) == 1  # the duplicate row left no dyad behind


def test_duplicate_within_one_manifest(home, tmp_path):
    write_tone(tmp_path / "a.wav")
    shutil.copy(tmp_path / "a.wav", tmp_path / "a2.wav")
    m = manifest(tmp_path / "m.csv", ["a.wav,T1,C1,,1,,,", "a2.wav,T1,C1,,2,,,"])
    result = ingest(home, m)
    assert result.exit_code == 1
    assert "a2.wav (row 3): duplicate of row 2" in result.output
    assert count(home, Recording) == 1


@pytest.mark.parametrize("row,why", [
    ("missing.wav,T1,C1,,1,,,", "file not found"),
    ("good.wav,T1,C1,,one,,,", "session must be a whole number"),
    ("good.wav,T1,C1,,-2,,,", "session must be 0 or more"),
    ("good.wav,T1,C1,,1,05/01/2026,,", "date must be YYYY-MM-DD"),
    ("good.wav,,C1,,1,,,", "empty therapist"),
    ("good.wav,T1,C1,,1,,,,extra", "more fields than header columns"),
    ("silent.wav,T1,C1,,1,,,", "silent"),
    ("truncated.wav,T1,C1,,1,,,", "truncated WAV"),
    ("empty.wav,T1,C1,,1,,,", "file is empty"),
])
def test_bad_rows_get_a_clear_reason(home, tmp_path, row, why):
    import numpy as np
    import soundfile as sf

    write_tone(tmp_path / "good.wav")
    sf.write(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    data = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "truncated.wav").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.wav").write_bytes(b"")
    result = ingest(home, manifest(tmp_path / "m.csv", [row]))
    assert result.exit_code == 1
    assert why in result.output
    assert count(home, Recording) == 0


def test_missing_columns_register_nothing(home, tmp_path):
    write_tone(tmp_path / "good.wav")
    m = manifest(tmp_path / "m.csv", ["good.wav,T1,1"], header="file,therapist,session")
    result = ingest(home, m)
    assert result.exit_code == 1
    assert "missing column(s) client" in result.output
    assert count(home, Recording) == 0


def test_not_a_csv(home, tmp_path):
    m = tmp_path / "m.csv"
    m.write_bytes(b"\xff\xfe\x00garbage\x00")
    result = ingest(home, m)
    assert result.exit_code == 1 and "not UTF-8" in result.output


def test_study_column_or_option(home, tmp_path):
    write_tone(tmp_path / "a.wav")
    m = manifest(tmp_path / "m.csv", ["a.wav,T1,C1,1"], header="file,therapist,client,session")
    assert "no study" in run(home, "ingest", str(m)).output
    result = run(home, "ingest", str(m), "--study", "Trial A")
    assert result.exit_code == 0, result.output
    with db_of(home).session() as db:
        assert db.scalar(select(Dyad)).study.name == "Trial A"


def test_sample_manifest_ingests(home):
    result = run(home, "ingest", str(SAMPLE_DIR / "manifest.csv"), "--study", "Demo")
    assert result.exit_code == 0, result.output
    with db_of(home).session() as db:
        rec = db.scalar(select(Recording))
        assert 120 <= rec.duration_s <= 180
