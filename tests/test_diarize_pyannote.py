"""The pyannote backend, in its own environment (``make test-pyannote``: torch 2.9 with torchaudio and
pyannote.audio), with a pipeline of small randomly initialised models in the layout of a downloaded one.

Random weights say nothing about accuracy; these tests exercise coder's
integration: loading a local pipeline directory, running it on audio in
memory, turning its output into coder's turns and labels, word attribution,
roles, and the command line. The main test run deselects them (``-m "not
pyannote"``); under CI the pyannote run fails rather than skips when
pyannote.audio is missing.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .support.cli import coder
from .support.paths import SAMPLE_DIR
from .support.prerequisites import need

pytestmark = pytest.mark.pyannote

try:
    import pyannote.audio  # noqa: F401
    HAVE_PYANNOTE = True
except ImportError:
    HAVE_PYANNOTE = False


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    need(HAVE_PYANNOTE, "pyannote.audio is not installed in this environment")
    out = tmp_path_factory.mktemp("pipeline")
    subprocess.run([sys.executable, str(Path(__file__).parent / "pyannote" / "make_pipeline.py"), str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def clip():
    from coder.pipeline import audio

    return audio.load(SAMPLE_DIR / "demo_session.ogg")[: 30 * 16000]


def test_local_pipeline_directory_runs(pipeline_dir, clip):
    from coder.pipeline.diarize import make_diarizer

    result = make_diarizer("pyannote", model=str(pipeline_dir), device="cpu")(clip, 2)
    assert result.source == "pyannote"
    assert all(0 <= t.start < t.end <= 30.01 for t in result.turns)
    assert result.speakers == [f"SPEAKER_{i:02d}" for i in range(len(result.speakers))]
    assert [t.start for t in result.turns] == sorted(t.start for t in result.turns)
    for vec in result.embeddings.values():  # CAM++ voiceprints, not the pipeline's own 32-d embedding
        assert vec.shape == (192,) and abs(np.linalg.norm(vec) - 1) < 1e-6


def test_config_file_path_and_environment_variable(pipeline_dir, clip, monkeypatch):
    from coder.pipeline.diarize.pyannote import PyannoteDiarizer, check_available

    monkeypatch.setenv("CODER_PYANNOTE_MODEL", str(pipeline_dir / "config.yaml"))
    check_available()
    result = PyannoteDiarizer(device="cpu")(clip[: 10 * 16000], None)
    assert result.source == "pyannote"


def test_missing_pipeline_and_gated_hub_name_are_clear(tmp_path, monkeypatch):
    from coder.pipeline.diarize import DiarizerUnavailable
    from coder.pipeline.diarize.pyannote import check_available

    need(HAVE_PYANNOTE, "pyannote.audio is not installed in this environment")
    with pytest.raises(DiarizerUnavailable, match="no config.yaml of a pyannote pipeline there"):
        check_available(str(tmp_path))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGINGFACE_TOKEN", raising=False)
    with pytest.raises(DiarizerUnavailable, match="is gated on the model hub: set HF_TOKEN"):
        check_available("pyannote/speaker-diarization-3.1")


def test_transcribe_with_the_pyannote_diarizer(pipeline_dir, tmp_path, real_models_dir):
    import soundfile as sf

    speech, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    sf.write(tmp_path / "clip.wav", speech[: 20 * rate], rate)
    proc = coder("transcribe", tmp_path / "clip.wav", "--out", tmp_path / "out", "--engine", "faster-whisper",
                 "--model", real_models_dir / "faster-whisper-base", "--diarizer", "pyannote",
                 "--diarizer-model", pipeline_dir, "--language", "en", timeout=600)
    assert proc.exit_code == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "clip.json").read_text())
    assert doc["diarization"]["method"] == "pyannote" and doc["segments"]
    labels = {t[2] for t in doc["diarization"]["turns"]} or {"SPEAKER_00"}
    assert set(doc["speakers"]) == {s["speaker"] for s in doc["segments"]} <= labels
    assert all(w["speaker"] == s["speaker"] for s in doc["segments"] for w in s["words"])


def test_segmentation_loader_matches_pyannote(diarization_models_dir):
    """coder's plain-torch segmentation-3.0 gives pyannote.audio's frame outputs (to 1e-5) on real speech."""
    need(HAVE_PYANNOTE, "pyannote.audio is not installed in this environment")
    import torch
    from pyannote.audio import Model

    from coder.pipeline import audio
    from coder.pipeline.diarize.segmentation import Segmentation

    directory = diarization_models_dir / "pyannote-segmentation-3.0"
    theirs = Model.from_pretrained(str(directory / "pytorch_model.bin")).eval()
    ours = Segmentation.load(directory)
    samples = audio.load(SAMPLE_DIR / "demo_session.ogg")
    windows = np.stack([samples[i * 16000:(i + 10) * 16000] for i in (0, 7, 23)]).astype(np.float32)
    with torch.inference_mode():
        expected = theirs(torch.from_numpy(windows)[:, None]).numpy()
    got = ours.powerset(windows).numpy()
    assert got.shape == expected.shape == (3, 589, 7)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    from pyannote.audio.utils.powerset import Powerset

    hard = Powerset(3, 2).to_multilabel(torch.from_numpy(expected)).numpy()
    np.testing.assert_array_equal(ours.speakers(windows), hard)


def test_fbank_matches_torchaudio_kaldi():
    """CAM++'s front end computed with torch alone equals torchaudio.compliance.kaldi.fbank (3D-Speaker's), mean
    normalised."""
    need(HAVE_PYANNOTE, "torchaudio comes with pyannote.audio's environment")
    import torch
    import torchaudio.compliance.kaldi as kaldi

    from coder.pipeline import audio
    from coder.pipeline.diarize.campplus import fbank

    clip = audio.load(SAMPLE_DIR / "demo_session.ogg")[16000 * 3:16000 * 7 + 123]
    expected = kaldi.fbank(torch.from_numpy(clip)[None], num_mel_bins=80, sample_frequency=16000, dither=0)
    expected = expected - expected.mean(0, keepdim=True)
    got = fbank(clip)
    assert got.shape == expected.shape
    # log energies; torchaudio builds its mel filters in float32, coder in float64
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-3, rtol=0)


def test_local_segmentation_directory_runs_offline_with_campplus(diarization_models_dir, monkeypatch):
    """No token, hub switched off: the local segmentation-3.0 directory, CAM++ wrapped for pyannote's pipeline,
    on real speech (the demo session's first minute) against its reference turns."""
    need(HAVE_PYANNOTE, "pyannote.audio is not installed in this environment")
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    from coder.pipeline import audio
    from coder.pipeline.diarize import make_diarizer
    from coder.pipeline.diarize.pyannote import check_available, kind, model_setting
    from coder.pipeline.rttm import read

    for name in ("HF_TOKEN", "HUGGINGFACE_TOKEN", "CODER_PYANNOTE_MODEL", "CODER_PYANNOTE_EMBEDDING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    directory = diarization_models_dir / "pyannote-segmentation-3.0"
    assert kind(str(directory)) == "segmentation" and kind("pyannote/segmentation-3.0") == "segmentation"
    assert kind("pyannote/speaker-diarization-3.1") == "pipeline"
    check_available(str(directory))
    samples = audio.load(SAMPLE_DIR / "demo_session.ogg")[: 60 * 16000]
    result = make_diarizer("pyannote", model=str(directory), device="cpu")(samples, 2)
    assert result.source == "pyannote" and result.speakers == ["SPEAKER_00", "SPEAKER_01"]
    reference, hypothesis = Annotation(), Annotation()
    for i, t in enumerate(read(SAMPLE_DIR / "demo_session.rttm")["demo_session"]):
        if t.start < 60:
            reference[Segment(t.start, min(t.end, 60.0)), i] = t.speaker
    for i, t in enumerate(result.turns):
        hypothesis[Segment(t.start, t.end), i] = t.speaker
    assert DiarizationErrorRate(collar=0.0, skip_overlap=False)(reference, hypothesis) < 0.15
    assert {k: v.shape for k, v in result.embeddings.items()} == {"SPEAKER_00": (192,), "SPEAKER_01": (192,)}
    # no setting and no token: the model store's segmentation-3.0 is the default
    assert kind(model_setting()) == "segmentation"


def test_campplus_as_a_pyannote_model_embeds_as_coder_does(diarization_models_dir):
    """The wrapped CAM++ gives coder's CAM++ embedding of the masked samples (to 1e-4 after normalising)."""
    need(HAVE_PYANNOTE, "pyannote.audio is not installed in this environment")
    import torch

    from coder.pipeline import audio
    from coder.pipeline.diarize.campplus import SpeakerEmbedding
    from coder.pipeline.diarize.pyannote import campplus_model

    weights = diarization_models_dir / "campplus-sv-zh-en-16k" / "campplus_cn_en_common.pt"
    model = campplus_model(weights)
    ours = SpeakerEmbedding.load(weights)
    clip = audio.load(SAMPLE_DIR / "demo_session.ogg")[16000 * 5:16000 * 15]
    mask = np.zeros(589, dtype=np.float32)
    mask[100:400] = 1.0  # frames 100-399 of 589 over 10 s
    with torch.inference_mode():
        whole = model(torch.from_numpy(clip)[None, None]).numpy()[0]
        masked = model(torch.from_numpy(clip)[None, None], weights=torch.from_numpy(mask)[None]).numpy()[0]
    idx = np.arange(len(clip)) * 589 // len(clip)
    expected_whole, expected_masked = ours.embed([clip, clip[mask[idx] > 0.5]])
    np.testing.assert_allclose(whole / np.linalg.norm(whole), expected_whole, atol=1e-4)
    np.testing.assert_allclose(masked / np.linalg.norm(masked), expected_masked, atol=1e-4)
    assert model.dimension == 192
    with pytest.raises(ValueError):
        model(torch.zeros(1, 1, 100))  # too short: pyannote probes the shortest input this way
