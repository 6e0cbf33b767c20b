"""The builtin diariser (segmentation-3.0 + CAM++) and the d-vector one before it, on real speech (the demo
session, with its reference turns), and their bad inputs."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from coder.pipeline import audio
from coder.pipeline.diarize import BuiltinDiarizer, DvectorDiarizer, Turn, make_diarizer
from coder.pipeline.words import attribute_words
from coder.pipeline.rttm import read as read_rttm

from .support.audio import two_mics
from .support.paths import SAMPLE_DIR
from .support.prerequisites import need

RATE = 16000


@pytest.fixture(scope="module")
def session():
    samples = audio.load(SAMPLE_DIR / "demo_session.ogg")
    reference = read_rttm(SAMPLE_DIR / "demo_session.rttm")["demo_session"]
    return samples, reference


@pytest.fixture(scope="module", params=["builtin", "dvector"])
def diarizer(request):
    if request.param == "dvector":
        return DvectorDiarizer()
    store = request.getfixturevalue("diarization_models_dir")
    return BuiltinDiarizer(segmentation_model=str(store / "pyannote-segmentation-3.0"),
                           embedding_model=str(store / "campplus-sv-zh-en-16k" / "campplus_cn_en_common.pt"))


def der(reference: list[Turn], hypothesis: list[Turn]) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for t in reference:
        ref[Segment(t.start, t.end)] = t.speaker
    for t in hypothesis:
        hyp[Segment(t.start, t.end)] = t.speaker
    return DiarizationErrorRate()(ref, hyp, uem=Segment(0, max(t.end for t in reference) + 1))


def speak(text: str, voice: str, pitch: int, wpm: int, tmp_path) -> np.ndarray:
    need(shutil.which("espeak-ng") is not None, "espeak-ng is not installed")
    out = tmp_path / f"{voice}-{pitch}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(wpm), "-w", str(out), text], check=True)
    return audio.load(out)


def only(samples: np.ndarray, turns: list[Turn], speaker: str) -> np.ndarray:
    gap = np.zeros(int(0.5 * RATE), dtype=np.float32)
    parts = []
    for t in turns:
        if t.speaker == speaker:
            parts += [samples[int(t.start * RATE):int(t.end * RATE)], gap]
    return np.concatenate(parts)


def test_two_speaker_session_against_its_reference(session, diarizer):
    samples, reference = session
    result = diarizer(samples, 2)
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"] and result.warnings == []
    assert der(reference, result.turns) < 0.12  # 6.8 % when written; see docs/benchmarks.md
    assert set(result.embeddings) == {"SPEAKER_00", "SPEAKER_01"}
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in result.embeddings.values())


def test_estimated_count_finds_the_two_voices(session, diarizer):
    samples, reference = session
    result = diarizer(samples, None)
    assert len(result.speakers) == 2
    assert der(reference, result.turns) < 0.12


def test_one_speaker_asked_for_two_gives_one_and_a_warning(session, diarizer):
    samples, reference = session
    alone = only(samples, reference, "therapist")
    result = diarizer(alone, 2)
    assert result.speakers == ["SPEAKER_00"]
    assert result.warnings == ["only 1 distinct voice found where 2 were requested; the speech is given to "
                               "1 speaker"]


def test_more_voices_than_requested_warns(session, diarizer, tmp_path):
    samples, reference = session
    third = speak("I am the client's sister. I came along today because she asked me to, and I wanted to say "
                  "how much the walks have helped her. She sleeps better and she is calmer in the evenings. "
                  "We go together on Sundays when the weather is dry, usually along the river to the bridge "
                  "and back, which takes us about forty minutes.", "en-us+f4", 80, 130, tmp_path)
    three = np.concatenate([samples[: 60 * RATE], np.zeros(RATE, dtype=np.float32), third])
    result = diarizer(three, 2)
    assert len(result.speakers) == 2
    assert any("more voices than the 2 requested" in w for w in result.warnings)


@pytest.mark.parametrize("seconds", [0.0, 0.3, 30.0])
def test_silence_and_very_short_files(diarizer, seconds):
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal(int(seconds * RATE)) * 1e-4).astype(np.float32)
    result = diarizer(quiet, 2)
    assert result.turns == []
    assert result.warnings == (["no speech found"] if seconds else ["empty recording"])


def test_a_single_short_word_is_one_speaker(session, diarizer):
    samples, reference = session
    first = reference[0]
    clip = samples[int(first.start * RATE): int((first.start + 0.6) * RATE)]
    result = diarizer(clip, 2)
    assert len(result.speakers) <= 1 and not any(t.end > 0.7 for t in result.turns)


def test_none_diarizer_is_one_speaker(session):
    samples, _ = session
    result = make_diarizer("none")(samples, 2)
    assert result.speakers == ["SPEAKER_00"] and result.turns[0].end == pytest.approx(len(samples) / RATE, abs=1e-3)


# --- words and turns --------------------------------------------------------------------------------------

def _w(text, start, end):
    return {"text": text, "start": start, "end": end, "probability": 0.9}


def test_words_go_to_the_speaker_holding_most_of_them():
    segments = [{"start": 0.0, "end": 3.0, "text": "So how was it? Fine.",
                 "words": [_w("So", 0.0, 0.3), _w("how", 0.3, 0.6), _w("was", 0.6, 0.9), _w("it?", 0.9, 1.45),
                           _w("Fine.", 1.6, 2.2)]}]
    turns = [Turn(0.0, 1.3, "A"), Turn(1.3, 3.0, "B")]  # "it?" straddles the change, mostly A's
    out = attribute_words(segments, turns)
    assert [(s["speaker"], s["text"]) for s in out] == [("A", "So how was it?"), ("B", "Fine.")]
    assert [w["speaker"] for w in out[0]["words"]] == ["A"] * 4
    assert out[1]["start"] == 1.6 and out[1]["end"] == 2.2


def test_overlap_and_words_outside_every_turn():
    segments = [{"start": 0.0, "end": 6.0, "text": " Yes mm-hm right",
                 "words": [_w(" Yes", 0.0, 0.5), _w(" mm-hm", 2.0, 2.4), _w(" right", 5.5, 6.0)]}]
    turns = [Turn(0.6, 4.0, "A"), Turn(2.1, 2.5, "B")]  # B's back-channel overlaps A
    out = attribute_words(segments, turns)
    # " Yes" lies before every turn: nearest is A. " mm-hm" is covered 0.3 s by B and 0.4 s by A.
    assert [w["speaker"] for s in out for w in s["words"]] == ["A", "A", "A"]
    assert out[0]["text"] == "Yes mm-hm right"
    turns = [Turn(0.6, 4.0, "A"), Turn(2.0, 2.4, "B")]
    out = attribute_words(segments, turns)  # now a tie on overlap: the first turn found keeps it
    assert [s["text"] for s in out] == ["Yes mm-hm right"]


def test_a_segment_without_words_takes_the_majority_speaker():
    out = attribute_words([{"start": 1.0, "end": 4.0, "text": "hello", "words": []}],
                          [Turn(0.0, 1.5, "A"), Turn(1.5, 4.0, "B")])
    assert out[0]["speaker"] == "B"


def test_no_turns_means_one_speaker():
    out = attribute_words([{"start": 0, "end": 1, "text": "hi", "words": [_w("hi", 0, 1)]}], [])
    assert out[0]["speaker"] == "SPEAKER_00"


def test_reference_rttm_of_the_demo_is_two_speakers(session):
    _samples, reference = session
    assert {t.speaker for t in reference} == {"therapist", "client"}
    turns = json.loads((SAMPLE_DIR / "demo_session.turns.json").read_text())
    assert len(reference) == len(turns)


# --- one microphone per person ----------------------------------------------------------------------------

def test_channels_tell_the_speakers_apart(session):
    from coder.pipeline.diarize import diarize_channels

    samples, reference = session
    stereo = two_mics(samples, reference)
    assert audio.channel_layout(stereo) == "speaker-per-channel"
    result = diarize_channels(stereo)
    assert result.source == "channels" and result.warnings == []
    named = [Turn(t.start, t.end, {"SPEAKER_00": "therapist", "SPEAKER_01": "client"}[t.speaker])
             for t in result.turns]
    assert der(reference, named) < 0.08
    assert set(result.embeddings) == {"SPEAKER_00", "SPEAKER_01"}


def test_overlapped_speech_on_two_channels_gives_both_speakers(session):
    from coder.pipeline.diarize import diarize_channels

    samples, reference = session
    stereo = two_mics(samples, reference)
    # the client talks over the therapist's first turn
    first, client = reference[0], next(t for t in reference if t.speaker == "client")
    n = int((first.end - first.start) * RATE)
    c0 = int(client.start * RATE)
    stereo[1, int(first.start * RATE):int(first.start * RATE) + n] += samples[c0:c0 + n]
    result = diarize_channels(stereo)
    during = {t.speaker for t in result.turns if t.start < first.start + 2.0 and t.end > first.start + 3.0}
    assert during == {"SPEAKER_00", "SPEAKER_01"}


def test_a_silent_channel_is_reported(session):
    from coder.pipeline.diarize import diarize_channels

    samples, _ = session
    clip = samples[: 20 * RATE]
    result = diarize_channels(np.stack([clip, np.zeros_like(clip)]))
    assert {t.speaker for t in result.turns} == {"SPEAKER_00"}
    assert result.warnings == ["channel 2 holds no speech of its own"]


def test_speech_too_short_for_a_voice_window_goes_to_one_speaker():
    class Blip(DvectorDiarizer):
        def speech(self, audio):  # the voice-activity detector's answer for a 0.2 s blip of speech
            return [(1.0, 1.2)]

    result = Blip()(np.zeros(3 * RATE, dtype=np.float32), 2)
    assert [(t.start, t.end, t.speaker) for t in result.turns] == [(1.0, 1.2, "SPEAKER_00")]
    assert result.warnings == ["too little speech to tell speakers apart; all of it is given to one speaker"]
