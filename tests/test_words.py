"""Words and speakers in overlapped speech: the stretches where two speakers talk at once, which words lie in
them, the clips embedded for them, and a word decided by its voice where today's rule gives it to the other
speaker (coder.pipeline.words)."""
import shutil
import subprocess

import numpy as np
import pytest

from coder.pipeline import audio
from coder.pipeline.diarize import Diarization, Turn, campplus
from coder.pipeline.diarize.types import overlapped
from coder.pipeline.words import OverlapVoices, attribute_words, clean_speech, clip_span, in_overlap

from .support.prerequisites import need

RATE = 16000


def test_overlapped_stretches_name_who_talks_in_them():
    turns = [Turn(0.0, 4.0, "A"), Turn(3.0, 8.0, "B"), Turn(5.0, 5.5, "A"), Turn(8.0, 9.0, "A")]
    both = frozenset({"A", "B"})
    # A's turn ends as B's goes on; A's back-channel inside B's turn; B and A only touch at 8.0
    assert overlapped(turns) == [(3.0, 4.0, both), (5.0, 5.5, both)]
    assert Diarization(turns).record("builtin", 2)["overlap_s"] == 1.5


def test_three_speakers_and_a_speaker_overlapping_themself():
    turns = [Turn(0.0, 3.0, "A"), Turn(1.0, 2.0, "A"), Turn(1.5, 4.0, "B"), Turn(2.5, 3.5, "C")]
    assert overlapped(turns) == [(1.5, 2.5, frozenset("AB")), (2.5, 3.0, frozenset("ABC")),
                                 (3.0, 3.5, frozenset("BC"))]
    assert overlapped([Turn(0.0, 2.0, "A"), Turn(1.0, 1.5, "A")]) == []
    assert overlapped([]) == []


def test_a_word_is_in_overlap_when_overlap_holds_half_of_it():
    ov = [(3.0, 4.0, frozenset("AB")), (5.0, 5.5, frozenset("AC"))]
    assert in_overlap(ov, 3.2, 3.6) == frozenset("AB")
    assert in_overlap(ov, 2.6, 3.5) == frozenset("AB")  # 0.5 of 0.9 s
    assert in_overlap(ov, 2.4, 3.5) is None  # 0.5 of 1.1 s
    assert in_overlap(ov, 4.9, 5.3) == frozenset("AC")
    assert in_overlap(ov, 3.5, 3.5) == frozenset("AB")  # a word Whisper gave no length
    assert in_overlap(ov, 4.5, 4.5) is None
    assert in_overlap([], 1.0, 2.0) is None


def test_clip_spans_widen_evenly_and_stay_in_the_recording():
    assert clip_span(5.0, 5.2, 1.0, 60.0) == pytest.approx((4.6, 5.6))
    assert clip_span(2.0, 4.0, 1.0, 60.0) == (2.0, 4.0)  # long enough already
    assert clip_span(0.1, 0.2, 1.0, 60.0) == (0.0, 1.0)  # shifted, not cut, at the start
    assert clip_span(59.9, 60.0, 1.0, 60.0) == pytest.approx((59.0, 60.0))
    assert clip_span(0.1, 0.2, 1.0, 0.5) == (0.0, 0.5)  # the recording is shorter


def test_clean_speech_leaves_out_the_others_turns():
    turns = [Turn(0.0, 4.0, "A"), Turn(3.0, 8.0, "B"), Turn(5.0, 5.5, "A"), Turn(1.0, 1.5, "C")]
    assert clean_speech(turns, "A") == [(0.0, 1.0), (1.5, 3.0)]
    assert clean_speech(turns, "B") == [(4.0, 5.0), (5.5, 8.0)]
    assert clean_speech(turns, "D") == []


def _voice(text: str, voice: str, tmp_path) -> np.ndarray:
    need(shutil.which("espeak-ng") is not None, "espeak-ng is not installed")
    out = tmp_path / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-p", "50", "-s", "150", "-w", str(out), text], check=True)
    return audio.load(out)


