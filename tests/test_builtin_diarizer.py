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


def test_more_voices_than_requested_warns_and_only_then():
    rng = np.random.default_rng(2)
    a, b, c = np.eye(16)[:3]
    three = np.vstack([voices(rng, a, 10), voices(rng, b, 10), voices(rng, c, 10)])
    d = BuiltinDiarizer()
    warnings: list[str] = []
    labels, k = d.cluster(three, np.ones(30), 2, warnings)
    assert k == 2 and warnings == ["the recording seems to hold more voices than the 2 requested (about 3); speech "
                                   "of the others is given to the nearest of the 2"]
    assert d.cluster(three, np.ones(30), None, [])[1] == 3
    warnings = []
    d.cluster(three[:20], np.ones(20), 2, warnings)
    assert warnings == []


def test_similar_voices_stay_apart_and_one_voice_stays_one():
    # two voices whose centroids are 0.8 alike (two similar synthetic voices come out so with CAM++) are two;
    # one voice, however finely the tree is cut, is one
    rng = np.random.default_rng(3)
    a = np.eye(32)[0]
    b = 0.8 * a + 0.6 * np.eye(32)[1]
    two = np.vstack([voices(rng, a, 30, 0.05), voices(rng, b, 30, 0.05)])
    d = BuiltinDiarizer()
    labels, k = d.cluster(two, np.ones(60), None, [])
    assert k == 2 and len(set(labels[:30])) == 1 and labels[0] != labels[30]
    one = voices(rng, a, 60, 0.06)
    assert d.cluster(one, np.ones(60), None, [])[1] == 1


def test_a_voice_that_speaks_little_is_kept_a_stray_piece_is_not():
    # one embedding (1.2 s of 60 s) unlike every other: a second voice (AMI trn03); one like the rest: folded
    rng = np.random.default_rng(5)
    a, b = np.eye(16)[0], np.eye(16)[1]
    main = voices(rng, a, 20)
    weights = np.r_[np.full(20, 3.0), 1.2]
    d = BuiltinDiarizer()
    labels, k = d.cluster(np.vstack([main, voices(rng, b, 1)]), weights, None, [])
    assert k == 2 and labels[-1] != labels[0]
    assert d.cluster(np.vstack([main, voices(rng, a, 1, 0.3)]), weights, None, [])[1] == 1


