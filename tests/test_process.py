"""coder process: registered recordings transcribed into the study database; failures kept for the coordinator."""
import soundfile as sf

from sqlalchemy import select

from coder.db import Database
from coder.study.measures import stored_measures
from coder.study.models import Recording, Transcript

from .support.cli import coder
from .support.paths import SAMPLE_DIR


def test_process_stores_transcripts_and_records_failures(tmp_path, real_models_dir):
    home = tmp_path / "home"
    speech, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    sf.write(tmp_path / "s1.wav", speech[: 4 * rate], rate)
    sf.write(tmp_path / "s2.wav", speech[13 * rate: 16 * rate], rate)
    (tmp_path / "m.csv").write_text("file,therapist,client,session\ns1.wav,T1,C1,1\ns2.wav,T1,C1,2\n")
    coder("--home", home, "init", check=True)
    coder("--home", home, "ingest", tmp_path / "m.csv", "--study", "S", check=True)
    (tmp_path / "s2.wav").write_bytes(b"overwritten after registration")

    process = ("--home", home, "process", "--engine", "faster-whisper", "--model",
               real_models_dir / "faster-whisper-base", "--language", "en")
    proc = coder(*process)
    assert proc.exit_code == 1
    assert "2 recording(s) to transcribe" in proc.stdout and "1 transcribed, 1 failed" in proc.stdout
    assert "error: s2.wav: not a readable audio file" in proc.stderr

    db = Database(f"sqlite:///{home / 'coder.db'}")
    with db.session() as s:
        ok, bad = s.scalars(select(Recording).order_by(Recording.id)).all()
        assert ok.status == "transcribed" and ok.error is None
        assert bad.status == "failed" and "not a readable audio file" in bad.error
        transcript = s.scalar(select(Transcript))
        assert transcript.recording_id == ok.id and transcript.model == "faster-whisper-base"
        assert [sp.label for sp in transcript.speakers] == ["SPEAKER_00"]
        assert transcript.segments and transcript.segments[0]["words"]
        assert transcript.notes["sha256"] == ok.sha256 and transcript.notes["no_speech"] is False
        assert transcript.notes["processing"]["vad"] is True
        # its session process measures, voice included, stored after the transcript
        measured = stored_measures(s, ok)
        assert measured and measured["voice"] and measured["revision"] == 0 and measured["session"]["speakers"]
        assert stored_measures(s, bad) is None
    assert (home / "transcripts" / f"recording-{ok.id}.json").is_file()

    # A rerun has nothing left for this engine and model but the failed recording.
    again = coder(*process)
    assert "1 recording(s) to transcribe" in again.stdout
    with db.session() as s:
        assert len(s.scalars(select(Transcript)).all()) == 1
