"""Stored speakers: role corrections (audited, exported, enrolling the therapist's voice) and RTTM overrides.

Run on SQLite and PostgreSQL alike.
"""
import json

import pytest
from sqlalchemy import select

from coder.pipeline.diarize import Turn
from coder.study.models import AuditEvent, Speaker, Transcript, Voiceprint
from coder.study.speakers import (RoleError, import_turns, set_roles, swap_roles, therapist_of, therapist_voiceprint,
                                  transcript_document, write_exports)

from .support.paths import SAMPLE_DIR
from .support.tree import build_tree

# CAM++ voiceprints are 192-d; 256-d ones are Resemblyzer's, from before
VOICE_A = [1.0] + [0.0] * 191
VOICE_B = [0.0, 1.0] + [0.0] * 190
RESEMBLYZER_VOICE = [0.0, 0.0, 1.0] + [0.0] * 253


def words(*items):
    return [{"text": t, "start": s, "end": e, "probability": 0.9} for t, s, e in items]


def add_transcript(db, rec):
    segments = [
        {"start": 0.0, "end": 2.0, "speaker": "SPEAKER_00", "text": "How are you?",
         "words": [{**w, "speaker": "SPEAKER_00"} for w in words(("How", 0.0, 0.5), ("are", 0.5, 1.0), ("you?", 1.0, 2.0))]},
        {"start": 3.0, "end": 5.0, "speaker": "SPEAKER_01", "text": "Fine thanks.",
         "words": [{**w, "speaker": "SPEAKER_01"} for w in words(("Fine", 3.0, 4.0), ("thanks.", 4.0, 5.0))]},
    ]
    t = Transcript(recording_id=rec.id, engine="faster-whisper", model="m", language="en", duration_s=60.0,
                   segments=segments, timings={}, notes={"no_speech": False})
    t.speakers = [Speaker(label="SPEAKER_00", role="client", role_confidence=0.6, embedding=VOICE_A),
                  Speaker(label="SPEAKER_01", role="therapist", role_confidence=0.6, embedding=VOICE_B)]
    db.add(t)
    db.flush()
    return t


def test_correction_is_stored_audited_exported_and_enrols_the_voice(database, tmp_path):
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        transcript = add_transcript(db, rec)
        write_exports(transcript, tmp_path)  # as processing would have
        swap_roles(db, transcript, reason="therapist opens every session", transcripts_dir=tmp_path)
        tid, rid = transcript.id, rec.id
    with database.session() as db:
        transcript = db.get(Transcript, tid)
        got = {s.label: (s.role, s.role_source, s.role_confidence) for s in transcript.speakers}
        assert got == {"SPEAKER_00": ("therapist", "manual", 1.0), "SPEAKER_01": ("client", "manual", 1.0)}
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "set_roles"))
        assert event.entity == "transcripts" and event.entity_id == tid
        assert event.detail["before"] == {"SPEAKER_00": "client", "SPEAKER_01": "therapist"}
        assert event.detail["reason"] == "therapist opens every session"
        # The therapist's voice now comes from the speaker confirmed as therapist in this session.
        prints = db.scalars(select(Voiceprint)).all()
        assert [(p.source, p.detail, p.embedding) for p in prints] == [("session", f"transcript {tid}", VOICE_A)]
        assert therapist_voiceprint(db, therapist_of(db, transcript.recording)).tolist() == VOICE_A
    exported = json.loads((tmp_path / f"recording-{rid}.json").read_text())
    assert exported["speakers"]["SPEAKER_00"]["role"] == "therapist"
    assert (tmp_path / f"recording-{rid}.txt").read_text().startswith("[00:00:00] Therapist: How are you?")
    assert "<v Client>Fine thanks." in (tmp_path / f"recording-{rid}.vtt").read_text()


def test_correcting_again_replaces_the_sessions_voiceprint(database):
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        transcript = add_transcript(db, rec)
        swap_roles(db, transcript)
        swap_roles(db, transcript)
        prints = db.scalars(select(Voiceprint)).all()
        assert [p.embedding for p in prints] == [VOICE_B]


@pytest.mark.parametrize("roles, message", [
    ({"SPEAKER_09": "client"}, "no speaker SPEAKER_09 in this transcript"),
    ({"SPEAKER_00": "patient"}, "unknown role patient"),
    ({"SPEAKER_00": "therapist"}, "SPEAKER_00 and SPEAKER_01 would both be the therapist"),
])
def test_bad_corrections_change_nothing(database, roles, message):
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        transcript = add_transcript(db, rec)
        with pytest.raises(RoleError, match=message):
            set_roles(db, transcript, roles)
        assert {s.label: s.role_source for s in transcript.speakers} == {"SPEAKER_00": "auto", "SPEAKER_01": "auto"}


def test_clearing_a_role(database):
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        transcript = add_transcript(db, rec)
        set_roles(db, transcript, {"SPEAKER_01": None})
        assert transcript_document(transcript)["speakers"]["SPEAKER_01"] == {
            "role": None, "confidence": None, "role_source": "manual"}
        assert db.scalars(select(Voiceprint)).all() == []  # no therapist confirmed, nothing enrolled


