"""Session process measures (coder.pipeline.measures): talk, turn-taking and questions against hand-computed
values on constructed transcripts; F0, intensity and synchrony on signals and pairs whose truth is known."""
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from coder.pipeline.audio import load_channels
from coder.pipeline.measures import DEFINITIONS_VERSION, MeasuresError, compute, labeller, timeline_parts
from coder.pipeline.measures.questions import is_question, questions
from coder.pipeline.measures.synchrony import pairs, pearson, synchrony
from coder.pipeline.measures.timeline import build
from coder.pipeline.measures.voice import f0_track, intensity_db, turn_arousal

from .support.audio import RATE, TALK_OVER, scripted_session, voiced
from .support.measures_docs import C, DOC, ROLES, SEGMENTS, T, dialogue, seg
from .support.paths import SAMPLE_DIR



def test_turns_switches_and_silences_are_the_hand_computed_ones():
    conv = build(SEGMENTS, labeller(DOC))
    assert [(t.speaker, t.start, t.end) for t in conv.turns] == [
        ("therapist", 0.0, 4.0), ("client", 5.0, 9.0), ("therapist", 9.5, 12.0), ("client", 11.5, 19.0),
        ("therapist", 23.0, 26.0), ("client", 26.0, 30.0), ("therapist", 29.0, 31.0)]
    assert [s.offset for s in conv.transitions] == [1.0, 0.5, -0.5, 4.0, 0.0, -1.0]
    assert [(s.start, s.end, s.kind) for s in conv.silences] == [
        (4.0, 5.0, "gap"), (9.0, 9.5, "gap"), (16.0, 17.0, "pause"), (19.0, 23.0, "gap")]
    assert [(o.start, o.end) for o in conv.overlaps] == [(10.0, 10.5), (11.5, 12.0), (24.0, 25.5), (29.0, 30.0)]
    assert [(x.speaker, x.other, x.start, x.kind) for x in conv.intrusions] == [
        ("client", "therapist", 10.0, "backchannel"), ("client", "therapist", 11.5, "interruption"),
        ("client", "therapist", 24.0, "overlap"), ("therapist", "client", 29.0, "interruption")]


def test_session_measures_equal_the_hand_computed_values():
    out = compute(DOC)
    assert out["definitions_version"] == DEFINITIONS_VERSION and out["by"] == "role"
    s = out["session"]
    t, c = s["speakers"]["therapist"], s["speakers"]["client"]
    assert (t["speaking_time_s"], c["speaking_time_s"]) == (11.5, 16.5)
    assert (t["speaking_share"], c["speaking_share"]) == (11.5 / 28, 16.5 / 28)
    assert (t["words"], c["words"]) == (8 + 5 + 6 + 4, 8 + 1 + 6 + 2 + 6 + 6)
    assert t["speech_rate_wpm"] == 23 / (11.5 / 60)
    assert (t["turns"], t["turn_length_mean_s"], t["turn_length_median_s"]) == (4, 2.875, 2.75)
    assert (c["turns"], c["turn_length_median_s"]) == (3, 4.0)
    assert c["turn_length_mean_s"] == pytest.approx(15.5 / 3, abs=1e-12)
    # switches into the client's turns: 1.0, -0.5, 0.0; into the therapist's: 0.5, 4.0, -1.0
    assert (c["switching_pause_n"], c["switching_pause_mean_s"], c["switching_pause_median_s"]) == (2, 0.5, 0.5)
    assert c["floor_transfer_offset_mean_s"] == pytest.approx(0.5 / 3, abs=1e-12)
    assert (t["switching_pause_n"], t["switching_pause_mean_s"], t["switching_pause_median_s"]) == (2, 2.25, 2.25)
    assert (t["overlap_time_s"], c["overlap_time_s"]) == (3.5, 3.5)
    assert (t["interruptions_made"], t["interrupted"], t["backchannels_received"], t["overlaps_made"]) == (1, 1, 1, 0)
    assert (c["interruptions_made"], c["interrupted"], c["backchannels_made"], c["overlaps_made"]) == (1, 1, 1, 1)
    assert (t["questions"], c["questions"]) == (3, 1)
    assert t["questions_per_10_min"] == 3 / (32 / 600)
    assert (s["speech_time_s"], s["silence_time_s"]) == (24.5, 6.5)
    assert (s["silences"], s["gaps"], s["pauses"]) == (4, 3, 1)
    assert (s["long_silences"], s["long_silence_time_s"], s["long_gaps"], s["long_pauses"]) == (1, 4.0, 1, 0)
    assert (s["overlaps"], s["overlap_time_s"]) == (4, 3.5)
    assert (s["switches"], s["overlapped_switches"]) == (6, 2)
    assert (s["switching_pause_mean_s"], s["switching_pause_median_s"]) == (1.375, 0.75)
    assert s["floor_transfer_offset_mean_s"] == pytest.approx(4 / 6, abs=1e-12)
    assert (s["interruptions"], s["backchannels"]) == (2, 1)
    assert s["interruptions_by"] == {"client": {"therapist": 1}, "therapist": {"client": 1}}
    assert s["backchannels_by"] == {"client": {"therapist": 1}}


