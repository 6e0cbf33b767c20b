"""Roles (therapist or client) from the conversation and from an enrolled voice; RTTM reading."""
import numpy as np
import pytest

from coder.pipeline import audio
from coder.pipeline.diarize import embeddings as embed
from coder.pipeline.diarize import BuiltinDiarizer, Turn
from coder.pipeline.words import attribute_words
from coder.pipeline.roles import assign_roles, swap
from coder.pipeline.rttm import RTTMError, parse, read, turns_for, write

from .support.paths import SAMPLE_DIR

RATE = 16000


def seg(speaker, start, end, text):
    return {"speaker": speaker, "start": start, "end": end, "text": text, "words": []}


CONVERSATION = [
    seg("A", 0, 4, "Hello, good to see you. How has your week been?"),
    seg("B", 5, 15, "Not bad. I did the walks on Monday and Wednesday. Friday it rained."),
    seg("A", 16, 19, "Well done. What got in the way on Friday?"),
    seg("B", 20, 30, "Mostly the rain. And I was tired."),
    seg("A", 31, 34, "Shall we plan for that? See you next week."),
]


def test_the_questioner_who_opens_and_closes_is_the_therapist():
    roles = assign_roles(CONVERSATION)
    assert roles["A"]["role"] == "therapist" and roles["B"]["role"] == "client"
    assert 0.9 < roles["A"]["confidence"] <= 1.0 and roles["A"]["role_source"] == "auto"
    assert roles["A"]["cues"]["questions"] > 0 and roles["A"]["cues"]["opens"] > 0


def test_labels_do_not_decide():
    renamed = [{**s, "speaker": {"A": "SPEAKER_01", "B": "SPEAKER_00"}[s["speaker"]]} for s in CONVERSATION]
    roles = assign_roles(renamed)
    assert roles["SPEAKER_01"]["role"] == "therapist" and roles["SPEAKER_00"]["role"] == "client"


def test_a_third_speaker_keeps_no_role():
    roles = assign_roles(CONVERSATION + [seg("C", 35, 36, "Bye.")])
    assert roles["C"]["role"] is None and roles["A"]["role"] == "therapist" and roles["B"]["role"] == "client"


def test_nobody_and_one_speaker():
    assert assign_roles([]) == {}
    assert assign_roles([seg("A", 0, 1, "Hi?")])["A"]["role"] is None


def test_swap():
    assert swap({"A": "therapist", "B": "client", "C": None}) == {"A": "client", "B": "therapist", "C": None}


@pytest.fixture(scope="module")
def demo():
    samples = audio.load(SAMPLE_DIR / "demo_session.ogg")
    reference = read(SAMPLE_DIR / "demo_session.rttm")["demo_session"]
    return samples, reference


def test_an_enrolled_voice_outweighs_the_conversation(demo):
    """Real voices: the diarised demo session, with the text cues pointing the wrong way."""
    samples, reference = demo
    result = BuiltinDiarizer()(samples, 2)
    # The therapist's voice, enrolled from their first three turns only.
    enrol = [(t.start, t.end) for t in reference if t.speaker == "therapist"][:3]
    voiceprint = embed.voiceprint(samples, enrol)
    # Which diarised speaker is truly the therapist: the one covering the reference therapist's turns.
    truth = attribute_words([{"start": t.start, "end": t.end, "text": "x", "words": []}
                             for t in reference if t.speaker == "therapist"], result.turns)
    therapist = max(set(s["speaker"] for s in truth), key=[s["speaker"] for s in truth].count)
    client = next(s for s in result.speakers if s != therapist)
    misleading = [seg(client, 0, 5, "Can I ask you something? Is that all right?"),
                  seg(therapist, 6, 20, "Yes. Go ahead."), seg(client, 21, 25, "Will it help? Really?")]
    assert assign_roles(misleading)[client]["role"] == "therapist"  # fooled without the voice
    roles = assign_roles(misleading, result.speakers, result.embeddings, voiceprint)
    assert roles[therapist]["role"] == "therapist" and roles[client]["role"] == "client"
    assert roles[therapist]["cues"]["voice"] > 0


