"""Batch transcription: bad inputs reported one by one, reruns resume, the model store.

The batch tests run faster-whisper with the real base weights: short, deterministic and realistic.
"""
import json
import wave

import numpy as np
import pytest
import soundfile as sf

from .support.audio import write_tone
from .support.cli import coder
from .support.paths import SAMPLE_DIR


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Two short clips of real speech from the demo session."""
    d = tmp_path_factory.mktemp("speech")
    x, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    sf.write(d / "one.wav", x[: 5 * rate], rate)
    sf.write(d / "two.flac", x[13 * rate: 18 * rate], rate)
    return d


@pytest.fixture(scope="module")
def engine_args(real_models_dir):
    return ["--engine", "faster-whisper", "--model", str(real_models_dir / "faster-whisper-base"), "--language", "en"]


def test_bad_inputs_in_a_batch(tmp_path, speech, engine_args):
    (tmp_path / "empty.wav").write_bytes(b"")
    data = (speech / "one.wav").read_bytes()
    (tmp_path / "truncated.wav").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.wav").write_text("these are session notes, not audio\n")
    with wave.open(str(tmp_path / "zero-length.wav"), "wb") as w:  # a valid header and no samples
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    sf.write(tmp_path / "room-tone.wav",
             np.random.default_rng(0).normal(0, 0.001, 16000 * 8).astype(np.float32), 16000)
    inputs = ["empty.wav", "truncated.wav", "notes.wav", "zero-length.wav", "room-tone.wav", "missing.wav"]
    proc = coder("transcribe", *[tmp_path / n for n in inputs], speech / "one.wav", "--out", tmp_path / "out",
                 *engine_args, timeout=900)
    assert proc.exit_code == 1
    errors = {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in proc.stderr.splitlines()
              if line.startswith("error: ")}
    assert errors == {
        str(tmp_path / "empty.wav"): "file is empty",
        str(tmp_path / "truncated.wav"): f"truncated WAV: {len(data) - len(data) // 2} bytes of audio data missing",
        str(tmp_path / "notes.wav"): "not a readable audio file (unknown format or corrupt data)",
        str(tmp_path / "zero-length.wav"): "contains no audio samples",
        str(tmp_path / "missing.wav"): "file not found",
    }
    # Room tone is audio without speech: an empty transcript, marked as such.
    doc = json.loads((tmp_path / "out" / "room-tone.json").read_text())
    assert doc["no_speech"] is True and doc["segments"] == [] and doc["processing"]["speech_s"] == 0
    assert "note: " + str(tmp_path / "room-tone.wav") + ": no speech found" in proc.stderr
    assert (tmp_path / "out" / "room-tone.rttm").read_text() == ""
    assert json.loads((tmp_path / "out" / "one.json").read_text())["segments"]
    assert "2 transcribed, 0 skipped, 5 failed" in proc.stderr


def test_rerun_resumes(tmp_path, speech, engine_args):
    out = tmp_path / "out"
    args = ["--out", str(out), *engine_args]
    one, two = tmp_path / "one.wav", tmp_path / "two.flac"
    one.write_bytes((speech / "one.wav").read_bytes())
    two.write_bytes((speech / "two.flac").read_bytes())
    first = coder("transcribe", one, two, *args, timeout=900)
    assert first.exit_code == 0 and "2 transcribed, 0 skipped" in first.stderr
    stamp = (out / "one.json").stat().st_mtime_ns

    again = coder("transcribe", one, two, *args, timeout=900)
    assert again.exit_code == 0 and "0 transcribed, 2 skipped" in again.stderr
    assert (out / "one.json").stat().st_mtime_ns == stamp

    write_tone(two, seconds=2)  # new audio under the same name is transcribed again
    changed = coder("transcribe", one, two, *args, timeout=900)
    assert "1 transcribed, 1 skipped" in changed.stderr
    assert f"{one}: already transcribed" in changed.stderr

    forced = coder("transcribe", one, *args, "--force", timeout=900)
    assert "1 transcribed, 0 skipped" in forced.stderr
    assert (out / "one.json").stat().st_mtime_ns != stamp


def test_a_half_written_output_is_not_taken_as_done(tmp_path, speech, engine_args):
    out = tmp_path / "out"
    out.mkdir()
    (out / "one.json").write_text('{"sha256": "')  # as if a previous run died mid-write
    proc = coder("transcribe", speech / "one.wav", "--out", out, *engine_args, timeout=900)
    assert proc.exit_code == 0 and "1 transcribed" in proc.stderr
    assert json.loads((out / "one.json").read_text())["sha256"]


def test_models_list_and_import(tmp_path, tiny_whisper):
    env = {"CODER_MODELS_DIR": tmp_path / "store"}
    assert "(empty)" in coder("models", env=env).stdout
    imported = coder("models", "import", tiny_whisper, "--name", "tiny-test", env=env)
    assert imported.exit_code == 0 and "imported tiny-test.pt (openai-whisper" in imported.stdout
    ct2 = tmp_path / "ct2-model"
    ct2.mkdir()
    for name in ("model.bin", "config.json", "vocabulary.txt"):
        (ct2 / name).write_text("x")
    assert coder("models", "import", ct2, env=env).exit_code == 0
    listing = coder("models", env=env).stdout
    assert "tiny-test.pt" in listing and "openai-whisper" in listing
    assert "ct2-model" in listing and "faster-whisper" in listing
    again = coder("models", "import", tiny_whisper, "--name", "tiny-test", env=env)
    assert again.exit_code == 1 and "already exists; pass --force" in again.stderr
    assert coder("models", "import", tiny_whisper, "--name", "tiny-test", "--force", env=env).exit_code == 0
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.startswith(".")]  # no staging left

    # The store is where transcription looks first.
    from coder.pipeline.asr import resolve_model
    assert resolve_model("openai-whisper", None, tmp_path / "store") == str(tmp_path / "store" / "tiny-test.pt")


@pytest.mark.parametrize("content,why", [
    (b"not a checkpoint", "not a readable PyTorch checkpoint"),
])
def test_import_refuses_what_is_not_a_model(tmp_path, content, why):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(content)
    proc = coder("models", "import", bad, env={"CODER_MODELS_DIR": tmp_path / "s"})
    assert proc.exit_code == 1 and why in proc.stderr
    half = tmp_path / "half"
    half.mkdir()
    (half / "model.bin").write_text("x")
    proc = coder("models", "import", half, env={"CODER_MODELS_DIR": tmp_path / "s"})
    assert proc.exit_code == 1 and "missing config.json, tokenizer.json or vocabulary.txt" in proc.stderr
