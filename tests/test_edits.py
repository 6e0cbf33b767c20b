"""Transcript corrections as pure functions: untouched words keep their times, written words get interpolated
times inside the span they replace, turns split, merge and change speaker, and the changes between two
versions are listed turn by turn."""
from __future__ import annotations

import copy

import pytest

from coder.pipeline import edits


def doc() -> list[dict]:
    """The demo session's misheard opening, as the recogniser wrote it."""
    def turn(speaker, start, words):
        ws = [{"start": s, "end": e, "text": t, "speaker": speaker, "probability": p} for s, e, t, p in words]
        return {"start": ws[0]["start"], "end": ws[-1]["end"], "speaker": speaker,
                "text": " ".join(w["text"] for w in ws), "words": ws}

    return [turn("SPEAKER_00", 0.5, [(0.5, 0.8, "Let's", 0.9), (0.8, 1.0, "put", 0.95), (1.0, 1.3, "net", 0.31),
                                      (1.3, 1.5, "on", 0.9), (1.5, 1.6, "the", 0.99), (1.6, 2.1, "agenda", 0.97)]),
            turn("SPEAKER_01", 2.6, [(2.6, 2.9, "Sure,", 0.9), (2.9, 3.2, "that", 0.9), (3.2, 3.5, "works.", 0.9)]),
            turn("SPEAKER_00", 4.0, [(4.0, 4.3, "Good.", 0.9)])]


def times(seg):
    return [(w["start"], w["end"]) for w in seg["words"]]


def test_replacing_a_misheard_word_keeps_the_other_times():
    before = doc()
    kept = copy.deepcopy(before)
    after = edits.replace_words(before, 0, 2, 2, "homework")
    assert before == kept  # the input is left as it was
    assert after[0]["text"] == "Let's put homework on the agenda"
    assert times(after[0])[:2] == times(before[0])[:2] and times(after[0])[3:] == times(before[0])[3:]
    assert times(after[0])[2] == (1.0, 1.3) and "probability" not in after[0]["words"][2]
    assert after[1:] == before[1:]


def test_written_words_share_the_span_by_length_and_stay_in_order():
    after = edits.replace_words(doc(), 0, 2, 2, "the homework sheet")
    new = after[0]["words"][2:5]
    assert [w["text"] for w in new] == ["the", "homework", "sheet"]
    assert new[0]["start"] == 1.0 and new[-1]["end"] == 1.3
    assert all(a["end"] <= b["start"] + 1e-9 for a, b in zip(new, new[1:]))
    lengths = [w["end"] - w["start"] for w in new]
    assert lengths[1] > lengths[2] > lengths[0]  # "homework" is the longest, "the" the shortest


def test_insert_delete_and_an_emptied_turn():
    inserted = edits.replace_words(doc(), 0, 3, 2, "today")  # before word 3, in the 1.3 s boundary
    assert inserted[0]["text"] == "Let's put net today on the agenda"
    assert inserted[0]["words"][3]["start"] == inserted[0]["words"][3]["end"] == 1.3
    deleted = edits.replace_words(doc(), 1, 0, 2, "")
    assert len(deleted) == 2 and [s["speaker"] for s in deleted] == ["SPEAKER_00", "SPEAKER_00"]
    with pytest.raises(edits.EditError, match="no words 5–9"):
        edits.replace_words(doc(), 1, 5, 9, "x")
    with pytest.raises(edits.EditError, match="no turn 7"):
        edits.replace_words(doc(), 7, 0, 0, "x")


