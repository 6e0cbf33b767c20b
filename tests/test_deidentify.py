"""De-identification as pure functions, with Presidio and the real spaCy English pipeline (the packaged
en_core_web_sm): planted identifiers are found as words of their turn with the words' times, names on the
study's lists are found where the statistical model misses them, pseudonyms stay consistent across a dyad's
sessions, redaction leaves the original as it was and logs what it replaced, muting silences exactly the
redacted stretches, and an edited transcript is analysed again for its edited turns only."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from coder.pipeline import deidentify, edits
from coder.pipeline.deidentify import Candidate, DeidentificationError

PEOPLE = {"Client": ["Maria", "Maria Lopez"], "Therapist": ["Dr Evans"], "Mother": ["Rose"],
          "Sister": ["Anna", "Beth|Bethany"]}


@pytest.fixture(scope="session")
def analyzer():
    """The spaCy pipeline and Presidio's recognisers, loaded once for the module's tests."""
    return deidentify.analyzer()


def turn(text: str, start: float, speaker: str = "client") -> dict:
    """A turn as Whisper writes it: words with a leading space, 0.3 s each, 0.1 s apart."""
    words = []
    for i, token in enumerate(text.split()):
        t = round(start + 0.4 * i, 2)
        words.append({"start": t, "end": round(t + 0.3, 2), "text": (" " if i else "") + token, "speaker": speaker,
                      "probability": 0.9})
    return {"start": words[0]["start"], "end": words[-1]["end"], "speaker": speaker, "text": text, "words": words}


PLANTED = ("Since Jonathan Price moved me to the Tesco in Leeds on the 14th of March, I have been anxious. "
           "Ring me on 07700 900123 or write to jo.price@example.com if I miss it.")


def session() -> list[dict]:
    return [turn("Good to see you again, how are you feeling?", 0.0, "therapist"),
            turn(PLANTED, 4.0),
            turn("i told maria about it and she just laughed.", 20.0, "therapist"),
            turn("My mum Rose came down from Harrogate last weekend.", 25.0)]


def found(candidates, turn_index=None):
    return {(c.text, c.entity): (c.first, c.last) for c in candidates if turn_index is None or c.turn == turn_index}


def test_planted_identifiers_are_found_as_words_with_their_times(analyzer):
    candidates = deidentify.detect(session(), turns=[1])
    assert found(candidates) == {
        ("Jonathan Price", "PERSON"): (1, 2),
        ("Tesco", "ORGANIZATION"): (7, 7),
        ("Leeds", "LOCATION"): (9, 9),
        ("the 14th of March", "DATE_TIME"): (11, 14),
        ("07700 900123", "PHONE_NUMBER"): (22, 23),  # spaCy also calls it a date: one candidate, the phone number
        ("jo.price@example.com", "EMAIL_ADDRESS"): (27, 27),  # the word is "jo.price@example.com"
    }
    by_text = {c.text: c for c in candidates}
    words = session()[1]["words"]
    assert (by_text["Jonathan Price"].start, by_text["Jonathan Price"].end) == (words[1]["start"], words[2]["end"])
    assert (by_text["the 14th of March"].start, by_text["the 14th of March"].end) == (8.4, 9.9)
    assert by_text["Leeds"].label == "GPE" and by_text["Tesco"].label is None
    assert all(c.turn == 1 and c.role is None for c in candidates)
    assert by_text["jo.price@example.com"].recognizer == "EmailRecognizer"


def test_study_lists_find_the_names_the_model_misses(analyzer):
    segments = session()
    without = deidentify.detect(segments)
    assert not [c for c in without if c.text.casefold() in ("maria", "rose")]  # spaCy's small model misses both
    with_lists = deidentify.detect(segments, PEOPLE)
    listed = {(c.turn, c.text): (c.first, c.last, c.role, c.person) for c in with_lists if c.role}
    assert listed == {(2, "maria"): (2, 2, "Client", "Maria"), (3, "Rose"): (2, 2, "Mother", "Rose")}
    assert ("Harrogate", "LOCATION") in found(with_lists, 3)  # the model's detections stay beside the lists'


def test_overlapping_detections_become_one_candidate_of_the_most_specific_type(analyzer):
    segment = turn("Maria Lopez said her address is maria.lopez@example.com now.", 0.0)
    candidates = deidentify.detect_turn(segment, 5, PEOPLE)
    assert [(c.turn, c.first, c.last, c.text, c.entity, c.role) for c in candidates] == [
        (5, 0, 1, "Maria Lopez", "PERSON", "Client"),  # the list's "Maria Lopez" and spaCy's person, one candidate
        (5, 6, 6, "maria.lopez@example.com", "EMAIL_ADDRESS", None),  # holds a listed name; an e-mail all the same
    ]


def test_pseudonyms_are_consistent_within_and_across_a_dyads_sessions(analyzer):
    first = [turn("Anna and Bethany met Tom Hardy in Leeds, and he works for Barclays in York.", 0.0),
             turn("Then Tom Hardy rang me from Leeds.", 10.0)]
    c1 = deidentify.detect(first, PEOPLE)
    assert [c.text for c in c1 if c.turn == 1] == ["Tom Hardy", "Leeds"]
    mapping = deidentify.pseudonyms(c1, PEOPLE)
    assert {k: mapping[k] for k in ("maria", "maria lopez", "dr evans", "rose", "anna", "beth", "bethany",
                                    "tom hardy", "leeds", "york")} == {
        "maria": "[Client]", "maria lopez": "[Client]", "dr evans": "[Therapist]", "rose": "[Mother 1]",
        "anna": "[Sister 1]", "beth": "[Sister 2]", "bethany": "[Sister 2]", "tom hardy": "[Person 1]",
        "leeds": "[Town A]", "york": "[Town B]"}
    second = [turn("Tom Hardy came back from Leeds, and Jane Wilson drove over from Bradford.", 0.0),
              turn("then tom hardy rang me", 8.0)]
    c2 = deidentify.detect(second, PEOPLE)
    # the model misses the lowercase name; a reviewer adds it by selecting the words
    added = Candidate(turn=1, first=1, last=2, start=8.4, end=9.1, text="tom hardy", entity="PERSON", score=1.0,
                      recognizer="reviewer")
    frozen = dict(mapping)
    extended = deidentify.pseudonyms(c2 + [added], PEOPLE, mapping)
    assert mapping == frozen  # the earlier mapping is not changed
    assert all(extended[k] == v for k, v in mapping.items())
    assert extended["jane wilson"] == "[Person 2]" and extended["bradford"] == "[Town C]"  # numbering goes on
    redacted, _ = deidentify.redact(second, c2 + [added], extended)
    assert [s["text"] for s in redacted] == [
        "[Person 1] came back from [Town A], and [Person 2] drove over from [Town C].", "then [Person 1] rang me"]


def test_a_relation_listed_in_a_later_session_is_numbered_after_the_earlier_ones():
    mapping = deidentify.pseudonyms([], {"Sister": ["Anna"]})
    later = deidentify.pseudonyms([], {"Sister": ["Anna", "Beth"], "Brother": ["Tom"]}, mapping)
    assert (later["anna"], later["beth"], later["tom"]) == ("[Sister 1]", "[Sister 2]", "[Brother 1]")
    assert deidentify.surface_key(" Anna's, ") == "anna"


def test_redaction_replaces_words_leaves_the_original_and_logs_apart(analyzer):
    segments = session()
    kept = copy.deepcopy(segments)
    candidates = deidentify.detect(segments, PEOPLE)
    accepted = [c for c in candidates if c.text != "Harrogate"]  # a reviewer rejected one
    mapping = deidentify.pseudonyms(accepted, PEOPLE)
    redacted, log = deidentify.redact(segments, accepted, mapping)
    assert segments == kept  # the original is untouched
    assert redacted[1]["text"] == ("Since [Person 1] moved me to the [Organisation A] in [Town A] on [Date], I have "
                                   "been anxious. Ring me on [Phone] or write to [E-mail] if I miss it.")
    assert redacted[2]["text"] == "i told [Client] about it and she just laughed."
    assert redacted[3]["text"] == "My mum [Mother 1] came down from Harrogate [Date]."
    date = redacted[1]["words"][10]  # "Jonathan Price" became one word
    assert date == {"start": 8.4, "end": 9.9, "text": " [Date],", "speaker": "client"}  # no probability: written
    assert redacted[1]["words"][9] == segments[1]["words"][10]  # untouched words keep everything
    assert redacted[0] == segments[0]
    assert len(log) == len(accepted)
    entry = next(e for e in log if e["pseudonym"] == "[Person 1]")
    assert entry == {"turn": 1, "first": 1, "last": 2, "start": 4.4, "end": 5.1, "original": "Jonathan Price",
                     "text": "Jonathan Price", "pseudonym": "[Person 1]", "entity": "PERSON", "role": None,
                     "recognizer": "SpacyRecognizer"}
    assert next(e for e in log if e["pseudonym"] == "[Date]" and e["turn"] == 1)["original"] == "the 14th of March,"
    assert not any("Jonathan" in w["text"] or "07700" in w["text"] for s in redacted for w in s["words"])


def test_redaction_refuses_what_does_not_fit(analyzer):
    segments = session()
    c = Candidate(turn=1, first=1, last=2, start=4.4, end=5.1, text="Jonathan Price", entity="PERSON", score=0.85,
                  recognizer="SpacyRecognizer")
    with pytest.raises(DeidentificationError, match="no pseudonym for 'Jonathan Price'"):
        deidentify.redact(segments, [c], {})
    mapping = {"jonathan price": "[Person 1]", "price": "[Person 1]"}
    with pytest.raises(DeidentificationError, match="share words"):
        deidentify.redact(segments, [c, Candidate(**{**c.to_dict(), "first": 2, "text": "Price"})], mapping)
    with pytest.raises(DeidentificationError, match="no turn 9"):
        deidentify.redact(segments, [Candidate(**{**c.to_dict(), "turn": 9})], mapping)
    with pytest.raises(DeidentificationError, match="does not hold 'Jonathan Price'"):
        deidentify.redact(segments, [Candidate(**{**c.to_dict(), "first": 3, "last": 4})], mapping)
    with pytest.raises(DeidentificationError, match="not a candidate"):
        Candidate.from_dict({"turn": 1})
    assert Candidate.from_dict(c.to_dict()) == c


def test_muting_silences_exactly_the_redacted_spans():
    log = [{"start": 1.0, "end": 1.5}, {"start": 1.45, "end": 2.0}, {"start": 3.0, "end": 3.25}]
    spans = deidentify.muted_spans(log, pad_s=0.0)
    assert spans == [(1.0, 2.0), (3.0, 3.25)]
    assert deidentify.muted_spans(log) == [(0.9, 2.1), (2.9, 3.35)]  # padded by default, overlaps merged
    rate = 1000
    rng = np.random.default_rng(0)
    samples = (rng.uniform(0.1, 0.9, 5 * rate) * rng.choice([-1, 1], 5 * rate)).astype(np.float32)
    original = samples.copy()
    muted = deidentify.mask_audio(samples, rate, spans)
    assert np.array_equal(samples, original)  # the input is untouched
    silent = np.zeros(len(samples), bool)
    silent[1000:2000] = silent[3000:3250] = True
    assert np.all(muted[silent] == 0) and np.array_equal(muted[~silent], samples[~silent])
    pcm = (original * 32767).astype(np.int16)
    toned = deidentify.mask_audio(np.stack([pcm, pcm], axis=1), rate, spans, mode="tone", tone_hz=250)
    assert toned.dtype == np.int16 and np.array_equal(toned[~silent], np.stack([pcm, pcm], axis=1)[~silent])
    assert np.abs(toned[1000:2000, 0]).max() == pytest.approx(0.2 * 32767, rel=0.01)
    assert np.array_equal(toned[:, 0], toned[:, 1]) and not np.array_equal(toned[silent], 0 * toned[silent])
    with pytest.raises(DeidentificationError, match="mode must be"):
        deidentify.mask_audio(samples, rate, spans, mode="beep")
    with pytest.raises(DeidentificationError, match="ends before it starts"):
        deidentify.muted_spans([{"start": 2.0, "end": 1.0}])


def test_an_edited_transcript_is_analysed_again_for_the_edited_turns_only(analyzer):
    before = session()
    candidates = deidentify.detect(before, PEOPLE)
    after = edits.edit_text(before, 2, "i told maria and Jonathan about it and she just laughed.")
    after = edits.insert_turn(after, 3.0, "therapist", "Hello Anna.")  # a turn before the planted one
    assert [s["text"] for s in after][1] == "Hello Anna."
    rechecked, changed = deidentify.recheck(before, after, candidates, PEOPLE)
    assert changed == [1, 3]  # the inserted turn and the edited one; the others are carried, not analysed
    assert [(c.first, c.last, c.text, c.start) for c in rechecked if c.turn == 2] == [
        (c.first, c.last, c.text, c.start) for c in candidates if c.turn == 1]
    assert {c.text for c in rechecked if c.turn == 3} >= {"maria", "Jonathan"}
    assert [c.text for c in rechecked if c.turn == 1] == ["Anna"]
    assert rechecked == deidentify.detect(after, PEOPLE)  # the same as analysing the whole edited transcript
    unchanged, none = deidentify.recheck(before, before, candidates, PEOPLE)
    assert (unchanged, none) == (candidates, [])


def test_an_unknown_pipeline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CODER_SPACY_MODEL", str(tmp_path / "no-such-pipeline"))
    with pytest.raises(DeidentificationError, match="no spaCy pipeline .*no-such-pipeline.*spacy download"):
        deidentify.detect([turn("Hello Anna.", 0.0)])
    with pytest.raises(DeidentificationError, match="unknown entity types"):
        deidentify.detect([turn("Hello Anna.", 0.0)], entities=["CREDIT_CARD"])
    with pytest.raises(DeidentificationError, match="list of strings"):
        deidentify.detect([turn("Hello Anna.", 0.0)], {"Client": "Maria"})
