"""Transcripts in other tools' files, as pure functions: the DOCX, ELAN and Praat exports read back with their own
libraries; VTT, EAF and DOCX files read as turns; the turns made into segments that keep what was not changed
(times of untouched words, whole untouched turns) and interpolate the rest; RTTM after a correction."""
from __future__ import annotations

import copy

import docx
import pympi
import pytest
from praatio import textgrid

from coder.pipeline import corrected, edits, formats, interchange, rttm
from coder.pipeline.interchange import FileTurn, InterchangeError

from .support.rating_study import script_segments

SPEAKERS = {"SPEAKER_00": {"role": "therapist", "name": "Dr Rivera"}, "SPEAKER_01": {"role": "client"}}


def document(segments=None, revision=0) -> dict:
    segments = script_segments()[:6] if segments is None else segments
    return {"audio": "/data/D1_session3.ogg", "duration": 60.0, "speakers": copy.deepcopy(SPEAKERS),
            "review": {"status": "in_review" if revision else "automatic", "revision": revision},
            "segments": segments, "diarization": None}


def test_the_docx_has_a_title_the_status_and_a_paragraph_per_turn(tmp_path):
    doc = document(revision=2)
    path = interchange.write(doc, tmp_path, "rec", ("docx",))["docx"]
    assert path.name == "rec.docx" and not list(tmp_path.glob(".*"))  # no temporary file left behind
    paragraphs = [p.text for p in docx.Document(str(path)).paragraphs]
    assert paragraphs[:2] == ["D1_session3.ogg", "Status: in review, revision 2"]
    seg = doc["segments"][1]
    assert paragraphs[3] == f"[00:00:05] Client: {seg['text']}" and seg["start"] == pytest.approx(5.28)
    assert paragraphs[2].startswith("[00:00:00] Dr Rivera: Good to see you again.")
    assert len(paragraphs) == 2 + len(doc["segments"])


def test_the_eaf_has_a_tier_of_turns_and_one_of_words_per_speaker_and_links_the_recording(tmp_path):
    doc = document()
    path = interchange.write(doc, tmp_path, "rec", ("eaf",))["eaf"]
    eaf = pympi.Elan.Eaf(str(path))
    assert sorted(eaf.get_tier_names()) == ["Client", "Client words", "Dr Rivera", "Dr Rivera words"]
    assert eaf.get_parameters_for_tier("Dr Rivera words")["PARENT_REF"] == "Dr Rivera"
    assert eaf.get_parameters_for_tier("Client")["PARTICIPANT"] == "SPEAKER_01"
    therapist = [s for s in doc["segments"] if s["speaker"] == "SPEAKER_00"]
    assert sorted(eaf.get_annotation_data_for_tier("Dr Rivera")) == \
        [(round(s["start"] * 1000), round(s["end"] * 1000), s["text"]) for s in therapist]
    words = sorted(eaf.get_annotation_data_for_tier("Dr Rivera words"))
    assert [w[2] for w in words] == [w["text"] for s in therapist for w in s["words"]]
    first = therapist[0]["words"][0]
    assert words[0][:2] == (round(first["start"] * 1000), round(first["end"] * 1000))
    media = eaf.get_linked_files()[0]
    assert media["RELATIVE_MEDIA_URL"] == "./D1_session3.ogg" and media["MEDIA_URL"] == "file:///data/D1_session3.ogg"
    assert media["MIME_TYPE"] == "audio/ogg"


def test_the_textgrid_has_interval_tiers_of_turns_and_words_per_speaker(tmp_path):
    doc = document()
    path = interchange.write(doc, tmp_path, "rec", ("textgrid",))["textgrid"]
    assert path.name == "rec.TextGrid"
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert grid.tierNames == ("Dr Rivera", "Dr Rivera words", "Client", "Client words")
    assert grid.maxTimestamp == 60.0
    client = [s for s in doc["segments"] if s["speaker"] == "SPEAKER_01"]
    assert [(e.start, e.end, e.label) for e in grid.getTier("Client").entries] == \
        [(s["start"], s["end"], s["text"]) for s in client]
    assert [e.label for e in grid.getTier("Client words").entries] == [w["text"] for s in client for w in s["words"]]