def test_a_unit_counts_the_events_that_start_in_it_and_clips_time():
    first, second = compute(DOC, ranges=[(0.0, 16.0), (16.0, 32.0)])["units"]
    assert first["speakers"]["therapist"]["speaking_time_s"] == 6.5
    assert first["speakers"]["client"]["speaking_time_s"] == 9.0
    assert second["speakers"]["client"]["speaking_time_s"] == 7.5
    # the client's turn from 11.5 to 19.0 counts in the first unit, with its whole length
    assert (first["speakers"]["client"]["turns"], first["speakers"]["client"]["turn_length_mean_s"]) == (2, 5.75)
    assert (second["speakers"]["client"]["turns"], second["speakers"]["therapist"]["turns"]) == (1, 2)
    assert (first["interruptions"], first["backchannels"], second["interruptions"]) == (1, 1, 1)
    assert (second["silences"], second["long_silences"], second["pauses"]) == (2, 1, 1)
    assert (first["speakers"]["therapist"]["questions"], second["speakers"]["therapist"]["questions"]) == (2, 1)
    assert first["speakers"]["therapist"]["questions_per_10_min"] == 2 / (16 / 600)


def test_by_speaker_and_by_role_agree_for_a_dyad_and_an_unknown_role_keeps_its_label():
    by_speaker = compute(DOC, by="speaker")["session"]["speakers"]
    assert by_speaker[T] == compute(DOC)["session"]["speakers"]["therapist"]
    doc = {**DOC, "speakers": {T: {"role": "therapist"}, C: {"role": None}}}
    assert set(compute(doc)["session"]["speakers"]) == {"therapist", C}
    with pytest.raises(ValueError, match="grouped by"):
        compute(DOC, by="voice")


def test_two_speakers_of_one_role_are_one_party():
    doc = {"duration": 10.0, "speakers": {"A": {"role": "client"}, "B": {"role": "client"}, T: ROLES[T]},
           "segments": [seg(T, 0.0, 2.0), seg("A", 3.0, 5.0), seg("B", 4.0, 6.0), seg(T, 7.0, 8.0)]}
    s = compute(doc)["session"]
    assert s["speakers"]["client"]["speaking_time_s"] == 3.0 and s["speakers"]["client"]["turns"] == 1
    assert s["overlaps"] == 0 and s["switches"] == 2


def test_an_empty_or_speakerless_transcript_gives_empty_measures():
    for segments in ([], [{"start": 0.0, "end": 1.0, "speaker": None, "text": "hm"}]):
        s = compute({"duration": 5.0, "segments": segments})["session"]
        assert s["speakers"] == {} and s["switches"] == 0 and s["speech_time_s"] == 0


@pytest.mark.parametrize("segments,ranges,audio,message", [
    ([{"speaker": T, "start": "soon", "end": 2.0}], [], None, "segment 0: needs a numeric start"),
    ([{"speaker": T, "end": 2.0}], [], None, "segment 0: needs a numeric start"),
    ([seg(T, 0.0, 1.0), seg(C, 3.0, 2.0)], [], None, "segment 1: start 3.0 and end 2.0"),
    ([seg(T, float("nan"), 1.0)], [], None, "segment 0: start nan"),
    ([seg(T, 0.0, 1.0, "hello", [{"text": "hello", "start": None, "end": 1.0}])], [], None, "segment 0, word 0"),
    ([seg(T, 0.0, 1.0)], [(5.0, 5.0)], None, "range 5.0-5.0"),
    ([seg(T, 0.0, 1.0)], [], np.zeros((2, 100)), "mono samples"),
])
def test_bad_input_gets_a_clear_error(segments, ranges, audio, message):
    with pytest.raises(MeasuresError, match=message):
        compute({"duration": 10.0, "segments": segments}, audio, RATE, ranges=ranges)


