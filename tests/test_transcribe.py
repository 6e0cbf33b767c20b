"""coder transcribe against the contract: real base weights on short clips of real speech (openai-whisper for the
contract, faster-whisper as the default engine)."""
import json

import pytest

from coder.pipeline import formats

from .support.audio import write_tone
from .support.cli import coder
from .support.paths import SAMPLE_DIR


@pytest.fixture(scope="module")
def batch(tmp_path_factory, real_models_dir):
    """One run over a good file, a corrupt file and another good file."""
    import librosa
    import numpy as np
    import soundfile as sf

    d = tmp_path_factory.mktemp("batch")
    speech, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    sf.write(d / "first.wav", speech[: 4 * rate], rate)
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    clip = librosa.resample(speech[13 * rate: 16 * rate], orig_sr=rate, target_sr=44100)
    sf.write(d / "third.flac", np.stack([clip, clip], axis=1), 44100)  # other rate, stereo, flac
    out = d / "out"
    proc = coder("transcribe", d / "first.wav", d / "broken.wav", d / "third.flac", "--out", out,
                 "--engine", "openai-whisper", "--model", real_models_dir / "openai-whisper-base.pt", "--language", "en",
                 "--beam-size", "1", timeout=600)
    return d, out, proc


def test_exit_code_reports_the_failure(batch):
    _d, _out, proc = batch
    assert proc.exit_code == 1


def test_bad_input_gets_one_line_and_the_rest_is_processed(batch):
    d, out, proc = batch
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {d / 'broken.wav'}: not a readable audio file (unknown format or corrupt data)"]
    assert not (out / "broken.json").exists()
    for stem in ("first", "third"):
        for ext in ("json", "rttm", "vtt", "txt"):
            assert (out / f"{stem}.{ext}").is_file()
    assert not list(out.glob(".*")), "no temporary files left behind"


def test_json_follows_the_contract(batch):
    d, out, _proc = batch
    doc = json.loads((out / "third.json").read_text())
    assert doc["audio"] == str(d / "third.flac")
    assert doc["duration"] == pytest.approx(3.0, abs=0.01)  # resampled from 44.1 kHz stereo
    assert doc["engine"] == "openai-whisper" and doc["model"] == "openai-whisper-base.pt" and doc["language"] == "en"
    assert set(doc["timings"]) == {"transcribe_s", "diarize_s", "total_s"}
    assert doc["speakers"] and all(info["role"] in ("therapist", "client", None) for info in doc["speakers"].values())
    assert doc["channels"] == {"count": 2, "layout": "same-signal"} and doc["no_speech"] is False
    assert "thank you for telling me" in " ".join(s["text"] for s in doc["segments"]).lower()
    for seg in doc["segments"]:
        assert set(seg) >= {"start", "end", "speaker", "text", "words"}
        assert 0 <= seg["start"] <= seg["end"] <= doc["duration"] + 0.5
        assert seg["speaker"] in doc["speakers"]
        for w in seg["words"]:
            assert set(w) == {"start", "end", "text", "speaker", "probability"}
            assert w["start"] <= w["end"] and 0 <= w["probability"] <= 1


def test_rttm_uses_the_stem_as_uri(batch):
    _d, out, _proc = batch
    lines = (out / "first.rttm").read_text().splitlines()
    assert lines
    for line in lines:
        fields = line.split()
        assert fields[0] == "SPEAKER" and fields[1] == "first" and len(fields) == 10
        assert float(fields[3]) >= 0 and float(fields[4]) > 0


def test_vtt_and_text(batch):
    _d, out, _proc = batch
    vtt = (out / "first.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n") and " --> " in vtt
    assert (out / "first.txt").read_text().startswith("[00:00:0")


def test_missing_model_file_is_one_clear_line(tmp_path):
    write_tone(tmp_path / "a.wav")
    proc = coder("transcribe", tmp_path / "a.wav", "--out", tmp_path / "out", "--model", tmp_path / "nope.pt",
                 timeout=300)
    assert proc.exit_code == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "nope.pt not found" in lines[0] and "--model PATH" in lines[0] and "CODER_WHISPER_MODEL" in lines[0]


def test_faster_whisper_is_the_default_engine(tmp_path, real_models_dir):
    """With no engine named, `coder transcribe` uses faster-whisper (and the store's faster-whisper model), and so
    do `coder process`, `coder demo` and a study's processing options."""
    import soundfile as sf

    from coder.jobs.options import DEFAULT_OPTIONS

    speech, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    sf.write(tmp_path / "clip.wav", speech[: 4 * rate], rate)
    env = {"CODER_MODELS_DIR": str(real_models_dir), "CODER_WHISPER_MODEL": ""}
    proc = coder("transcribe", tmp_path / "clip.wav", "--out", tmp_path / "out", "--language", "en",
                 "--beam-size", "1", env=env, timeout=600)
    assert proc.exit_code == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "clip.json").read_text())
    assert (doc["engine"], doc["model"]) == ("faster-whisper", "faster-whisper-base")
    assert doc["segments"] and doc["segments"][0]["words"]
    for command in ("transcribe", "process", "demo"):
        assert "Default: faster-whisper," in " ".join(coder(command, "--help", check=True).stdout.split()), command
    assert DEFAULT_OPTIONS["engine"] == "faster-whisper"