def test_tiers_never_overlap_and_two_speakers_of_one_name_get_their_labels(tmp_path):
    segments = [{"start": 1.0, "end": 3.0, "speaker": "A", "text": "one two", "words": []},
                {"start": 2.0, "end": 4.0, "speaker": "A", "text": "three", "words": []},
                {"start": 2.5, "end": 2.5, "speaker": "B", "text": "hm", "words": []}]
    doc = {"audio": "x.wav", "speakers": {"A": {"name": "Sam"}, "B": {"name": "sam"}}, "segments": segments}
    paths = interchange.write(doc, tmp_path, "rec", ("eaf", "textgrid"))
    eaf = pympi.Elan.Eaf(str(paths["eaf"]))
    assert sorted(eaf.get_annotation_data_for_tier("Sam (A)")) == [(1000, 3000, "one two"), (3000, 4000, "three")]
    assert eaf.get_annotation_data_for_tier("sam (B)") == [(2500, 2501, "hm")]
    assert eaf.get_linked_files()[0]["MIME_TYPE"] == "audio/x-wav"
    grid = textgrid.openTextgrid(str(paths["textgrid"]), includeEmptyIntervals=False)
    assert [(e.start, e.end) for e in grid.getTier("Sam (A)").entries] == [(1.0, 3.0), (3.0, 4.0)]