def test_speech_comes_from_overlapping_diariser_turns_until_a_person_corrects_the_transcript():
    # the segments give each word one speaker, so they never overlap; the diariser's turns may
    segments = [seg(T, 0.0, 4.0, "Tell me about the week."), seg(C, 4.0, 8.0, "It was long.")]
    turns = [[0.0, 4.5, T], [3.5, 8.0, C]]
    doc = {"duration": 8.0, "speakers": ROLES, "segments": segments, "diarization": {"turns": turns}}
    out = compute(doc)
    assert out["speech_from"] == "diarization"
    assert (out["session"]["overlap_time_s"], out["session"]["interruptions"]) == (1.0, 1)
    assert out["session"]["speakers"]["client"]["words"] == 3  # words still from the segments
    corrected = compute({**doc, "review": {"status": "verified", "revision": 1}})
    assert corrected["speech_from"] == "segments" and corrected["revision"] == 1
    assert (corrected["session"]["overlap_time_s"], corrected["session"]["interruptions"]) == (0.0, 0)
    # turns without overlap add nothing to the segments, and their padded ends would shorten the pauses
    padded = compute({**doc, "diarization": {"turns": [[0.0, 4.2, T], [4.1, 8.0, T], [8.1, 9.0, C]]}})
    assert padded["speech_from"] == "segments" and padded["session"]["switches"] == 1
    with pytest.raises(MeasuresError, match="diarization turn 1: start 9.0"):
        compute({**doc, "diarization": {"turns": [[0.0, 1.0, T], [9.0, 2.0, C]]}})
    with pytest.raises(MeasuresError, match=r"\[start, end, speaker\]"):
        compute({**doc, "diarization": {"turns": [[0.0, 1.0]]}})


def test_segments_of_one_speaker_that_overlap_are_one_stretch_of_speech():
    conv = build([seg(T, 0.0, 2.0), seg(T, 1.0, 3.0), seg(T, 3.0, 4.0), seg(C, 5.0, 6.0)])
    assert [(s.start, s.end) for s in conv.speech[T]] == [(0.0, 4.0)]
    assert conv.overlaps == [] and [t.duration for t in conv.turns] == [4.0, 1.0]


spans = st.tuples(st.integers(0, 160), st.integers(1, 24)).map(lambda p: (p[0] / 4, (p[0] + p[1]) / 4))
random_segments = st.lists(st.tuples(st.sampled_from([T, C]), spans), max_size=25).map(
    lambda items: [seg(who, a, b, "so how is it") for who, (a, b) in items])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(segments=random_segments, cut=st.integers(1, 45))
def test_the_measures_of_any_dyad_add_up(segments, cut):
    """Identities that hold for every transcript: units that split the session add up to it; two speakers'
    speaking time is the time anyone speaks plus the time both do; the time line is speech or silence."""
    doc = {"duration": 50.0, "speakers": ROLES, "segments": segments}
    out = compute(doc, ranges=[(0.0, float(cut)), (float(cut), 50.0)])
    s, units = out["session"], out["units"]
    conv = build(segments, labeller(doc))
    for role, row in s["speakers"].items():
        assert sum(u["speakers"][role]["speaking_time_s"] for u in units) == pytest.approx(row["speaking_time_s"])
        assert sum(u["speakers"][role]["turns"] for u in units) == row["turns"]
        assert sum(u["speakers"][role]["words"] for u in units) == row["words"] == 4 * sum(
            1 for x in segments if labeller(doc)(x["speaker"]) == role)
    for key in ("switches", "interruptions", "backchannels", "silences", "overlaps", "long_silences"):
        assert sum(u[key] for u in units) == s[key]
    assert sum(r["speaking_time_s"] for r in s["speakers"].values()) == pytest.approx(
        s["speech_time_s"] + s["overlap_time_s"])
    if segments:
        first, last = min(x["start"] for x in segments), max(x["end"] for x in segments)
        assert s["speech_time_s"] + s["silence_time_s"] == pytest.approx(last - first)
    assert s["switches"] == max(0, len(conv.turns) - 1)
    assert all(a.speaker != b.speaker for a, b in zip(conv.turns, conv.turns[1:]))
    # with no two speakers starting at the same instant, every overlapped switch is an interruption
    starts = [x["start"] for x in segments]
    if len(set(starts)) == len(starts):
        assert s["interruptions"] == s["overlapped_switches"]
    for x in conv.intrusions:
        assert x.kind != "backchannel" or x.duration <= 1.0


