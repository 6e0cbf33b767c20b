"""The diariser runs in a thread beside Whisper (coder.pipeline.transcribe.diarize_beside): both are under way at
once, the diariser's errors reach the caller, and a recording without speech, or an error in Whisper (a cancelled
job), stops it rather than waiting for it.
docs/benchmarks.md has the speed this buys."""
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from coder.pipeline import transcribe
from coder.pipeline.asr import ASRResult
from coder.pipeline.diarize import Diarization, DiarizationStopped, DiarizerUnavailable, Turn

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


class Patient:
    """A diariser that works until told to stop (or 20 s), as the builtin one does between its batches."""

    def __init__(self, started: threading.Event):
        self.started, self.stop, self.stopped = started, None, False

    def __call__(self, audio, num_speakers):
        self.started.set()
        self.stopped = self.stop.wait(timeout=20)
        raise DiarizationStopped("stopped")


def test_no_speech_needs_no_speakers_and_stops_the_diariser(clip, monkeypatch):
    started = threading.Event()
    patient = Patient(started)
    monkeypatch.setattr(transcribe, "make_diarizer", lambda method, **options: patient)
    t0 = time.perf_counter()
    doc = transcribe.transcribe_file(clip, Engine(started, words=False), use_vad=False)
    assert time.perf_counter() - t0 < 10 and patient.stopped
    assert doc["no_speech"] and doc["segments"] == [] and doc["diarization"]["turns"] == []
    assert doc["timings"]["diarize_s"] <= doc["timings"]["total_s"]


class Failing(Engine):
    def transcribe(self, audio, language=None, progress=None):
        self.started.wait(timeout=20)
        raise KeyboardInterrupt  # as a cancelled job's progress callback raises from inside the engine


def test_an_error_in_whisper_stops_the_diariser_before_it_surfaces(clip, monkeypatch):
    started = threading.Event()
    patient = Patient(started)
    monkeypatch.setattr(transcribe, "make_diarizer", lambda method, **options: patient)
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        transcribe.transcribe_file(clip, Failing(started), use_vad=False)
    assert time.perf_counter() - t0 < 10 and patient.stopped


def test_the_builtin_diariser_stops_between_batches():
    from coder.pipeline.diarize import BuiltinDiarizer

    class Segmentation:
        window_samples = 160000
        calls = 0

        def speakers(self, batch):
            Segmentation.calls += 1
            return np.zeros((len(batch), 589, 3), dtype=np.float32)

    stop = threading.Event()
    d = BuiltinDiarizer(batch_size=1, stop=stop)
    audio = np.zeros(16000 * 60, dtype=np.float32)
    d.segment(Segmentation(), audio)
    assert Segmentation.calls > 5
    stop.set()
    Segmentation.calls = 0
    with pytest.raises(DiarizationStopped):
        d.segment(Segmentation(), audio)
    assert Segmentation.calls == 1


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


def test_transcription_limits_the_heaps_before_its_threads_allocate(clip, monkeypatch):
    from coder.pipeline import asr

    calls = []
    monkeypatch.setattr(transcribe, "limit_arenas", lambda: calls.append("transcribe_file"))
    monkeypatch.setattr(asr, "limit_arenas", lambda: calls.append("load_engine"))
    started = threading.Event()
    monkeypatch.setattr(transcribe, "make_diarizer", _diariser(started))
    transcribe.transcribe_file(clip, Engine(started), use_vad=False)
    assert calls == ["transcribe_file"]
    with pytest.raises(asr.ModelUnavailable):
        asr.load_engine("faster-whisper", str(clip.parent / "no-such-model"))
    assert calls == ["transcribe_file", "load_engine"]
