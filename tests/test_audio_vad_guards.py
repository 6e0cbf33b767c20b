"""Decoding, channel layout, voice activity and the loop guards, on real speech from the demo session."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from coder.pipeline import audio, guards, vad

from .support.audio import write_tone
from .support.paths import SAMPLE_DIR
from .support.prerequisites import need

TURNS = json.loads((SAMPLE_DIR / "demo_session.turns.json").read_text())


@pytest.fixture(scope="module")
def demo():
    return audio.load(SAMPLE_DIR / "demo_session.ogg")


def room_tone(seconds: float, db: float = -60) -> np.ndarray:
    return np.random.default_rng(1).normal(0, 10 ** (db / 20), int(seconds * 16000)).astype(np.float32)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "m4a"])
def test_common_formats_decode_to_16k_mono(tmp_path, ext):
    source = write_tone(tmp_path / "source.wav", seconds=3, rate=44100, channels=2)
    path = tmp_path / f"tone.{ext}"
    if ext in ("mp3", "m4a"):
        need(shutil.which("ffmpeg") is not None, "ffmpeg (Debian package ffmpeg) not installed")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(source), str(path)], check=True)
    else:
        data, rate = sf.read(source)
        sf.write(path, data, rate)
    info = audio.probe(path)
    assert info.channels == 2 and info.duration_s == pytest.approx(3.0, abs=0.08)
    samples = audio.load(path)
    assert samples.ndim == 1 and samples.dtype == np.float32
    assert len(samples) / 16000 == pytest.approx(3.0, abs=0.08)


def test_truncated_wav_is_refused_when_loading(tmp_path):
    data = write_tone(tmp_path / "a.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 3])
    with pytest.raises(audio.AudioError, match="truncated WAV"):
        audio.load(tmp_path / "cut.wav")


def test_speaker_per_channel_is_detected(demo):
    left, right = np.zeros_like(demo), np.zeros_like(demo)
    for turn in TURNS:
        a, b = int(turn["start"] * 16000), int(turn["end"] * 16000)
        target = left if turn["speaker"] == "therapist" else right
        target[a:b] = demo[a:b]
    bleed = 0.01  # each microphone hears the other person faintly
    two_mics = np.stack([left + bleed * right, right + bleed * left])
    assert audio.channel_layout(two_mics) == "speaker-per-channel"
    assert audio.channel_layout(np.stack([demo, demo * 0.8])) == "same-signal"
    assert audio.channel_layout(demo[None, :]) == "mono"


def test_vad_finds_speech_around_a_long_silence(demo):
    first = demo[: int(TURNS[1]["end"] * 16000) + 4000]
    second = demo[int(TURNS[2]["start"] * 16000) - 4000: int(TURNS[3]["end"] * 16000) + 4000]
    gap_start = len(first) / 16000
    x = np.concatenate([first, room_tone(30), second])
    regions = vad.speech_regions(x)
    assert regions[0][0] < 1.0 and regions[-1][1] > len(x) / 16000 - 1.0
    for start, end in regions:
        assert end <= gap_start + 0.5 or start >= gap_start + 29.5, (start, end)
    speech = sum(e - s for s, e in regions)
    assert speech == pytest.approx(len(x) / 16000 - 30, abs=3.0)


def test_vad_on_room_tone_finds_nothing():
    assert vad.speech_regions(room_tone(20)) == []


def test_speech_only_audio_maps_back_to_the_recording():
    x = np.arange(100 * 16000, dtype=np.float32)  # the sample index is its own clock
    regions = [(2.0, 5.0), (20.0, 21.5), (60.0, 70.0)]
    joined, tmap = vad.speech_only(x, regions, keep_gap_s=0.5)
    assert len(joined) / 16000 == pytest.approx(3.5 + 2.0 + 10.5)
    for t in (0.0, 1.0, 3.49, 3.5, 4.0, 6.0, 15.0):
        original = tmap.to_recording(t)
        assert joined[int(round(t * 16000))] == pytest.approx(original * 16000, abs=1)
    assert tmap.to_recording(1000.0) == pytest.approx(70.5)  # past the end: clamped to the last piece


def test_batches_hold_at_most_the_limit():
    regions = [(i * 100.0, i * 100.0 + 80.0) for i in range(10)]
    groups = vad.batches(regions, max_s=300)
    assert [len(g) for g in groups] == [3, 3, 3, 1]
    assert [r for g in groups for r in g] == regions


def words(text: str, start: float = 0.0):
    return [{"start": start + i * 0.3, "end": start + i * 0.3 + 0.25, "text": w, "probability": 0.9}
            for i, w in enumerate(text.split())]


@pytest.mark.parametrize("text,expected,removed", [
    ("so how was your week", "so how was your week", 0),
    ("no, no, no I did not", "no, no, no I did not", 0),  # emphasis is speech
    ("the the the the the end", "the end", 4),
    ("thank you. thank you. thank you. thank you.", "thank you.", 6),
    ("I went I went I went to the shop", "I went to the shop", 4),
    ("we said we will try, we will try, we will try again", "we said we will try, again", 6),
])
def test_loops_are_collapsed(text, expected, removed):
    kept, n = guards.collapse_loops(words(text))
    assert " ".join(w["text"] for w in kept) == expected and n == removed


def test_repeated_segments_are_dropped():
    seg = lambda t, s: {"start": s, "end": s + 2, "text": t, "words": words(t, s)}  # noqa: E731
    segments = [seg("Okay.", 0), seg("Okay.", 2), seg("Okay.", 4), seg("Okay.", 6),
                seg("I will write it down on the sheet tonight.", 8),
                seg("I will write it down on the sheet tonight.", 10), seg("Good.", 12)]
    kept, stats = guards.apply(segments)
    assert [s["start"] for s in kept] == [0, 2, 8, 12]
    assert stats == {"loop_words_removed": 0, "repeated_segments_removed": 3}


def test_a_segment_that_is_all_loop_keeps_one_copy():
    seg = {"start": 5.0, "end": 20.0, "text": "x", "words": words("you know you know you know you know", 5.0)}
    kept, stats = guards.apply([seg])
    assert kept[0]["text"] == "you know" and kept[0]["end"] == pytest.approx(5.55)
    assert stats["loop_words_removed"] == 6


def test_segments_are_split_at_cut_out_pauses():
    from coder.pipeline.transcribe import remap_segments

    tmap = vad.TimeMap()
    tmap.add(10.0, 4.0)  # speech-only 0-4 s is the recording's 10-14 s
    tmap.add(50.0, 3.0)  # speech-only 4-7 s is the recording's 50-53 s
    segment = {"start": 2.0, "end": 6.0, "text": "we agreed. Could we",
               "words": [{"start": 2.0, "end": 2.5, "text": "we"}, {"start": 2.6, "end": 3.2, "text": "agreed."},
                         {"start": 3.8, "end": 4.3, "text": "Could"}, {"start": 4.4, "end": 4.8, "text": "we"}]}
    first, second = remap_segments([segment], tmap)
    assert (first["start"], first["end"], first["text"]) == (12.0, 13.2, "we agreed.")
    # "Could" straddles the join; most of it lies after, so it is placed there
    assert (second["start"], second["end"], second["text"]) == (50.0, 50.8, "Could we")
    assert [w["start"] for w in second["words"]] == [50.0, 50.4]