@pytest.fixture(scope="module")
def cam(diarization_models_dir):
    net = campplus.SpeakerEmbedding.load(diarization_models_dir / campplus.WEIGHTS)
    return net.embed


def test_a_word_cut_in_goes_to_its_voice_not_to_the_earlier_turn(cam, tmp_path):
    """The client is finishing, quietly, as the therapist cuts in: both turns cover the therapist's first word
    whole, and today's rule gives it to the turn that started first, the client's."""
    client = _voice("I keep thinking about the deadline at work, over and over again in my head every night, "
                    "and then I cannot sleep at all until the morning comes.", "en+f3", tmp_path)
    therapist = _voice("Let us look at that together, because it sounds a lot like worry to me, and worry is "
                       "something we can work on in here.", "en-us+m6", tmp_path)
    cut_in = len(client) - RATE  # the therapist starts a second before the client ends
    samples = np.zeros(cut_in + len(therapist), dtype=np.float32)
    samples[:len(client)] += client
    samples[cut_in:len(client)] *= 0.3  # trailing off
    samples[cut_in:] += therapist
    end, start = len(client) / RATE, cut_in / RATE
    turns = [Turn(0.0, end, "client"), Turn(start, len(samples) / RATE, "therapist")]
    words = [{"text": " night", "start": 2.0, "end": 2.4}, {"text": " Let", "start": start + 0.1, "end": start + 0.3},
             {"text": " us", "start": start + 0.3, "end": start + 0.5}, {"text": " worry", "start": end + 2.0,
                                                                            "end": end + 2.4}]
    segments = [{"start": 2.0, "end": end + 2.4, "text": " night Let us worry", "words": words}]
    before = attribute_words(segments, turns)
    assert [w["speaker"] for s in before for w in s["words"]] == ["client", "client", "client", "therapist"]
    calls = []
    voices = OverlapVoices(samples, lambda clips: calls.append(len(clips)) or cam(clips))
    after = attribute_words(segments, turns, voices)
    assert [(s["speaker"], s["text"]) for s in after] == [("client", "night"), ("therapist", "Let us worry")]
    assert voices.counts == {"in_overlap": 2, "by_voice": 2}
    assert len(calls) == 4 and 2 in calls  # each voice, the even mix, and both words together


def test_a_speaker_without_clean_speech_keeps_todays_rule(cam, tmp_path):
    samples = _voice("Mostly thinking about the deadline at work.", "en+f3", tmp_path)
    duration = len(samples) / RATE
    turns = [Turn(0.0, duration, "A"), Turn(0.0, duration, "B")]  # B never talks alone
    segments = [{"start": 1.0, "end": 1.5, "text": " hm", "words": [{"text": " hm", "start": 1.0, "end": 1.5}]}]
    voices = OverlapVoices(samples, cam)
    assert attribute_words(segments, turns, voices)[0]["speaker"] == "A"
    assert voices.counts == {"in_overlap": 1, "by_voice": 0}


def test_missing_weights_leave_the_turn_rule_and_say_so(tmp_path):
    from coder.pipeline.transcribe import NO_VOICES, overlap_voices, speakers_of_words

    samples = np.zeros(4 * RATE, dtype=np.float32)
    result = Diarization([Turn(0.0, 3.0, "A"), Turn(2.0, 4.0, "B")])
    segments = [{"start": 2.2, "end": 2.6, "text": " so", "words": [{"text": " so", "start": 2.2, "end": 2.6}]}]
    out = speakers_of_words(samples, segments, result, embedding_model=str(tmp_path / "absent.pt"))
    assert out[0]["speaker"] == "A" and result.warnings == [NO_VOICES]
    assert "overlap_words" not in result.record("builtin", 2)
    apart = Diarization([Turn(0.0, 2.0, "A"), Turn(2.0, 4.0, "B")])  # no overlap: nothing to load, no warning
    assert overlap_voices(samples, apart, embedding_model=str(tmp_path / "absent.pt")) is None
    assert apart.warnings == []
