"""A stored transcript exported for other tools and corrected there: `coder export --format`, and
`coder review import` of the VTT, ELAN and Word files after a person edited them (with those files' libraries),
saved as a revision: names mapped back to speakers, untouched turns kept whole and untouched words' times kept.
Bad files, unknown speakers and stale revisions save nothing; RTTM after a correction. On SQLite and
PostgreSQL."""
from __future__ import annotations

import copy
import re

import docx
import pympi
import pytest
from praatio import textgrid

from coder.pipeline import interchange, rttm
from coder.study import transcripts
from coder.study.models import Recording

from .support.cli import coder
from .support.rating_study import build


@pytest.fixture
def study(database):
    return build(database)


@pytest.fixture
def env(database, tmp_path):
    return {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}


def stored(database, study):
    """(revision, status, segments, stored revisions, last revision's note) of the study's transcript, read
    afresh."""
    with database.session() as db:
        t = db.get(Recording, study.recording_id).transcript
        rows = transcripts.history(db, t)
        return t.revision, t.status, copy.deepcopy(t.segments), len(rows), rows[0].note if rows else None


def export(env, study, out, fmt):
    result = coder("export", study.recording_id, "--out", out, "--format", fmt, env=env, timeout=120)
    assert result.exit_code == 0, result.output
    return out / f"recording-{study.recording_id}"


def review(env, *args):
    return coder("review", *args, env=env, timeout=120)


def test_export_writes_the_formats_asked_for(database, env, study, tmp_path):
    from coder.cli import review as review_cli, transcription

    # the command modules name the formats without importing the pipeline (a fast --help)
    assert transcription.EXPORTS == interchange.EXPORTS and review_cli.IMPORTS == interchange.IMPORTS
    stem = export(env, study, tmp_path / "a", "docx,EAF,textgrid")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        f"{stem.name}.{ext}" for ext in ("docx", "eaf", "TextGrid"))
    grid = textgrid.openTextgrid(f"{stem}.TextGrid", includeEmptyIntervals=False)
    assert grid.tierNames == ("Therapist", "Therapist words", "Client", "Client words")
    segments = stored(database, study)[2]
    client = [s for s in segments if s["speaker"] == "SPEAKER_01"]
    assert [(e.start, e.end, e.label) for e in grid.getTier("Client").entries] == \
        [(s["start"], s["end"], s["text"]) for s in client]
    assert len(grid.getTier("Therapist words").entries) == \
        sum(len(s["words"]) for s in segments if s["speaker"] == "SPEAKER_00")
    assert len(list((export(env, study, tmp_path / "b", "all")).parent.iterdir())) == 7
    default = coder("export", study.recording_id, "--out", tmp_path / "c", env=env, timeout=120)
    assert default.exit_code == 0 and sorted(p.suffix for p in (tmp_path / "c").iterdir()) == \
        [".json", ".rttm", ".txt", ".vtt"]
    bad = coder("export", "--out", tmp_path / "d", "--format", "vtt,pdf", env=env, timeout=120)
    assert bad.exit_code == 1 and "unknown format pdf" in bad.stderr and not (tmp_path / "d").exists()


def test_a_word_file_corrected_in_word_comes_back_as_a_revision(database, env, study, tmp_path):
    assert review(env, "name", study.recording_id, "SPEAKER_00", "Dr Rivera").exit_code == 0
    before = stored(database, study)[2]
    path = export(env, study, tmp_path, "docx").with_suffix(".docx")
    document = docx.Document(str(path))
    paragraphs = document.paragraphs
    assert [p.text for p in paragraphs[:2]] == ["D1_session3_week4.ogg", "Status: automatic, revision 0"]
    assert paragraphs[2].text.startswith("[00:00:00] Dr Rivera: Good to see you again.")

    def rewrite(paragraph, text):
        for run in paragraph.runs[1:]:
            run.text = ""
        paragraph.runs[0].text = text

    # turn 1: a misheard word; turn 4: given to the client (written by its role, in lower case); turn 5: removed
    rewrite(paragraphs[3], paragraphs[3].text.replace("a bit up and down", "somewhat up and down"))
    rewrite(paragraphs[6], paragraphs[6].text.replace("Dr Rivera:", "client:"))
    paragraphs[7]._element.getparent().remove(paragraphs[7]._element)
    document.save(str(path))

    out = review(env, "import", study.recording_id, path)
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == "revision 1: 3 turn(s) changed"
    revision, status, after, count, note = stored(database, study)
    assert (revision, status, count, note) == (1, "in_review", 2, f"imported {path.name}")
    assert len(after) == len(before) - 1 and after[5:] == before[6:] and after[0] == before[0]
    assert after[2] == before[2] and after[3] == before[3]
    old, new = before[1]["words"], after[1]["words"]
    assert after[1]["text"].startswith("It has been somewhat up and down")
    assert new[:3] == old[:3] and new[4:] == old[5:]
    assert old[3]["start"] == new[3]["start"] < new[3]["end"] == old[4]["end"]
    assert after[4]["speaker"] == "SPEAKER_01" and {w["speaker"] for w in after[4]["words"]} == {"SPEAKER_01"}
    assert [(w["start"], w["end"]) for w in after[4]["words"]] == [(w["start"], w["end"]) for w in before[4]["words"]]
    assert after[4]["text"] == before[4]["text"]
    # the same file again changes nothing
    assert review(env, "import", study.recording_id, path).stdout.strip() == "nothing changed"
    assert stored(database, study)[0] == 1