def test_a_pt_checkpoint_with_no_engine_named_goes_to_openai_whisper(tmp_path, real_models_dir, monkeypatch):
    """CONTRACTS.md: --model takes an openai-whisper .pt or a CTranslate2 directory, whichever engine is the
    default; with no --engine, the checkpoint names its engine."""
    import soundfile as sf

    from coder.pipeline.asr import engine_for

    speech, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    sf.write(tmp_path / "clip.wav", speech[: 4 * rate], rate)
    proc = coder("transcribe", tmp_path / "clip.wav", "--out", tmp_path / "out", "--language", "en",
                 "--model", real_models_dir / "openai-whisper-base.pt", "--diarizer", "none",
                 env={"CODER_WHISPER_MODEL": ""}, timeout=600)
    assert proc.exit_code == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "clip.json").read_text())
    assert (doc["engine"], doc["model"]) == ("openai-whisper", "openai-whisper-base.pt")
    assert engine_for(str(real_models_dir / "faster-whisper-base")) == "faster-whisper"
    monkeypatch.setenv("CODER_WHISPER_MODEL", "/models/large-v3.pt")
    assert engine_for(None) == "openai-whisper"  # the environment's model names it too


def test_openai_whisper_checkpoint_given_to_faster_whisper(tmp_path):
    from coder.pipeline.asr import ModelUnavailable, load_engine

    (tmp_path / "base.pt").write_bytes(b"weights")
    with pytest.raises(ModelUnavailable, match=r"use --engine openai-whisper for a \.pt file"):
        load_engine("faster-whisper", str(tmp_path / "base.pt"))


def test_ctranslate2_directory_given_to_openai_whisper(tmp_path):
    from coder.pipeline.asr import ModelUnavailable, load_engine

    (tmp_path / "ct2").mkdir()
    with pytest.raises(ModelUnavailable, match="needs a .pt file"):
        load_engine("openai-whisper", str(tmp_path / "ct2"))


def test_model_resolution_order(tmp_path, monkeypatch):
    from coder.pipeline.asr import resolve_model

    monkeypatch.delenv("CODER_WHISPER_MODEL", raising=False)
    store = tmp_path / "store"
    store.mkdir()
    assert resolve_model("openai-whisper", None, store) == "base"
    (store / "large.pt").write_bytes(b"")
    (store / "openai-whisper-base.pt").write_bytes(b"")
    (store / "fw-base").mkdir()
    (store / "fw-base" / "model.bin").write_bytes(b"")
    assert resolve_model("openai-whisper", None, store) == str(store / "openai-whisper-base.pt")
    assert resolve_model("faster-whisper", None, store) == str(store / "fw-base")
    monkeypatch.setenv("CODER_WHISPER_MODEL", "small")
    assert resolve_model("openai-whisper", None, store) == "small"
    assert resolve_model("openai-whisper", "tiny.en", store) == "tiny.en"


DOC = {
    "speakers": {"SPEAKER_00": {"role": "therapist"}, "SPEAKER_01": {"role": None}},
    "segments": [
        {"start": 0.5, "end": 2.0, "speaker": "SPEAKER_00", "text": "Hello there."},
        {"start": 2.3, "end": 4.25, "speaker": "SPEAKER_00", "text": "How was your week?"},
        {"start": 5.0, "end": 3661.5, "speaker": "SPEAKER_01", "text": "Fine --> mostly."},
    ],
}


def test_rttm_joins_a_speakers_consecutive_segments():
    assert formats.to_rttm(DOC, "my session") == (
        "SPEAKER my_session 1 0.500 3.750 <NA> <NA> SPEAKER_00 <NA> <NA>\n"
        "SPEAKER my_session 1 5.000 3656.500 <NA> <NA> SPEAKER_01 <NA> <NA>\n")


def test_vtt_times_roles_and_escaping():
    vtt = formats.to_vtt(DOC)
    assert "00:00:00.500 --> 00:00:02.000\n<v Therapist>Hello there." in vtt
    assert "00:00:05.000 --> 01:01:01.500\n<v SPEAKER_01>Fine -> mostly." in vtt


def test_text_export():
    assert formats.to_text(DOC).splitlines()[0] == "[00:00:00] Therapist: Hello there."


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "x.json"
    formats.atomic_write(target, "old")
    formats.atomic_write(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_unavailable_diarizer_stops_before_any_work(tmp_path, tiny_whisper):
    write_tone(tmp_path / "a.wav")
    proc = coder("transcribe", tmp_path / "a.wav", "--out", tmp_path / "out", "--model", tiny_whisper, "--diarizer",
                 "pyannote", timeout=300)
    assert proc.exit_code == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: the pyannote diariser needs pyannote.audio (pip install 'coder[pyannote]'")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("engine_name, model", [("openai-whisper", "openai-whisper-base.pt"),
                                                 ("faster-whisper", "faster-whisper-base")])
def test_progress_is_reported_within_a_batch_as_the_engine_decodes(real_models_dir, engine_name, model):
    """Less than one batch of speech (vad.BATCH_S) reports its progress more than once before the batch ends:
    openai-whisper after each 30-s window it decodes, faster-whisper as each segment comes out of its batched
    pipeline; forwards only, on the recording's clock."""
    from coder.pipeline import audio, vad
    from coder.pipeline.asr import load_engine
    from coder.pipeline.transcribe import recognise

    need_model = real_models_dir / model
    if not need_model.exists():
        pytest.skip(f"{need_model} missing (make models)")
    samples = audio.load(SAMPLE_DIR / "demo_session.ogg")[: 100 * audio.SAMPLE_RATE]  # 3 or more windows
    regions = vad.speech_regions(samples)
    assert len(vad.batches(regions)) == 1
    reports = []
    engine = load_engine(engine_name, str(need_model), beam_size=1)
    segments, _language, _notes = recognise(samples, engine, "en", progress=reports.append)
    assert segments
    batch_end = regions[-1][1]
    within = [s for s in reports if s < batch_end]
    assert len(within) >= 2, reports
    assert reports == sorted(set(reports)) and 0 < reports[0] and reports[-1] <= len(samples) / audio.SAMPLE_RATE
