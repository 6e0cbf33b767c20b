"""Whisper's failure modes on long sessions, with real Whisper base weights.

Hallucination over silence: the demo's opening turns, 30 s of quiet room
tone, then more turns; no word may land in the silence. Long recordings: the
demo session eleven times over (31.7 min); the transcript must keep pace with
the reference (no loops, nothing dropped) and its timestamps must stay on
the recording's clock.
"""
import json

import jiwer
import numpy as np
import pytest
import soundfile as sf
from whisper.normalizers import EnglishTextNormalizer

from coder.pipeline import audio
from coder.pipeline.asr import load_engine
from coder.pipeline.transcribe import transcribe_file

from .support.paths import SAMPLE_DIR

pytestmark = pytest.mark.whisper
TURNS = json.loads((SAMPLE_DIR / "demo_session.turns.json").read_text())
NORMALISE = EnglishTextNormalizer()
MODELS = {"openai-whisper": "openai-whisper-base.pt", "faster-whisper": "faster-whisper-base"}


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(NORMALISE(reference), NORMALISE(hypothesis))


@pytest.fixture(scope="module")
def demo():
    return audio.load(SAMPLE_DIR / "demo_session.ogg")


@pytest.fixture(scope="module")
def silence_session(demo, tmp_path_factory):
    first = demo[: int(TURNS[1]["end"] * 16000) + 4000]
    second = demo[int(TURNS[2]["start"] * 16000) - 4000: int(TURNS[3]["end"] * 16000) + 4000]
    tone = np.random.default_rng(0).normal(0, 10 ** (-60 / 20), 30 * 16000).astype(np.float32)
    path = tmp_path_factory.mktemp("silence") / "silence.wav"
    sf.write(path, np.concatenate([first, tone, second]), 16000)
    window = (len(first) / 16000, len(first) / 16000 + 30)
    return path, window, " ".join(t["text"] for t in TURNS[:4])


@pytest.mark.parametrize("engine", MODELS)
def test_no_words_in_a_30_second_silence(engine, silence_session, real_models_dir):
    path, (quiet_from, quiet_to), reference = silence_session
    asr = load_engine(engine, str(real_models_dir / MODELS[engine]))
    doc = transcribe_file(path, asr, diarizer="none", language="en")  # Whisper alone is under test
    words = [w for s in doc["segments"] for w in s["words"]]
    inside = [w for w in words if w["end"] > quiet_from + 0.5 and w["start"] < quiet_to - 0.5]
    assert inside == []
    assert any(w["start"] >= quiet_to for w in words), "speech after the silence is transcribed"
    assert wer(reference, " ".join(s["text"] for s in doc["segments"])) < 0.15


@pytest.fixture(scope="module")
def long_session(demo, tmp_path_factory):
    gap = np.zeros(2 * 16000, dtype=np.float32)
    x = np.concatenate([np.concatenate([demo, gap]) for _ in range(11)])
    x += np.random.default_rng(0).normal(0, 1e-3, len(x)).astype(np.float32)
    path = tmp_path_factory.mktemp("long") / "long.flac"
    sf.write(path, x, 16000)
    return path, " ".join([" ".join(t["text"] for t in TURNS)] * 11)


def test_a_recording_longer_than_30_minutes(long_session, real_models_dir):
    path, reference = long_session
    asr = load_engine("faster-whisper", str(real_models_dir / MODELS["faster-whisper"]))
    seen = []
    doc = transcribe_file(path, asr, diarizer="none", language="en", progress=seen.append)
    assert doc["duration"] > 30 * 60
    text = " ".join(s["text"] for s in doc["segments"])
    assert wer(reference, text) < 0.10
    ref_words, got_words = len(NORMALISE(reference).split()), len(NORMALISE(text).split())
    assert 0.9 < got_words / ref_words < 1.1  # no loops inflating it, no stretches dropped
    starts = [w["start"] for s in doc["segments"] for w in s["words"]]
    assert starts == sorted(starts) and starts[-1] < doc["duration"]
    # the last copy of the session lines up with where it really is
    last_copy = 10 * (len(audio.load(SAMPLE_DIR / "demo_session.ogg")) / 16000 + 2)
    assert min(abs(t - (last_copy + TURNS[0]["start"])) for t in starts) < 1.0
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] == pytest.approx(doc["duration"])