def test_the_timeline_holds_speech_overlaps_long_silences_and_arousal():
    parts = timeline_parts(DOC)
    assert parts.duration == 32.0 and sorted(parts.speakers) == ["client", "therapist"]
    assert [p for p in parts.speech if p[0] == "therapist"] == [
        ("therapist", 0.0, 4.0), ("therapist", 9.5, 12.0), ("therapist", 23.0, 26.0), ("therapist", 29.0, 31.0)]
    assert len([p for p in parts.speech if p[0] == "client"]) == 6
    assert parts.overlaps == [(10.0, 10.5), (11.5, 12.0), (24.0, 25.5), (29.0, 30.0)]
    assert parts.long_silences == [(19.0, 23.0)] and parts.arousal == {}
    audio, doc = dialogue([100.0, 120.0, 140.0], [200.0, 230.0, 260.0])
    result = compute(doc, audio, RATE, surrogates=10)
    drawn = timeline_parts(doc, result)
    assert set(drawn.arousal) == {"therapist", "client"}
    assert drawn.arousal["therapist"] == [((t["start"] + t["end"]) / 2, t["arousal"]) for t in result["turns"]
                                          if t["speaker"] == "therapist" and t["arousal"] is not None]


@pytest.mark.parametrize("sentence,expected", [
    ("How are you?", True), ("Do you sleep well", True), ("Could we start there.", True),
    ("What did you notice.", True), ("Isn't it", True), ("You went, didn't you?", True),
    ("What I noticed was the noise.", False), ("I see.", False), ("Do the exercise daily.", False),
])
def test_what_counts_as_a_question(sentence, expected):
    assert is_question(sentence) is expected


def test_a_question_is_timed_by_its_first_word():
    words = [{"start": 1.0 + i, "end": 1.5 + i, "text": w} for i, w in enumerate("Good. How was it?".split())]
    assert [(q.time, q.text) for q in questions([seg(T, 1.0, 5.0, "Good. How was it?", words)])] == [
        (2.0, "How was it?")]
    # without matching word timings: by word position over the segment
    assert [q.time for q in questions([seg(T, 0.0, 4.0, "Good. How was it?")])] == [1.0]


# --- voice ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["praat", "pyin"])
@pytest.mark.parametrize("f0", [85.0, 123.4, 196.0, 311.1])
def test_f0_is_within_one_percent_on_voiced_signals_of_known_pitch(method, f0):
    track = f0_track(voiced(f0, 1.5), RATE, method)
    estimate = np.nanmean(track.f0)
    assert np.isfinite(track.f0).mean() > 0.8
    assert abs(estimate / f0 - 1) < 0.01


@pytest.mark.parametrize("method", ["praat", "pyin"])
def test_f0_variability_of_a_known_contour(method):
    # F0 = 150 Hz · 2^(2·sin(2π·0.5 t)/12): a ±2 semitone sine, whose SD is 2/√2 semitones
    contour = voiced(lambda t: 150 * 2 ** (2 * np.sin(2 * np.pi * 0.5 * t) / 12), 4.0)
    f0 = f0_track(contour, RATE, method).f0
    st = 12 * np.log2(f0[np.isfinite(f0)] / 100)
    assert st.std(ddof=1) == pytest.approx(np.sqrt(2), rel=0.05)


@pytest.mark.parametrize("method", ["praat", "pyin"])
def test_f0_tracked_over_given_spans_only(method):
    signal = np.concatenate([np.zeros(RATE), voiced(180.0, 1.0), np.zeros(RATE), voiced(240.0, 0.05)])
    track = f0_track(signal, RATE, method, spans=[(1.0, 1.5), (1.4, 2.0)])
    assert track.times.min() >= 0.9 - 1e-9 and track.times.max() <= 2.1 + 1e-9
    assert np.nanmean(track.f0) == pytest.approx(180.0, rel=0.01)
    assert len(f0_track(signal, RATE, method, spans=[]).f0) == 0


def test_silence_and_noise_have_no_pitch():
    rng = np.random.default_rng(1)
    for method in ("praat", "pyin"):
        assert np.isfinite(f0_track(np.zeros(RATE), RATE, method).f0).sum() == 0
        assert np.isfinite(f0_track(0.05 * rng.standard_normal(RATE), RATE, method).f0).mean() < 0.2
    with pytest.raises(ValueError, match="unknown F0 estimator"):
        f0_track(np.zeros(RATE), RATE, "crepe")


