"""The diariser runs in a thread beside Whisper (coder.pipeline.transcribe.diarize_beside): both are under way at
once, the diariser's errors reach the caller, and a recording without speech does not wait on its result.
docs/benchmarks.md has the speed this buys."""
import threading

import pytest
import soundfile as sf

from coder.pipeline import transcribe
from coder.pipeline.asr import ASRResult
from coder.pipeline.diarize import Diarization, DiarizerUnavailable, Turn

from .support.paths import SAMPLE_DIR


class Engine:
    """Decodes nothing until the diariser has started (or gives up after 20 s): only a diariser that runs at the
    same time lets it through."""

    name, model_label = "test", "test"

    def __init__(self, started: threading.Event, words: bool = True):
        self.started, self.words, self.saw_diariser = started, words, False

    def transcribe(self, audio, language=None, progress=None):
        self.saw_diariser = self.started.wait(timeout=20)
        if not self.words:
            return ASRResult(language="en", segments=[])
        seg = {"start": 0.5, "end": 2.0, "text": "hello there", "words": [
            {"start": 0.5, "end": 1.0, "text": "hello", "probability": 0.9},
            {"start": 1.2, "end": 2.0, "text": "there", "probability": 0.9}]}
        return ASRResult(language="en", segments=[seg])


def _diariser(started: threading.Event, fail: Exception | None = None):
    def run(audio, num_speakers):
        started.set()
        if fail:
            raise fail
        return Diarization([Turn(0.0, 3.0, "SPEAKER_00")], {}, [], "builtin")
    return lambda method, **options: run


@pytest.fixture
def clip(tmp_path):
    speech, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    sf.write(tmp_path / "clip.wav", speech[: 3 * rate], rate)
    return tmp_path / "clip.wav"


def test_the_diariser_runs_while_whisper_decodes(clip, monkeypatch):
    started = threading.Event()
    monkeypatch.setattr(transcribe, "make_diarizer", _diariser(started))
    engine = Engine(started)
    doc = transcribe.transcribe_file(clip, engine, use_vad=False)
    assert engine.saw_diariser  # the diariser had started before Whisper returned
    assert doc["diarization"]["turns"] == [[0.0, 3.0, "SPEAKER_00"]]
    assert {s["speaker"] for s in doc["segments"]} == {"SPEAKER_00"}
    assert set(doc["timings"]) == {"transcribe_s", "diarize_s", "total_s"}
    assert doc["timings"]["total_s"] >= doc["timings"]["transcribe_s"]


def test_the_diarisers_error_reaches_the_caller(clip, monkeypatch):
    started = threading.Event()
    monkeypatch.setattr(transcribe, "make_diarizer", _diariser(started, DiarizerUnavailable("weights missing")))
    with pytest.raises(DiarizerUnavailable, match="weights missing"):
        transcribe.transcribe_file(clip, Engine(started), use_vad=False)


def test_no_speech_needs_no_speakers(clip, monkeypatch):
    started = threading.Event()
    monkeypatch.setattr(transcribe, "make_diarizer", _diariser(started, RuntimeError("not needed")))
    doc = transcribe.transcribe_file(clip, Engine(started, words=False), use_vad=False)
    assert doc["no_speech"] and doc["segments"] == [] and doc["diarization"]["turns"] == []


def test_given_turns_start_no_diariser(clip, monkeypatch):
    started = threading.Event()
    monkeypatch.setattr(transcribe, "make_diarizer", _diariser(started))
    engine = Engine(started)
    engine.started = threading.Event()
    engine.started.set()  # nothing to wait for
    doc = transcribe.transcribe_file(clip, engine, use_vad=False, turns=[Turn(0.0, 3.0, "T")], diarizer="none")
    assert not started.is_set() and doc["diarization"]["method"] == "rttm"


def test_the_speech_filter_gives_the_same_stretches_when_two_threads_run_it():
    # the dvector diariser runs Silero beside Whisper's speech filter; the model keeps state between its chunks
    from concurrent.futures import ThreadPoolExecutor

    from coder.pipeline import audio, vad

    samples = audio.load(SAMPLE_DIR / "demo_session.ogg")[: 16000 * 60]
    alone = vad.speech_stamps(samples, 16000, 0.5, 0.25, 0.3)
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda _: vad.speech_stamps(samples, 16000, 0.5, 0.25, 0.3), range(3)))
    assert together == [alone] * 3
