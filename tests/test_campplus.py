"""CAM++ speaker embeddings in plain torch (coder.pipeline.diarize.campplus): the Kaldi filterbank front end,
the network's layout against the published state dict, and voices told apart with the real weights.
tests/test_diarize_pyannote.py compares the filterbank with torchaudio's."""
import numpy as np
import pytest

from coder.pipeline.diarize import campplus

from .support.paths import SAMPLE_DIR


def test_fbank_frames_and_mean_normalisation():
    clip = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    feats = campplus.fbank(clip).numpy()
    assert feats.shape == (1 + (16000 - 400) // 160, 80)  # Kaldi's snip_edges framing
    np.testing.assert_allclose(feats.mean(axis=0), 0, atol=1e-4)
    assert campplus.fbank(clip[:399]).shape == (0, 80)


def test_fbank_puts_a_tone_in_its_mel_band():
    t = np.arange(16000) / 16000
    for hz in (300.0, 2000.0):
        tone = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        x = tone + np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 1e-3
        # after half a second of near silence, the band holding the tone stands highest in the tone's frames
        raw = campplus.fbank(np.concatenate([np.zeros(8000, np.float32) + 1e-3 * np.random.default_rng(2)
                                             .standard_normal(8000).astype(np.float32), x])).numpy()
        loudest = raw[-20:].argmax(axis=1)
        centre = 1127 * np.log(1 + hz / 700)
        edges = np.linspace(1127 * np.log(1 + 20 / 700), 1127 * np.log(1 + 8000 / 700), 82)
        expected = int(np.argmin(abs(edges[1:-1] - centre)))
        assert abs(np.median(loudest) - expected) <= 1


def test_random_network_embeds_clips_of_any_length():
    net = campplus.build()
    model = campplus.SpeakerEmbedding(net)
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000, 24000, 16000)]
    emb = model.embed(clips)
    assert emb.shape == (3, 192)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    # batching equal lengths together changes nothing
    np.testing.assert_allclose(model.embed([clips[2]])[0], emb[2], atol=1e-5)
    with pytest.raises(ValueError, match="too short"):
        model.embed([clips[0][:500]])


def test_missing_weights_name_the_remedy(tmp_path, monkeypatch):
    monkeypatch.delenv("CODER_EMBEDDING_MODEL", raising=False)
    with pytest.raises(campplus.EmbeddingUnavailable, match="make models.*CODER_EMBEDDING_MODEL"):
        campplus.resolve(None, tmp_path)
    monkeypatch.setenv("CODER_EMBEDDING_MODEL", str(tmp_path / "nowhere.pt"))
    with pytest.raises(campplus.EmbeddingUnavailable, match="nowhere.pt"):
        campplus.resolve(None, tmp_path)


def test_real_weights_load_and_tell_the_demo_voices_apart(diarization_models_dir):
    from coder.pipeline import audio
    from coder.pipeline.rttm import read

    model = campplus.SpeakerEmbedding.load(None, diarization_models_dir)
    samples = audio.load(SAMPLE_DIR / "demo_session.ogg")
    turns = [t for t in next(iter(read(SAMPLE_DIR / "demo_session.rttm").values())) if t.end - t.start >= 2][:12]
    emb = model.embed([samples[int(t.start * 16000):int(t.start * 16000) + 32000] for t in turns])
    sims = emb @ emb.T
    who = np.array([t.speaker for t in turns])
    same = sims[(who[:, None] == who[None, :]) & ~np.eye(len(who), dtype=bool)]
    other = sims[who[:, None] != who[None, :]]
    assert len(set(who)) == 2 and same.min() > other.max()


def test_frozen_network_gives_the_eager_embeddings(diarization_models_dir):
    """Many clips in one call run through the traced, frozen network (batch norms folded into the convolutions);
    its voiceprints are the eager network's, for clips of every length, alone or batched."""
    from coder.pipeline import audio

    model = campplus.SpeakerEmbedding.load(None, diarization_models_dir)
    eager = campplus.SpeakerEmbedding(model.net, frozen=False)
    samples = audio.load(SAMPLE_DIR / "demo_session.ogg")
    lengths = [47790] * 40 + [campplus.SpeakerEmbedding.min_samples, 16000, 21870, 33210] * 3
    clips = [samples[i * 8000:i * 8000 + n] for i, n in enumerate(lengths)]
    assert len(clips) >= model.freeze_from
    frozen = model.embed(clips)
    assert model._frozen is not None and model._frozen is not model.net
    reference = eager.embed(clips)
    assert eager._frozen is None
    assert (frozen * reference).sum(axis=1).min() > 1 - 1e-5
    np.testing.assert_allclose(frozen, reference, atol=1e-4)
    # few clips: the eager network, no tracing
    few = campplus.SpeakerEmbedding.load(None, diarization_models_dir)
    few.embed(clips[:3])
    assert few._frozen is None


def test_hub_name_without_the_hub_client_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("CODER_EMBEDDING_MODEL", raising=False)
    try:
        import modelscope  # noqa: F401
        pytest.skip("modelscope is installed: the hub would be asked")
    except ImportError:
        pass
    for name in (campplus.HUB_NAME, None):
        with pytest.raises(campplus.EmbeddingUnavailable) as caught:
            campplus.resolve(name, tmp_path)
        message = str(caught.value)
        assert "\n" not in message
        assert campplus.HUB_NAME in message and "make models" in message and "CODER_EMBEDDING_MODEL" in message


def test_local_hub_snapshot_directory_loads(diarization_models_dir, tmp_path):
    """A directory laid out as the hub's snapshot (the state dict inside) is read as the hub's copy would be."""
    snapshot = tmp_path / "speech_campplus_sv_zh_en_16k-common_advanced"
    snapshot.mkdir()
    (snapshot / campplus.WEIGHTS.name).symlink_to(diarization_models_dir / campplus.WEIGHTS)
    assert campplus.resolve(str(snapshot)) == snapshot / campplus.WEIGHTS.name


def test_equal_clips_go_through_in_bounded_batches():
    """Long sessions give thousands of equal-length clips; the network takes ``batch_size`` at a time (one call for
    all of them took gigabytes), with the same voiceprints."""
    net = campplus.build()
    model = campplus.SpeakerEmbedding(net, frozen=False)
    model.batch_size = 2
    seen = []
    net.register_forward_pre_hook(lambda _module, args: seen.append(args[0].shape[0]))
    rng = np.random.default_rng(3)
    clips = [rng.standard_normal(16000).astype(np.float32) * 0.1 for _ in range(5)] + [
        rng.standard_normal(20000).astype(np.float32) * 0.1]
    emb = model.embed(clips)
    assert sorted(seen) == [1, 1, 2, 2]
    model.batch_size = 32
    np.testing.assert_allclose(model.embed(clips), emb, atol=1e-5)
