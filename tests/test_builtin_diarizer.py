"""The builtin diariser's own steps on made-up window activity (coder.pipeline.diarize.builtin): clustering,
assignment, overlapping turns, and the one-line error when its weights are missing. tests/test_diarize.py runs
it on real speech."""
import numpy as np
import pytest

from coder.pipeline.diarize import DiarizerUnavailable, check_available
from coder.pipeline.diarize.builtin import BuiltinDiarizer
from coder.pipeline.diarize.segmentation import geometry, num_frames

from .support.audio import write_tone
from .support.cli import coder

STEP = geometry().step
FRAMES = num_frames(160000)


def voices(rng, centre, n, spread=0.1):
    v = centre + spread * rng.standard_normal((n, len(centre)))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_requested_count_and_one_voice_split_in_two():
    rng = np.random.default_rng(0)
    a, b = np.eye(16)[0], np.eye(16)[1]
    two = np.vstack([voices(rng, a, 10), voices(rng, b, 10)])
    d = BuiltinDiarizer()
    warnings: list[str] = []
    labels, k = d.cluster(two, np.ones(20), 2, warnings)
    assert k == 2 and warnings == [] and len(set(labels[:10])) == 1 and labels[0] != labels[10]
    labels, k = d.cluster(two, np.ones(20), None, warnings)
    assert k == 2
    one = voices(rng, a, 20, spread=0.05)
    labels, k = d.cluster(one, np.ones(20), 2, warnings)
    assert k == 1 and warnings == ["only 1 distinct voice found where 2 were requested; the speech is given to "
                                   "1 speaker"]


def test_local_speakers_of_one_window_go_to_different_speakers():
    rng = np.random.default_rng(1)
    a, b = np.eye(8)[0], np.eye(8)[1]
    centroids = np.vstack([a, b])
    # both local speakers of window 0 sound closest to speaker a; one of them must still become b
    keys = [(0, 0), (0, 1)]
    vectors = np.vstack([voices(rng, a, 1, 0.01), voices(rng, 0.8 * a + 0.6 * b, 1, 0.01)])
    activity = np.zeros((1, FRAMES, 3))
    activity[0, :100, 0] = activity[0, 50:200, 1] = 1
    assign = BuiltinDiarizer().assign(keys, vectors, centroids, activity)
    assert assign == {(0, 0): 0, (0, 1): 1}


def test_overlapped_frames_give_overlapping_turns():
    d = BuiltinDiarizer(step_s=5.0)
    activity = np.zeros((2, FRAMES, 3))
    activity[0, 100:400, 0] = 1  # speaker A, about 1.7 s to 6.8 s
    activity[0, 300:500, 1] = 1  # speaker B from about 5.1 s: both talk from 5.1 s to 6.8 s
    shift = int(round(5.0 / STEP))
    activity[1, 300 - shift:500 - shift, 2] = 1  # the next window sees B as its third local speaker
    assign = {(0, 0): 0, (0, 1): 1, (1, 2): 1}
    frames = d.reconstruct(np.array([0.0, 5.0]), activity, assign, 2, STEP, 15.0)
    turns = d.turns(frames, STEP, 15.0)
    assert [t.speaker for t in turns] == ["SPEAKER_00", "SPEAKER_01"]
    a, b = turns
    assert a.start == pytest.approx(100 * STEP, abs=0.05) and a.end == pytest.approx(400 * STEP, abs=0.05)
    assert b.start < a.end  # overlap kept
    assert b.end == pytest.approx(500 * STEP, abs=0.05)


def test_missing_weights_say_how_to_provide_them(tmp_path, monkeypatch, tiny_whisper):
    monkeypatch.setenv("CODER_SEGMENTATION_MODEL", str(tmp_path / "nowhere"))
    with pytest.raises(DiarizerUnavailable) as err:
        check_available("builtin")
    message = str(err.value)
    assert "\n" not in message and "make models" in message
    assert "CODER_SEGMENTATION_MODEL" in message and "CODER_EMBEDDING_MODEL" in message
    write_tone(tmp_path / "a.wav")
    proc = coder("transcribe", tmp_path / "a.wav", "--out", tmp_path / "out", "--model", tiny_whisper,
                 env={"CODER_SEGMENTATION_MODEL": str(tmp_path / "nowhere")}, timeout=300)
    assert proc.exit_code == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "make models" in lines[0] and "CODER_EMBEDDING_MODEL" in lines[0]
    assert not (tmp_path / "out").exists()