def test_a_local_speaker_is_split_at_pauses():
    # segmentation-3.0 may keep two similar voices taking turns as one local speaker; the parts on either side of
    # a pause are embedded and assigned apart
    d = BuiltinDiarizer(split_gap_s=0.5, max_part_s=0)
    activity = np.zeros((1, FRAMES, 3))
    pause = int(np.ceil(0.6 / STEP))
    activity[0, 10:100, 0] = activity[0, 100 + pause:300, 0] = 1
    activity[0, 320:380, 1] = 1
    activity[0, 400:402, 0] = 1  # a third part, however brief
    parts = d.split(activity, STEP)
    assert parts.shape[2] == 4
    assert parts.sum(axis=2).tolist() == activity.sum(axis=2).tolist()
    assert parts[0, 10:100, 0].all() and not parts[0, 100:, 0].any()
    short = np.zeros((1, FRAMES, 3))
    short[0, 10:100, 0] = short[0, 100 + pause // 3:300, 0] = 1  # a pause under split_gap_s keeps one part
    assert d.split(short, STEP).shape[2] == 1


def test_a_local_speaker_is_split_where_another_talks_over_it():
    # on synthetic voices segmentation-3.0 often keeps one local speaker from the first voice through an
    # interruption into the second: the stretch before, during and after the overlap are parts of their own
    d = BuiltinDiarizer(max_part_s=0)
    activity = np.zeros((1, FRAMES, 3))
    activity[0, 10:300, 0] = 1
    activity[0, 150:200, 1] = 1
    parts = d.split(activity, STEP)
    assert parts.shape[2] == 4
    assert parts.sum(axis=2).tolist() == activity.sum(axis=2).tolist()
    spans = sorted((int(np.flatnonzero(parts[0, :, j])[0]), int(np.flatnonzero(parts[0, :, j])[-1]) + 1)
                   for j in range(4))
    assert spans == [(10, 150), (150, 200), (150, 200), (200, 300)]


def test_long_stretches_are_cut_into_parts():
    d = BuiltinDiarizer(max_part_s=2.0)
    activity = np.zeros((1, FRAMES, 3))
    activity[0, 10:400, 0] = 1  # 6.6 s without a pause
    parts = d.split(activity, STEP)
    lengths = parts[0].sum(axis=0)
    assert len(lengths) == 4 and lengths.sum() == 390 and lengths.max() * STEP <= 2.0


def test_a_part_is_embedded_once_though_two_windows_hold_it():
    # windows every 5 s overlap by half: a part is embedded by the window whose middle holds its middle, and the
    # other window's copy is assigned from it (parts without clean speech are not embedded at all)
    class Net:
        min_samples = 400

        def __init__(self):
            self.clips = []

        def embed(self, clips, between=None):
            self.clips += clips
            return np.tile(np.eye(4)[0], (len(clips), 1)).astype(np.float32)

    d = BuiltinDiarizer(max_part_s=0)
    shift = int(round(5.0 / STEP))
    activity = np.zeros((2, FRAMES, 3))
    activity[0, 350:450, 0] = 1  # about 6 s to 7.7 s of the recording: the first window's middle stretch
    activity[1, 350 - shift:450 - shift, 0] = 1  # the same speech in the second window
    activity[1, 450:550, 1] = activity[1, 450:550, 2] = 1  # overlapped only: no clean speech to embed
    net = Net()
    keys, vectors, seconds = d.embed(net, np.zeros(16000 * 15, dtype=np.float32), np.array([0.0, 5.0]), activity,
                                     STEP)
    assert keys == [(0, 0)] and len(net.clips) == 1
    assign = d.assign(keys, vectors, np.eye(4)[:2], activity)
    assert assign[(1, 0)] == assign[(0, 0)] == 0 and {assign[(1, 1)], assign[(1, 2)]} == {0, 1}


def test_only_local_speakers_talking_together_must_differ():
    rng = np.random.default_rng(4)
    a, b = np.eye(8)[0], np.eye(8)[1]
    centroids = np.vstack([a, b])
    activity = np.zeros((1, FRAMES, 3))
    activity[0, :100, 0] = activity[0, 200:300, 1] = 1  # one after the other: both may be a
    activity[0, 250:350, 2] = 1  # talks over part 1, sounds like a too
    vectors = np.vstack([voices(rng, a, 1, 0.01), voices(rng, a, 1, 0.01), voices(rng, 0.9 * a + 0.44 * b, 1, 0.01)])
    assign = BuiltinDiarizer().assign([(0, 0), (0, 1), (0, 2)], vectors, centroids, activity)
    assert assign == {(0, 0): 0, (0, 1): 0, (0, 2): 1}


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


def test_clips_are_embedded_a_chunk_at_a_time():
    """A long session's clips are cut and embedded ``embed_chunk`` at a time (peak memory), with the same vectors
    as in one call."""
    from coder.pipeline.diarize import campplus

    class Counting(campplus.SpeakerEmbedding):
        calls: list[int] = []

        def embed(self, clips, between=None):
            self.calls.append(len(clips))
            return super().embed(clips, between)

    rng = np.random.default_rng(6)
    audio = (rng.standard_normal(16000 * 30) * 0.1).astype(np.float32)
    starts = np.arange(0, 21, 5.0)
    step = 0.016875
    activity = np.zeros((len(starts), 589, 3))
    activity[:, 10:200, 0] = 1
    activity[:, 300:500, 1] = 1
    emb = Counting(campplus.build())
    diarizer = BuiltinDiarizer(device="cpu", embed_chunk=3, embed_once=False)
    keys, chunked, _ = diarizer.embed(emb, audio, starts, activity, step)
    assert len(keys) >= 8 and max(emb.calls) <= 3
    emb.calls.clear()
    keys_whole, whole, _ = BuiltinDiarizer(device="cpu", embed_chunk=10_000, embed_once=False).embed(
        emb, audio, starts, activity, step)
    assert keys_whole == keys and emb.calls == [len(keys)]
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_a_few_seconds_of_one_voice_stay_one_speaker():
    # two 2 s parts, so two clusters of one embedding each: their likeness is judged against one_voice_similarity
    # (CAM++: 0.7-0.8 for one synthetic voice, 0.2-0.3 across two)
    d = BuiltinDiarizer()
    a = np.eye(8)[0]
    same = np.vstack([a, 0.8 * a + 0.6 * np.eye(8)[1]])  # 0.8 alike
    other = np.vstack([a, 0.25 * a + np.sqrt(1 - 0.25 ** 2) * np.eye(8)[1]])  # 0.25 alike
    assert d.cluster(same, np.ones(2), None, [])[1] == 1
    assert d.cluster(same, np.ones(2), 2, [])[1] == 1
    assert d.cluster(other, np.ones(2), None, [])[1] == 2
    assert BuiltinDiarizer(one_voice_similarity=1.0).cluster(same, np.ones(2), None, [])[1] == 2