def test_imported_turns_reattribute_words_and_are_kept_for_processing(database, tmp_path):
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        transcript = add_transcript(db, rec)
        write_exports(transcript, tmp_path)
        turns = [Turn(0.0, 0.9, "therapist"), Turn(0.9, 6.0, "client")]
        assert import_turns(db, rec, turns, "hand.rttm", transcripts_dir=tmp_path) == 1
        rid = rec.id
    with database.session() as db:
        transcript = db.scalar(select(Transcript))
        assert transcript.recording.speaker_turns == [[0.0, 0.9, "therapist"], [0.9, 6.0, "client"]]
        assert transcript.recording.speaker_turns_source == "hand.rttm"
        assert [(s["speaker"], s["text"]) for s in transcript.segments] == [
            ("therapist", "How are"), ("client", "you?"), ("client", "Fine thanks.")]
        assert sorted(s.label for s in transcript.speakers) == ["client", "therapist"]
        assert transcript.notes["diarization"]["method"] == "rttm"
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "import_rttm")).entity_id == rid
    rttm = (tmp_path / f"recording-{rid}.rttm").read_text().splitlines()
    assert rttm == [f"SPEAKER recording-{rid} 1 0.000 0.900 <NA> <NA> therapist <NA> <NA>",
                    f"SPEAKER recording-{rid} 1 0.900 5.100 <NA> <NA> client <NA> <NA>"]


def test_imported_turns_on_a_corrected_transcript_are_a_revision(database, tmp_path):
    from coder.study import transcripts

    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        transcript = add_transcript(db, rec)
        transcripts.apply(db, transcript, 0, {"op": "edit_text", "turn": 0, "text": "How are you doing?"}, None)
        corrected = list(transcript.segments)
        import_turns(db, rec, [Turn(0.0, 0.9, "therapist"), Turn(0.9, 6.0, "client")], "hand.rttm")
        assert transcript.revision == 2
        [newest, before, *_] = transcripts.history(db, transcript)
        assert newest.note == "speaker turns from hand.rttm" and before.segments == corrected
        assert {w["speaker"] for s in transcript.segments for w in s["words"]} == {"therapist", "client"}


def test_turns_beyond_the_recording_are_refused(database):
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        with pytest.raises(ValueError, match="turns run to 90.0 s but the recording is 60.0 s long"):
            import_turns(db, rec, [Turn(0, 90, "A")], "x.rttm")
        assert rec.speaker_turns is None


def test_a_voiceprint_of_the_old_network_is_recomputed_from_its_session(database, caplog):
    """A session voiceprint made by Resemblyzer is recomputed with CAM++ from the session's audio and turns."""
    import numpy as np

    from coder.pipeline import audio
    from coder.pipeline.diarize import embeddings
    from coder.pipeline.rttm import read

    reference = read(SAMPLE_DIR / "demo_session.rttm")["demo_session"]
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        rec.path = str(SAMPLE_DIR / "demo_session.ogg")
        transcript = add_transcript(db, rec)
        transcript.notes = {"diarization": {"turns": [[t.start, t.end, {"therapist": "SPEAKER_01", "client":
                                                                      "SPEAKER_00"}[t.speaker]] for t in reference]}}
        therapist = therapist_of(db, rec)
        db.add(Voiceprint(therapist_id=therapist.id, embedding=RESEMBLYZER_VOICE, source="session",
                          detail=f"transcript {transcript.id}", speech_s=60.0))
        db.flush()
        got = therapist_voiceprint(db, therapist)
        samples = audio.load(rec.path)
        expected = embeddings.turn_embeddings(samples, [t for t in reference if t.speaker == "therapist"])["therapist"]
        assert got.shape == (192,) and float(got @ expected) > 0.999
        stored = db.scalar(select(Voiceprint))
        assert len(stored.embedding) == 192
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "enrol_voice"))
        assert event.detail["recomputed_from"] == "Resemblyzer"
        # the client's voice is far from it, the therapist's own near
        client = embeddings.turn_embeddings(samples, [t for t in reference if t.speaker == "client"])["client"]
        assert float(got @ client) < 0.5 < float(got @ expected)


def test_a_voiceprint_of_the_old_network_without_audio_is_never_compared(database, caplog):
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        therapist = therapist_of(db, rec)
        db.add(Voiceprint(therapist_id=therapist.id, embedding=RESEMBLYZER_VOICE, source="sample",
                          detail="old.wav", speech_s=10.0))
        db.flush()
        with caplog.at_level("WARNING"):
            assert therapist_voiceprint(db, therapist) is None
        assert "1 voiceprint(s) made by Resemblyzer are not compared with CAM++ voices; re-enrol" in caplog.text
        db.add(Voiceprint(therapist_id=therapist.id, embedding=VOICE_B, source="sample", detail="new.wav",
                          speech_s=10.0))
        db.flush()
        assert therapist_voiceprint(db, therapist).tolist() == VOICE_B  # the CAM++ one alone


def test_confirming_roles_on_an_old_transcript_enrols_no_old_voice(database):
    """A transcript whose speakers carry Resemblyzer voices and whose audio is gone enrols nothing."""
    with database.session() as db:
        *_, rec, _unit, _instrument = build_tree(db)
        transcript = add_transcript(db, rec)
        for speaker in transcript.speakers:
            speaker.embedding = RESEMBLYZER_VOICE
        swap_roles(db, transcript)
        assert db.scalars(select(Voiceprint)).all() == []
