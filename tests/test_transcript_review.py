"""Transcript review in storage: corrections saved as revisions with their author and changes, the recogniser's
version kept, conflicts between editors refused, restore, status, what raters read, and which revision each
rating was made with. On SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from coder.rating import workspace
from coder.study import transcripts
from coder.study.models import Assignment, AuditEvent, Recording, Study, User

from .support.rating_study import build


@pytest.fixture
def study(database):
    return build(database)


def _open(db, built):
    rec = db.get(Recording, built.recording_id)
    return rec.transcript, db.scalar(select(User).where(User.username == "coord"))


def test_a_correction_is_a_revision_and_the_recognisers_version_is_kept(database, study):
    with database.session() as db:
        transcript, coord = _open(db, study)
        original = list(transcript.segments)
        words = transcript.segments[0]["text"].split()
        row = transcripts.apply(db, transcript, 0, {"op": "replace_words", "turn": 0, "first": 0, "last": 0,
                                                    "text": "Hello"}, coord)
        assert row.number == 1 and transcript.revision == 1 and transcript.status == "in_review"
        assert transcript.segments[0]["text"].split() == ["Hello", *words[1:]]
        assert row.changes == [{"op": "changed", "before": {"turn": 0, "speaker": original[0]["speaker"],
                                                            "text": original[0]["text"].strip(),
                                                            "start": original[0]["start"]},
                                "after": {"turn": 0, "speaker": original[0]["speaker"],
                                          "text": transcript.segments[0]["text"],
                                          "start": transcript.segments[0]["start"]}}]
        assert [(r.number, r.author.username if r.author else None) for r in transcripts.history(db, transcript)] == \
            [(1, "coord"), (0, None)]
        assert transcripts.history(db, transcript)[-1].segments == original
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "revise_transcript"))
        assert event.detail["revision"] == 1 and event.actor_id == coord.id
        # the same text again stores nothing
        assert transcripts.save(db, transcript, 1, list(transcript.segments), coord) is None
        assert transcript.revision == 1


def test_an_editor_working_on_an_old_revision_is_refused(database, study):
    with database.session() as db:
        transcript, coord = _open(db, study)
        transcripts.apply(db, transcript, 0, {"op": "set_speaker", "turn": 1, "speaker": "SPEAKER_00"}, coord)
        with pytest.raises(transcripts.RevisionConflict, match="changed since revision 0: it is at revision 1"):
            transcripts.apply(db, transcript, 0, {"op": "merge_turns", "turn": 0}, coord)
        with pytest.raises(transcripts.ReviewError, match="op must be one of"):
            transcripts.apply(db, transcript, 1, {"op": "shout"}, coord)
        with pytest.raises(transcripts.ReviewError, match="no turn 9999"):
            transcripts.apply(db, transcript, 1, {"op": "merge_turns", "turn": 9999}, coord)
        with pytest.raises(transcripts.ReviewError, match="turn 0: start and end must be numbers"):
            transcripts.save(db, transcript, 1, [{"text": "x"}], coord)


def test_restoring_a_revision_saves_it_as_the_newest(database, study):
    with database.session() as db:
        transcript, coord = _open(db, study)
        original = list(transcript.segments)
        transcripts.apply(db, transcript, 0, {"op": "merge_turns", "turn": 0}, coord)
        row = transcripts.restore(db, transcript, 0, 1, coord)
        assert row.number == 2 and transcript.segments == original and row.note == "restored revision 0"
        with pytest.raises(transcripts.ReviewError, match="no revision 7"):
            transcripts.restore(db, transcript, 7, 2, coord)


def test_raters_read_what_the_study_allows_and_each_rating_records_its_revision(database, study):
    with database.session() as db:
        transcript, coord = _open(db, study)
        study_row = db.scalar(select(Study))
        assignment = db.get(Assignment, study.assignments["rater1"][0])
        automatic_text = workspace.transcript_excerpt(assignment)[0]["w"][0][2]
        transcripts.apply(db, transcript, 0, {"op": "replace_words", "turn": 0, "first": 0, "last": 0,
                                              "text": "Corrected"}, coord)
        assert workspace.transcript_excerpt(assignment)[0]["w"][0][2] == "Corrected" != automatic_text
        transcripts.set_rater_view(db, study_row, "verified", coord)
        assert workspace.transcript_excerpt(assignment) == [] and workspace.shown_revision(assignment) is None
        transcripts.set_status(db, transcript, "verified", coord)
        assert workspace.transcript_excerpt(assignment)[0]["w"][0][2] == "Corrected"
        transcripts.set_rater_view(db, study_row, "none", coord)
        assert workspace.transcript_excerpt(assignment) == []
        transcripts.set_rater_view(db, study_row, "automatic", coord)
        rater = db.get(User, assignment.rater_id)
        responses = {item.id: 4 for item in workspace.definition(assignment).items}
        rating = workspace.submit(db, assignment, rater, responses, "", 0)
        assert rating.transcript_revision == 1
        transcripts.apply(db, transcript, 1, {"op": "merge_turns", "turn": 0}, coord)
        db.refresh(rating)
        assert rating.transcript_revision == 1 and transcript.revision == 2 and transcript.status == "in_review"
        with pytest.raises(transcripts.ReviewError, match="choose what raters read"):
            transcripts.set_rater_view(db, study_row, "some", coord)
        with pytest.raises(transcripts.ReviewError, match="status must be one of"):
            transcripts.set_status(db, transcript, "perfect", coord)


def test_speaker_names_and_the_corrected_text_reach_the_exports(database, study, tmp_path):
    from coder.study.speakers import transcript_document, write_exports

    with database.session() as db:
        transcript, coord = _open(db, study)
        transcripts.apply(db, transcript, 0, {"op": "replace_words", "turn": 0, "first": 0, "last": 0,
                                              "text": "Corrected"}, coord)
        transcripts.rename_speaker(db, transcript, "SPEAKER_00", "  Dr  Rivera ", coord)
        doc = transcript_document(transcript)
        assert doc["speakers"]["SPEAKER_00"]["name"] == "Dr Rivera" and doc["review"] == {"status": "in_review",
                                                                                           "revision": 1}
        files = write_exports(transcript, tmp_path)
        vtt, text = files["vtt"].read_text(), files["txt"].read_text()
        assert "<v Dr Rivera>Corrected" in vtt and "Dr Rivera: Corrected" in text and "Client:" in text
        with pytest.raises(transcripts.ReviewError, match="no speaker SPEAKER_09"):
            transcripts.rename_speaker(db, transcript, "SPEAKER_09", "X", coord)


def test_the_review_commands(database, study, tmp_path):
    from coder.cli import review
    from coder.study.models import TRANSCRIPT_STATUSES

    from .support.cli import coder

    assert review.STATUSES == TRANSCRIPT_STATUSES and review.RATER_VIEWS == transcripts.RATER_VIEWS
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}

    def run(*args):
        return coder("review", *args, env=env, timeout=120)

    rec = str(study.recording_id)
    from coder.config import load_settings
    from coder.study.speakers import write_exports

    with database.session() as db:  # the files processing would have written
        files = write_exports(db.get(Recording, study.recording_id).transcript,
                              load_settings(home=tmp_path / "home").transcripts_dir)
    shown = run("show", rec)
    assert shown.exit_code == 0 and shown.stdout.startswith("status automatic, revision 0")
    assert shown.stdout.splitlines()[1].startswith("0\t") and "\t\t0:" in shown.stdout  # turns, numbered words
    out = run("apply", rec, '{"op": "replace_words", "turn": 0, "first": 0, "last": 0, "text": "Corrected"}',
              "--based-on", "0")
    assert out.exit_code == 0 and "revision 1: 1 turn(s) changed" in out.stdout
    assert files["txt"].read_text().split(": ", 1)[1].startswith("Corrected")  # the exports follow the correction
    stale = run("apply", rec, '{"op": "merge_turns", "turn": 0}', "--based-on", "0")
    assert stale.exit_code == 1 and "changed since revision 0" in stale.stderr
    assert run("apply", rec, "{not json", "--based-on", "1").exit_code == 1
    history = run("history", rec).stdout.splitlines()
    assert [line.split("\t")[0] for line in history] == ["1", "0"] and "as transcribed" in history[1]
    assert "revision 2: restored revision 0" in run("restore", rec, "0", "--based-on", "1").stdout
    assert run("status", rec, "verified").stdout.startswith("verified (revision 2)")
    assert run("name", rec, "SPEAKER_00", "Dr Rivera").exit_code == 0
    assert "Dr Rivera" in run("show", rec).stdout and "<v Dr Rivera>" in files["vtt"].read_text()
    assert "raters listen without a transcript" in run("raters", "Trial R", "none").stdout
    with database.session() as db:
        assert transcripts.rater_view(db.scalar(select(Study))) == "none"