@pytest.mark.parametrize("amplitude", [1.0, 0.1, 0.01])
def test_intensity_of_calibrated_tones(amplitude):
    import parselmouth

    t = np.arange(RATE * 2) / RATE
    tone = amplitude * np.sin(2 * np.pi * 1000 * t)
    expected = 20 * np.log10(amplitude / np.sqrt(2) / 2e-5)  # a sine's RMS is its amplitude over √2
    assert intensity_db(tone) == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx({1.0: 90.97, 0.1: 70.97, 0.01: 50.97}[amplitude], abs=0.005)
    energy = parselmouth.Intensity.AveragingMethod.ENERGY
    praat = parselmouth.Sound(tone, RATE).to_intensity().get_average(averaging_method=energy)
    assert intensity_db(tone) == pytest.approx(praat, abs=0.05)  # Praat's own intensity, energy-averaged
    assert intensity_db(np.zeros(10)) is None and intensity_db(np.zeros(0)) is None




def test_speaker_f0_and_intensity_come_from_their_own_speech():
    audio, doc = dialogue([110.0] * 4, [220.0] * 4, amplitudes=(0.5, 0.05))
    out = compute(doc, audio, RATE)["session"]["speakers"]
    assert out["therapist"]["f0_mean_hz"] == pytest.approx(110, rel=0.01)
    assert out["client"]["f0_mean_hz"] == pytest.approx(220, rel=0.01)
    assert out["therapist"]["intensity_db"] - out["client"]["intensity_db"] == pytest.approx(20.0, abs=0.05)


def test_arousal_is_mean_f0_per_turn_standardised_within_speaker():
    audio, doc = dialogue([100.0, 120.0, 140.0], [200.0, 200.0, 260.0])
    conv = build(doc["segments"], labeller(doc))
    rows = turn_arousal(conv, f0_track(audio, RATE))
    therapist = [r["arousal"] for r in rows if r["speaker"] == "therapist"]
    client = [r["arousal"] for r in rows if r["speaker"] == "client"]
    assert therapist == pytest.approx([-1.0, 0.0, 1.0], abs=0.02)
    # client turn means 200, 200, 260: mean 220, SD 34.64
    assert client == pytest.approx([-20 / 34.641, -20 / 34.641, 40 / 34.641], abs=0.02)


# --- synchrony -----------------------------------------------------------------------------------------------