def test_split_merge_and_move_words_to_the_other_speaker():
    split = edits.split_turn(doc(), 0, 3)
    assert [s["text"] for s in split[:2]] == ["Let's put net", "on the agenda"]
    assert split[0]["end"] == 1.3 and split[1]["start"] == 1.3
    assert edits.merge_turns(split, 0)[0] == doc()[0]
    moved = edits.move_words(doc(), 0, 4, 5, "SPEAKER_01")
    assert [(s["speaker"], s["text"]) for s in moved[:3]] == [
        ("SPEAKER_00", "Let's put net on"), ("SPEAKER_01", "the agenda"), ("SPEAKER_01", "Sure, that works.")]
    assert all(w["speaker"] == "SPEAKER_01" for w in moved[1]["words"])
    assert times(moved[1]) == times(doc()[0])[4:]
    whole = edits.set_speaker(doc(), 2, "SPEAKER_01")
    assert whole[2]["speaker"] == "SPEAKER_01" and whole[2]["words"][0]["speaker"] == "SPEAKER_01"
    with pytest.raises(edits.EditError, match="cannot be split before word 0"):
        edits.split_turn(doc(), 0, 0)


def test_a_turn_for_missed_speech_goes_in_at_the_playhead():
    after = edits.insert_turn(doc(), 2.2, "SPEAKER_01", "Mm-hm, yes")
    assert [s["text"] for s in after] == ["Let's put net on the agenda", "Mm-hm, yes", "Sure, that works.", "Good."]
    assert after[1]["start"] == 2.2 and after[1]["end"] <= 2.6  # up to the next turn
    with pytest.raises(edits.EditError, match="needs words"):
        edits.insert_turn(doc(), 1.0, "SPEAKER_01", "  ")


def test_a_turn_without_word_times_gets_them_spread_over_it():
    bare = [{"start": 0.0, "end": 2.0, "speaker": "SPEAKER_00", "text": "one two three four"}]
    after = edits.replace_words(bare, 0, 1, 1, "2")
    assert after[0]["text"] == "one 2 three four" and after[0]["words"][-1]["end"] == 2.0


def test_changes_list_what_differs_turn_by_turn():
    before = doc()
    after = edits.insert_turn(edits.replace_words(before, 0, 2, 2, "homework"), 2.2, "SPEAKER_01", "Yes")
    after = edits.set_speaker(after, 3, "SPEAKER_01")
    got = edits.changes(before, after)
    assert [c["op"] for c in got] == ["changed", "added", "changed"]
    assert got[0]["before"]["text"] == "Let's put net on the agenda" and got[0]["after"]["text"].startswith("Let's put homework")
    assert got[1]["before"] is None and got[1]["after"]["text"] == "Yes"
    assert got[2]["after"]["speaker"] == "SPEAKER_01"
    assert edits.changes(before, before) == []


def test_editing_a_turns_text_rewrites_only_the_words_that_changed():
    before = doc()
    kept = copy.deepcopy(before)
    # two separate corrections in one edit: a word replaced, one added at the end
    after = edits.edit_text(before, 0, "Let's put homework on the agenda today")
    assert before == kept
    assert after[0]["text"] == "Let's put homework on the agenda today"
    old, new = times(before[0]), times(after[0])
    assert new[:2] == old[:2] and new[3:6] == old[3:6]  # untouched words keep their times
    assert new[2] == (1.0, 1.3)  # "homework" takes the span of "net"
    assert new[6][0] >= old[5][1] - 1e-9 and new[6][1] <= after[0]["end"]  # "today" inside the turn
    assert [w.get("probability") for w in after[0]["words"]][:2] == [0.9, 0.95]
    assert "probability" not in after[0]["words"][2]
    assert edits.edit_text(before, 0, before[0]["text"]) == before  # nothing changed
    removed = edits.edit_text(before, 1, "   ")
    assert [s["text"] for s in removed] == [before[0]["text"], before[2]["text"]]
    with pytest.raises(edits.EditError, match="no turn 7"):
        edits.edit_text(before, 7, "x")


def test_a_turn_is_marked_checked_and_unchecked():
    before = doc()
    checked = edits.check_turn(before, 1)
    assert checked[1]["checked"] is True and "checked" not in before[1]
    assert "checked" not in edits.check_turn(checked, 1, checked=False)[1]
    # a later correction of the turn keeps the mark
    assert edits.edit_text(checked, 1, "Sure, that works fine.")[1]["checked"] is True
