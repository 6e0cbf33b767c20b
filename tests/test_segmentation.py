"""segmentation-3.0 in plain torch (coder.pipeline.diarize.segmentation): the checkpoint loader, the powerset,
the frame geometry, a tiny random model and the real weights. tests/test_diarize_pyannote.py checks the frame
outputs against pyannote.audio's own loader."""
import numpy as np
import pytest

from coder.pipeline.diarize import segmentation as seg

from .support.paths import SAMPLE_DIR

TINY = {"sample_rate": 16000, "num_channels": 1, "sincnet": {"stride": 10},
        "lstm": {"hidden_size": 8, "num_layers": 1, "bidirectional": True, "monolithic": True},
        "linear": {"hidden_size": 8, "num_layers": 1}}


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A randomly initialised PyanNet saved in the hub layout (a directory holding pytorch_model.bin)."""
    import torch

    torch.manual_seed(0)
    net = seg.build(TINY, 7)
    with torch.no_grad():  # the filterbank's band edges as pyannote.audio initialises them (mel-spaced)
        mel = np.linspace(2595 * np.log10(1 + 30 / 700), 2595 * np.log10(1 + 7900 / 700), 41)
        hz = 700 * (10 ** (mel / 2595) - 1)
        net.sincnet.conv1d[0].filterbank.low_hz_.copy_(torch.tensor(hz[:-1]).view(-1, 1))
        net.sincnet.conv1d[0].filterbank.band_hz_.copy_(torch.tensor(np.diff(hz)).view(-1, 1))
    torch.save({"state_dict": net.state_dict(), "hyper_parameters": TINY}, tmp_path / "pytorch_model.bin")
    return tmp_path, net


def test_powerset_classes_in_pyannote_order():
    assert seg.powerset_mapping(3, 2).tolist() == [
        [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]]


def test_frame_geometry_of_a_ten_second_window():
    assert seg.num_frames(160000) == 589  # pyannote.audio's figure for segmentation-3.0
    g = seg.geometry()
    assert g.step == pytest.approx(270 / 16000) and g.receptive == pytest.approx(991 / 16000)


def test_tiny_checkpoint_loads_and_gives_frames(tiny_checkpoint):
    import torch

    directory, net = tiny_checkpoint
    model = seg.Segmentation.load(directory)
    rng = np.random.default_rng(0)
    windows = rng.standard_normal((2, 32000)).astype(np.float32) * 0.1
    logp = model.powerset(windows)
    assert logp.shape == (2, seg.num_frames(32000), 7)
    np.testing.assert_allclose(logp.exp().sum(-1).numpy(), 1.0, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(logp.numpy(), net.eval()(torch.from_numpy(windows)[:, None]).numpy(), atol=1e-6)
    hard = model.speakers(windows)
    assert set(np.unique(hard)) <= {0.0, 1.0} and hard.sum(-1).max() <= 2
    # hard activity follows the most likely class
    classes = logp.argmax(-1).numpy()
    np.testing.assert_array_equal(hard, seg.powerset_mapping(3, 2)[classes])


def test_checkpoint_file_path_and_environment_variable(tiny_checkpoint, monkeypatch):
    directory, _ = tiny_checkpoint
    assert seg.resolve(directory / "pytorch_model.bin") == directory / "pytorch_model.bin"
    monkeypatch.setenv("CODER_SEGMENTATION_MODEL", str(directory))
    assert seg.resolve() == directory / "pytorch_model.bin"


def test_missing_checkpoint_names_the_remedy(tmp_path, monkeypatch):
    monkeypatch.delenv("CODER_SEGMENTATION_MODEL", raising=False)
    with pytest.raises(seg.SegmentationUnavailable, match="no segmentation checkpoint"):
        seg.resolve(tmp_path / "nowhere")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(seg.SegmentationUnavailable, match="make models.*CODER_SEGMENTATION_MODEL"):
        seg.resolve(None, tmp_path)


def test_not_a_segmentation_checkpoint(tmp_path):
    import torch

    torch.save({"weights": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(seg.SegmentationUnavailable, match="not a pyannote segmentation checkpoint"):
        seg.Segmentation.load(tmp_path)


def test_real_weights_hear_speech_not_silence(diarization_models_dir):
    from coder.pipeline import audio

    model = seg.Segmentation.load(None, diarization_models_dir)
    silence = np.zeros(160000, dtype=np.float32)
    speech = audio.load(SAMPLE_DIR / "demo_session.ogg")[:160000]
    active = model.speakers(np.stack([silence, speech]))
    assert active[0].sum() == 0
    assert active[1].max(-1).mean() > 0.5  # the demo session's first 10 s are mostly speech