def test_write_keeps_the_transcribe_formats_apart_and_refuses_unknown_ones(tmp_path):
    doc = document()
    assert sorted(formats.write_all(doc, tmp_path / "a", "rec")) == ["json", "rttm", "txt", "vtt"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["rec.json", "rec.rttm", "rec.txt", "rec.vtt"]
    assert sorted(interchange.write(doc, tmp_path / "b", "rec", interchange.EXPORTS)) == \
        sorted(["json", "rttm", "vtt", "txt", "docx", "eaf", "textgrid"])
    with pytest.raises(InterchangeError, match="unknown format pdf"):
        interchange.write(doc, tmp_path, "rec", ("pdf",))


def test_rttm_follows_the_corrected_segments_once_there_is_a_revision():
    segments = script_segments()[:3]
    diarised = [[s["start"], s["end"], s["speaker"]] for s in segments]
    moved = edits.move_words(segments, 0, 0, 3, "SPEAKER_01")  # "Good to see you" was the client's
    before = rttm.parse(formats.to_rttm({**document(moved), "diarization": {"turns": diarised}}, "rec"))["rec"]
    assert [(t.speaker, t.start) for t in before] == [("SPEAKER_00", 0.5), ("SPEAKER_01", 5.28), ("SPEAKER_00", 13.053)]
    after = rttm.parse(formats.to_rttm({**document(moved, revision=1), "diarization": {"turns": diarised}}, "rec"))
    words = segments[0]["words"]
    assert [(t.speaker, t.start, t.end) for t in after["rec"][:2]] == [
        ("SPEAKER_01", words[0]["start"], pytest.approx(words[3]["end"])),
        ("SPEAKER_00", words[4]["start"], pytest.approx(words[-1]["end"]))]
    assert all(w["speaker"] == "SPEAKER_01" for w in moved[0]["words"])


# --- reading --------------------------------------------------------------------------------------------


def test_vtt_cues_are_read_with_their_voices(tmp_path):
    path = tmp_path / "t.vtt"
    path.write_text("\ufeffWEBVTT - corrected\n\nNOTE checked by AB\n\n1\n00:00.500 --> 00:00:04.580 align:start\n"
                    "<v.loud Dr Rivera>Good to <i>see</i> you &amp; again\nhow are you?</v>\n\n"
                    "01:02:03.004 --> 01:02:04.000\n<v Client>Fine.\n", encoding="utf-8")
    turns = interchange.read(path)
    assert [(t.start, t.end, t.name, t.text) for t in turns] == [
        (0.5, 4.58, "Dr Rivera", "Good to see you & again how are you?"), (3723.004, 3724.0, "Client", "Fine.")]
    assert turns[1].where == "t.vtt, line 10"


@pytest.mark.parametrize("content, message", [
    ("00:00:01.000 --> 00:00:02.000\n<v A>x\n", "not a WebVTT file"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nno voice\n", "line 3: the cue names no speaker"),
    ("WEBVTT\n\n00:00:01 --> 00:00:02\n<v A>x\n", "line 3: cannot read the cue's times"),
    ("WEBVTT\n\njust text\n", "line 3: expected a cue's times"),
])
def test_a_malformed_vtt_is_refused_with_where(tmp_path, content, message):
    path = tmp_path / "t.vtt"
    path.write_text(content)
    with pytest.raises(InterchangeError, match=message):
        interchange.read(path)


def test_docx_turns_run_to_the_next_and_continuation_paragraphs_join_their_turn(tmp_path):
    word = docx.Document()
    word.add_heading("session 3")
    for line in ["Notes: none", "[00:00:05] Dr Rivera: Hello there.", "And welcome.", "[0:01:02.5] client: Hi.",
                 "[00:01:10] Dr: Rivera: Colon name."]:
        word.add_paragraph(line)
    path = tmp_path / "t.docx"
    word.save(str(path))
    turns = interchange.read(path, names=["Dr: Rivera", "Dr Rivera", "Client"])
    assert [(t.start, t.end, t.name, t.text, t.resolution) for t in turns] == [
        (5.0, None, "Dr Rivera", "Hello there. And welcome.", 1.0), (62.5, None, "Client", "Hi.", 0.1),
        (70.0, None, "Dr: Rivera", "Colon name.", 1.0)]
    word.add_paragraph("[00:00:30] Client: back in time")
    word.save(str(path))
    with pytest.raises(InterchangeError, match="line 7: the turn at 00:00:30 comes after one at 00:01:10"):
        interchange.read(path)


@pytest.mark.parametrize("suffix, content, message", [
    (".docx", b"PK\x03\x04 not really a zip", "not a Word"),
    (".eaf", b"<ANNOTATION_DOCUMENT><TIER", "not an ELAN"),
    (".eaf", b"<html><body>hello</body></html>", "not an ELAN"),
    (".vtt", b"\xff\xfe\x00garbage", "not a text file"),
    (".pdf", b"%PDF", "cannot import pdf"),
])
def test_garbage_is_refused(tmp_path, suffix, content, message):
    path = tmp_path / f"t{suffix}"
    path.write_bytes(content)
    with pytest.raises(InterchangeError, match=message):
        interchange.read(path)


# --- turns into segments ---------------------------------------------------------------------------------


def turn(start, name, text, end=None, resolution=0.001, words=None):
    return FileTurn(start, end, name, text, "here", words, resolution)


def test_unchanged_turns_are_kept_whole_and_a_changed_word_is_interpolated():
    current = script_segments()[:3]
    turns = [turn(0, "Dr Rivera", current[0]["text"], resolution=1.0),
             turn(5, "client", current[1]["text"].replace("a bit up", "rather up"), resolution=1.0),
             turn(13, "SPEAKER_00", current[2]["text"], resolution=1.0)]
    out = corrected.segments_from(turns, SPEAKERS, current, 171.0)
    assert out[0] == current[0] and out[2] == current[2]
    old, new = current[1]["words"], out[1]["words"]
    assert [w["text"] for w in new[:5]] == ["It", "has", "been", "rather", "up"]
    assert new[:3] == old[:3] and new[4:] == old[5:]  # untouched words: their times and probability
    assert (new[3]["start"], new[3]["end"]) == (old[3]["start"], old[4]["end"]) and "probability" not in new[3]
    assert out[1]["start"] == current[1]["start"] and out[1]["end"] == old[-1]["end"]


def test_two_docx_turns_in_one_second_take_the_exact_starts_and_a_new_turn_fills_its_gap():
    current = [{"start": 5.2, "end": 5.6, "speaker": "SPEAKER_00", "text": "Yes.",
                "words": [{"start": 5.2, "end": 5.6, "text": "Yes.", "speaker": "SPEAKER_00"}]},
               {"start": 5.7, "end": 6.3, "speaker": "SPEAKER_01", "text": "Okay then.",
                "words": [{"start": 5.7, "end": 6.0, "text": "Okay", "speaker": "SPEAKER_01"},
                          {"start": 6.0, "end": 6.3, "text": "then.", "speaker": "SPEAKER_01"}]}]
    turns = [turn(5, "Therapist", "Yes.", resolution=1.0), turn(5, "Client", "Okay then, fine.", resolution=1.0),
             turn(9, "Therapist", "Good, let us go on.", resolution=1.0)]
    out = corrected.segments_from(turns, SPEAKERS, current, 20.0)
    assert out[0] == current[0]
    assert out[1]["words"][0] == current[1]["words"][0] and out[1]["text"] == "Okay then, fine."
    assert out[1]["start"] == 5.7 and out[1]["words"][-1]["start"] >= 6.0
    # words added at the end of a DOCX turn take a third of a second or so each, not the silence up to 9 s
    assert out[1]["end"] <= 6.0 + 2 * edits.INSERTED_WORD_S + 1e-6
    new = out[2]
    assert new["start"] == 9.0 and new["speaker"] == "SPEAKER_00" and len(new["words"]) == 5
    assert new["end"] <= 20.0 and all(w["speaker"] == "SPEAKER_00" for w in new["words"])


def test_a_turn_given_to_the_other_speaker_keeps_its_word_times_and_their_speaker_follows():
    current = script_segments()[:2]
    turns = [turn(current[0]["start"], "Client", current[0]["text"], current[0]["end"]),
             turn(current[1]["start"], "Client", current[1]["text"], current[1]["end"])]
    out = corrected.segments_from(turns, SPEAKERS, current, 171.0)
    assert out[1] == current[1] and out[0]["speaker"] == "SPEAKER_01"
    assert [(w["start"], w["end"], w["text"]) for w in out[0]["words"]] == \
        [(w["start"], w["end"], w["text"]) for w in current[0]["words"]]
    assert {w["speaker"] for w in out[0]["words"]} == {"SPEAKER_01"}
    assert (out[0]["start"], out[0]["end"]) == (current[0]["start"], current[0]["end"])


def test_word_times_from_the_file_are_used():
    current = script_segments()[:1]
    seg = current[0]
    words = [{"start": w["start"] + 0.01, "end": w["end"] + 0.01, "text": w["text"]} for w in seg["words"]]
    out = corrected.segments_from([turn(seg["start"], "Dr Rivera", seg["text"], seg["end"], words=words)],
                                  SPEAKERS, current, 171.0)
    assert [(w["start"], w["end"]) for w in out[0]["words"]] == [(w["start"], w["end"]) for w in words]


def test_unknown_speakers_times_out_of_range_and_empty_files_are_refused():
    current = script_segments()[:2]
    with pytest.raises(InterchangeError, match="here: no speaker 'Bob' in this transcript \\(use one of Client, "
                                               "Dr Rivera, SPEAKER_00, SPEAKER_01\\)"):
        corrected.segments_from([turn(0.5, "Bob", "hello", 1.0)], SPEAKERS, current, 171.0)
    with pytest.raises(InterchangeError, match="here: 00:03:00 is past the recording's end \\(00:02:51\\)"):
        corrected.segments_from([turn(170.5, "Client", "hello", 180.0)], SPEAKERS, current, 171.0)
    with pytest.raises(InterchangeError, match="ends \\(1.000 s\\) before it starts \\(2.000 s\\)"):
        corrected.segments_from([turn(2.0, "Client", "hello", 1.0)], SPEAKERS, current, 171.0)
    with pytest.raises(InterchangeError, match="no turns with text"):
        corrected.segments_from([turn(2.0, "Client", "  ", 3.0)], SPEAKERS, current, 171.0)
    both = {"SPEAKER_00": {"name": "Sam"}, "SPEAKER_01": {"name": "Sam"}}
    with pytest.raises(InterchangeError, match="no speaker 'Sam'"):  # a shared name names neither
        corrected.segments_from([turn(0.5, "Sam", "hello", 1.0)], both, current, 171.0)