def test_an_elan_file_corrected_in_elan_comes_back_with_its_word_times(database, env, study, tmp_path):
    before = stored(database, study)[2]
    path = export(env, study, tmp_path, "eaf").with_suffix(".eaf")
    eaf = pympi.Elan.Eaf(str(path))
    second = before[1]  # the client's first turn: its text corrected, its word tier left as it was
    assert eaf.remove_annotation("Client", round((second["start"] + second["end"]) * 500)) == 1  # at a time in ms
    eaf.add_annotation("Client", round(second["start"] * 1000), round(second["end"] * 1000),
                       second["text"].replace("to be honest", "honestly"))
    third = before[2]  # the therapist's second turn: its first word re-timed in the word tier
    word = third["words"][0]
    assert eaf.remove_annotation("Therapist words", round((word["start"] + word["end"]) * 500)) == 1
    eaf.add_annotation("Therapist words", round(word["start"] * 1000) + 40, round(word["end"] * 1000), word["text"])
    pympi.Elan.to_eaf(str(path), eaf)

    out = review(env, "import", study.recording_id, path, "--revision", "0")
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == "revision 1: 1 turn(s) changed"  # a word's time is not a change of text
    after = stored(database, study)[2]
    assert len(after) == len(before) and after[3:] == before[3:] and after[0] == before[0]
    assert "down, honestly. Monday" in after[1]["text"]
    kept = [w for w in after[1]["words"] if w.get("probability") == 1.0]  # the recogniser's words, as they were
    assert len(kept) == len(after[1]["words"]) - 1 == len(second["words"]) - 3  # "to be honest." out, "honestly." in
    assert after[2]["words"][0]["start"] == pytest.approx(word["start"] + 0.04) and after[2]["text"] == third["text"]


def test_a_vtt_corrected_by_hand_comes_back_and_the_rttm_follows_it(database, env, study, tmp_path):
    with database.session() as db:  # as a diariser would have left it: the turns of the script
        t = db.get(Recording, study.recording_id).transcript
        t.notes = {"diarization": {"turns": [[s["start"], s["end"], s["speaker"]] for s in t.segments]}}
    before = stored(database, study)[2]
    path = export(env, study, tmp_path, "vtt,rttm").with_suffix(".vtt")
    turns = rttm.read(path.with_suffix(".rttm"))[path.stem]
    assert [(t.speaker, t.start) for t in turns[:2]] == [("SPEAKER_00", 0.5), ("SPEAKER_01", 5.28)]
    text = path.read_text()
    cues = text.split("\n\n")
    assert cues[2].startswith("00:00:05.280 --> 00:00:12.353\n<v Client>It has been")
    cues[2] = cues[2].replace("<v Client>", "<v SPEAKER_00>")  # the whole turn was the therapist's
    cues[1] = cues[1].replace("Good to see you again.", "Good to see you.")
    path.write_text("\n\n".join(cues))

    out = review(env, "import", study.recording_id, path)
    assert out.exit_code == 0 and out.stdout.strip() == "revision 1: 2 turn(s) changed", out.output
    after = stored(database, study)[2]
    assert after[0]["text"].startswith("Good to see you. Before")
    assert (after[0]["start"], after[0]["end"]) == (before[0]["start"], before[0]["end"])
    assert after[1]["speaker"] == "SPEAKER_00" and after[2:] == before[2:]
    export(env, study, tmp_path, "rttm")
    turns = rttm.read(path.with_suffix(".rttm"))[path.stem]
    # the therapist's first three turns are one now (pauses under a second bridged), up to the client's first
    assert [(t.speaker, t.start, t.end) for t in turns[:2]] == [
        ("SPEAKER_00", 0.5, pytest.approx(before[2]["end"])),
        ("SPEAKER_01", before[3]["start"], pytest.approx(before[3]["end"]))]


@pytest.mark.parametrize("name, content, message", [
    ("t.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Bob>Hello.\n",
     "t.vtt, line 3: no speaker 'Bob' in this transcript (use one of Client, SPEAKER_00, SPEAKER_01, Therapist)"),
    ("t.vtt", "WEBVTT\n\n10:00:01.000 --> 10:00:02.000\n<v Client>Late.\n",
     "t.vtt, line 3: 10:00:02 is past the recording's end (00:02:51)"),
    ("t.vtt", "WEBVTT\n\n", "t.vtt: the file holds no turns with text"),
    ("t.vtt", "not a subtitle", "t.vtt: not a WebVTT file (it must start with WEBVTT)"),
    ("t.docx", "garbage", "t.docx: not a Word (.docx) file"),
    ("t.eaf", "<garbage", "t.eaf: not an ELAN (.eaf) file"),
    ("t.txt", "[00:00:01] Client: hi", "t.txt: cannot import txt; import vtt, eaf, docx (--format)"),
])
def test_a_bad_file_saves_nothing(database, env, study, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    out = review(env, "import", study.recording_id, path)
    assert out.exit_code == 1 and out.stderr == f"error: {message}\n"
    assert stored(database, study)[0::3] == (0, 0)


def test_an_import_against_a_stale_revision_saves_nothing(database, env, study, tmp_path):
    path = export(env, study, tmp_path, "vtt").with_suffix(".vtt")
    path.write_text(path.read_text().replace("Good to see you again.", "Good to see you."))
    applied = review(env, "apply", study.recording_id, '{"op": "merge_turns", "turn": 3}', "--based-on", "0")
    assert applied.exit_code == 0
    out = review(env, "import", study.recording_id, path, "--revision", "0")
    assert out.exit_code == 1 and "changed since revision 0: it is at revision 1" in out.stderr
    assert stored(database, study)[0::3] == (1, 2)
    # a file named by --format despite its extension
    renamed = path.rename(tmp_path / "corrected.txt")
    out = review(env, "import", study.recording_id, renamed, "--revision", "1", "--format", "vtt")
    assert out.exit_code == 0 and re.fullmatch(r"revision 2: \d+ turn\(s\) changed\n", out.stdout)