def test_one_voice_is_the_therapist_only_if_it_is_theirs(demo):
    samples, reference = demo
    therapist_turns = [(t.start, t.end) for t in reference if t.speaker == "therapist"]
    client_turns = [(t.start, t.end) for t in reference if t.speaker == "client"]
    vp = embed.voiceprint(samples, therapist_turns[:3])
    lone = [seg("SPEAKER_00", 0, 5, "Hello.")]
    as_therapist = assign_roles(lone, ["SPEAKER_00"], {"SPEAKER_00": embed.voiceprint(samples, therapist_turns[3:])}, vp)
    as_client = assign_roles(lone, ["SPEAKER_00"], {"SPEAKER_00": embed.voiceprint(samples, client_turns)}, vp)
    assert as_therapist["SPEAKER_00"]["role"] == "therapist"
    assert as_client["SPEAKER_00"]["role"] == "client"


def test_voiceprint_needs_speech():
    with pytest.raises(ValueError, match="too little speech"):
        embed.voiceprint(np.zeros(RATE // 4, dtype=np.float32))


# --- RTTM ----------------------------------------------------------------------------------------------

def test_rttm_round_trip_and_other_line_types():
    text = (";; a comment\nSPKR-INFO s1 1 <NA> <NA> <NA> unknown T <NA> <NA>\n"
            "SPEAKER s1 1 5.0 2.5 <NA> <NA> client <NA> <NA>\n"
            "SPEAKER s1 1 0.5 4.0 <NA> <NA> therapist <NA> <NA>\n"
            "SPEAKER s2 1 0 1 <NA> <NA> x <NA> <NA>\nSPEAKER s1 1 9 0 <NA> <NA> empty <NA> <NA>\n")
    turns = parse(text)
    assert turns["s1"] == [Turn(0.5, 4.5, "therapist"), Turn(5.0, 7.5, "client")]
    assert parse(write(turns["s1"], "s1")) == {"s1": turns["s1"]}
    assert turns_for(turns, "s2") == [Turn(0.0, 1.0, "x")]
    with pytest.raises(RTTMError, match=r"no turns for 'other' \(URIs in the file: s1, s2\)"):
        turns_for(turns, "other")
    assert turns_for({"only": turns["s2"]}, "anything") == turns["s2"]
    with pytest.raises(RTTMError, match="no turns for 'anything'"):  # a batch of several inputs asks this way
        turns_for({"only": turns["s2"]}, "anything", only_uri_applies=False)


@pytest.mark.parametrize("line, message", [
    ("SPEAKER s1 1 abc 2 <NA> <NA> A <NA> <NA>", "line 2: onset and duration (fields 4 and 5) must be numbers"),
    ("SPEAKER s1 1 1.0", "line 2: a SPEAKER line needs at least 8 fields"),
    ("SPEAKER s1 1 -1 2 <NA> <NA> A <NA> <NA>", "line 2: onset and duration must be finite and not negative"),
    ("SPEAKER s1 1 1 nan <NA> <NA> A <NA> <NA>", "line 2: onset and duration must be finite"),
])
def test_bad_rttm_lines_are_named(line, message):
    with pytest.raises(RTTMError, match=f"^x.rttm, {message}".replace("(", r"\(").replace(")", r"\)")):
        parse("SPEAKER s1 1 0 1 <NA> <NA> A <NA> <NA>\n" + line + "\n", "x.rttm")


def test_unreadable_rttm_files(tmp_path):
    (tmp_path / "bin.rttm").write_bytes(b"\xff\xfe\x00SPEAKER")
    (tmp_path / "empty.rttm").write_text(";; nothing\n")
    with pytest.raises(RTTMError, match="not a text file"):
        read(tmp_path / "bin.rttm")
    with pytest.raises(RTTMError, match="no SPEAKER lines found"):
        read(tmp_path / "empty.rttm")
    with pytest.raises(RTTMError, match="cannot read"):
        read(tmp_path / "missing.rttm")


def test_voices_of_different_networks_are_never_compared():
    """A Resemblyzer voiceprint (256-d, from before CAM++) against CAM++ voices (192-d): refused, named."""
    from coder.pipeline.diarize.embeddings import VoiceModelMismatch, model_of

    cam = {"A": np.eye(192)[0], "B": np.eye(192)[1]}
    old = np.eye(256)[0]
    assert (model_of(old), model_of(cam["A"]), model_of([0.0] * 10)) == ("Resemblyzer", "CAM++",
                                                                         "an unknown model (10-d)")
    with pytest.raises(VoiceModelMismatch, match=r"made by Resemblyzer and the speakers' voices by CAM\+\+"):
        assign_roles(CONVERSATION, ["A", "B"], cam, old)
    assert assign_roles(CONVERSATION, ["A", "B"], cam, np.eye(192)[1])["B"]["role"] == "therapist"