def correlated(n, rho, seed=0):
    """Two series whose sample correlation is exactly ``rho``."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, n))
    a = (a - a.mean()) / np.linalg.norm(a - a.mean())
    b = b - b.mean()
    b = b - (b @ a) * a
    b /= np.linalg.norm(b)
    return a, rho * a + np.sqrt(1 - rho**2) * b


@pytest.mark.parametrize("rho", [0.8, 0.3, 0.0, -0.5])
def test_synchrony_of_constructed_pairs_is_their_correlation_and_surrogates_are_near_zero(rho):
    x, y = correlated(200, rho)
    result = synchrony(x, y)
    assert result["r"] == pytest.approx(rho, abs=1e-12)
    assert result["r"] == pytest.approx(scipy.stats.pearsonr(x, y).statistic, abs=1e-12)  # SciPy's Pearson r
    assert abs(result["surrogate_mean"]) < 0.01
    assert result["surrogate_sd"] == pytest.approx(1 / np.sqrt(199), rel=0.1)  # r's SD under no association
    assert (result["p"] < 0.01) is (abs(rho) >= 0.3)
    shuffled = synchrony(x, np.random.default_rng(5).permutation(y))
    assert abs(shuffled["r"]) < 3 / np.sqrt(200) and shuffled["p"] > 0.01


def test_synchrony_needs_enough_pairs():
    assert synchrony(np.arange(4.0), np.arange(4.0))["r"] is None
    assert pearson(np.ones(6), np.arange(6.0)) is None


def test_pairs_follow_the_turn_order_and_the_lag():
    turns = [{"speaker": s, "arousal": a} for s, a in
             [("therapist", 1), ("client", 2), ("therapist", 3), ("client", None), ("therapist", 5), ("client", 6)]]
    x, y = pairs(turns, "therapist", "client", 1)
    assert list(zip(x, y)) == [(1, 2), (5, 6)]
    x, y = pairs(turns, "client", "therapist", 1)
    assert list(zip(x, y)) == [(2, 3)]
    x, y = pairs(turns, "therapist", "client", 3)
    assert list(zip(x, y)) == [(3, 6)]


def test_vocal_synchrony_recovered_from_the_recording():
    # 40 exchanges; each client reply's F0 follows the therapist's turn before it with r = 0.6
    x, y = correlated(40, 0.6, seed=3)
    x, y = x / x.std(), y / y.std()
    audio, doc = dialogue(list(120 + 10 * x), list(220 + 20 * y))
    out = compute(doc, audio, RATE, surrogates=500)
    lag1 = out["synchrony"]["therapist->client"]["1"]
    assert lag1["pairs"] == 40 and lag1["r"] == pytest.approx(0.6, abs=0.02)
    assert lag1["p"] < 0.01 and abs(lag1["surrogate_mean"]) < 0.03
    assert abs(out["synchrony"]["client->therapist"]["1"]["r"]) < 0.35
    assert len(out["turns"]) == 80 and out["estimator"] == "praat"


# --- a scripted session: espeak-ng voices with planted interruptions, back-channels and talk-over -----------

def test_the_generator_refuses_a_turn_it_cannot_read(tmp_path):
    script = tmp_path / "bad.script.txt"
    script.write_text("T|Hello.\nC<soon|Too early.\n")
    done = subprocess.run([sys.executable, str(SAMPLE_DIR / "generate.py"), str(script), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "cannot read the turn's head 'C<soon'" in done.stderr
    assert not (tmp_path / "bad.ogg").exists()


def test_turn_taking_of_a_synthesised_session_with_planted_overlaps(tmp_path):
    audio_path, reference = scripted_session(TALK_OVER, tmp_path)
    lines = [line for line in TALK_OVER.read_text().splitlines() if line.strip() and not line.startswith("#")]
    main = [t for t in reference if t.get("planted") != "over"]
    assert len(reference) == len(lines) == 19 and len(main) == 15
    doc = {"duration": 70.0, "speakers": {"therapist": {"role": "therapist"}, "client": {"role": "client"}},
           "segments": [seg(t["speaker"], t["start"], t["end"], t["text"]) for t in reference]}
    out = compute(doc, load_channels(audio_path)[0], RATE, surrogates=200)
    s = out["session"]
    t, c = s["speakers"]["therapist"], s["speakers"]["client"]
    # the script's layout: 15 alternating turns joined by 0.7 s pauses, except two planted interruptions
    # (the therapist 0.6 s before the client ends, the client 0.5 s before the therapist ends)
    assert (t["turns"], c["turns"], s["switches"]) == (8, 7, 14)
    offsets = sorted(x["start"] - y["end"] for x, y in zip(main[1:], main))
    assert [round(x, 3) for x in offsets[:2]] == [-0.6, -0.5]
    assert (s["interruptions"], s["interruptions_by"]) == (2, {"client": {"therapist": 1}, "therapist": {"client": 1}})
    assert s["overlapped_switches"] == 2 and s["switching_pause_median_s"] == pytest.approx(0.7, abs=0.0011)
    assert s["gaps"] == 12 and s["pauses"] == 0 and s["long_silences"] == 0
    # three short back-channels by the therapist ("Mm-hm.", "Right.", "Okay."), one longer remark by the client
    assert (s["backchannels"], s["backchannels_by"]) == (3, {"therapist": {"client": 3}})
    assert (c["overlaps_made"], t["overlaps_made"]) == (1, 0)
    planted = [x["end"] - x["start"] for x in reference if x.get("planted") == "over"]
    assert s["overlap_time_s"] == pytest.approx(0.6 + 0.5 + sum(planted), abs=0.003)
    for role, row in (("therapist", t), ("client", c)):
        assert row["speaking_time_s"] == pytest.approx(
            sum(x["end"] - x["start"] for x in reference if x["speaker"] == role), abs=1e-9)
    assert (t["questions"], c["questions"]) == (4, 1)
    # the two voices: Praat and pYIN agree on each speaker's mean F0
    pyin = compute(doc, load_channels(audio_path)[0], RATE, estimator="pyin", surrogates=10)["session"]["speakers"]
    for role in ("therapist", "client"):
        assert pyin[role]["f0_mean_hz"] == pytest.approx(s["speakers"][role]["f0_mean_hz"], rel=0.03)
    assert t["f0_mean_hz"] > c["f0_mean_hz"]  # the therapist's voice (en-gb+f4) is the higher
