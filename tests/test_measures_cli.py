"""``coder measures``: a transcript file's measures as JSON and CSV, with its recording for the voice; bad input
gets a one-line error."""
import datetime
import json

import numpy as np
import pandas as pd
import soundfile as sf

from coder.pipeline.measures import compute

from .support.audio import RATE, voiced
from .support.cli import coder

T, C = "SPEAKER_00", "SPEAKER_01"
DOC = {"duration": 12.0, "speakers": {T: {"role": "therapist"}, C: {"role": "client"}},
       "segments": [{"start": 0.0, "end": 3.0, "speaker": T, "text": "How was the week? Did it help?"},
                    {"start": 2.5, "end": 7.0, "speaker": C, "text": "Better, I slept more."},
                    {"start": 8.0, "end": 11.0, "speaker": T, "text": "Good. Tell me more."}]}


def write(tmp_path, doc=DOC):
    path = tmp_path / "session.json"
    path.write_text(json.dumps(doc))
    return path


def test_measures_of_a_transcript_as_json_and_csv(tmp_path):
    out_csv = tmp_path / "measures.csv"
    result = coder("measures", write(tmp_path), "--unit", "0:6", "--unit", "6:12", "--csv", out_csv,
                   "--svg", tmp_path / "pictures")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads(json.dumps(compute(DOC, ranges=[(0, 6), (6, 12)])))
    assert printed["session"]["interruptions_by"] == {"client": {"therapist": 1}}
    table = pd.read_csv(out_csv)
    assert list(table["range"]) == ["session"] * 2 + ["unit"] * 4
    session = table[table["range"] == "session"].set_index("speaker")
    assert session.loc["therapist", "questions"] == 2 and session.loc["client", "speaking_time_s"] == 4.5
    assert (table["definitions_version"] == printed["definitions_version"]).all()
    assert (tmp_path / "pictures" / "session.svg").read_text().startswith("<svg")


def test_voice_measures_with_the_recording(tmp_path):
    audio = np.zeros(int(12 * RATE))
    for seg, f0 in zip(DOC["segments"], (120.0, 220.0, 120.0)):
        a, b = int(seg["start"] * RATE), int(seg["end"] * RATE)
        audio[a:b] += voiced(f0, seg["end"] - seg["start"])[:b - a]
    sf.write(tmp_path / "session.wav", audio, RATE)
    result = coder("measures", write(tmp_path), "--audio", tmp_path / "session.wav", "--by", "speaker")
    assert result.exit_code == 0, result.stderr
    speakers = json.loads(result.stdout)["session"]["speakers"]
    assert abs(speakers[T]["f0_mean_hz"] / 120 - 1) < 0.01 and abs(speakers[C]["f0_mean_hz"] / 220 - 1) < 0.01


def test_bad_input_gets_a_one_line_error(tmp_path):
    cases = [
        ("{not json", [], "not a JSON transcript"),
        (json.dumps([1, 2]), [], "not a coder transcript"),
        (json.dumps({**DOC, "segments": [{"start": 3.0, "end": 1.0, "speaker": T}]}), [], "segment 0: start 3.0"),
        (json.dumps(DOC), ["--unit", "6:3"], "range 6.0-3.0"),
    ]
    for text, extra, message in cases:
        path = tmp_path / "bad.json"
        path.write_text(text)
        result = coder("measures", path, *extra)
        assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    result = coder("measures", write(tmp_path), "--unit", "soon")
    assert result.exit_code == 2 and "START:END" in result.stderr
    (tmp_path / "noise.wav").write_bytes(b"RIFF0000WAVEnot audio")
    result = coder("measures", write(tmp_path), "--audio", tmp_path / "noise.wav")
    assert result.exit_code == 1 and "noise.wav" in result.stderr


def test_measures_of_stored_recordings_over_their_units(database, tmp_path):
    from coder.study.models import RatingUnit, Recording
    from coder.study.speakers import transcript_document

    from .support import rating_study

    study = rating_study.build(database, raters=("rater1",))
    env = {"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}
    with database.session() as db:
        rec = db.get(Recording, study.recording_id)
        expected = compute(transcript_document(rec.transcript), ranges=[(0, 60), (60, 120), (0, rec.duration_s)])
        db.get(RatingUnit, study.window_units[1]).deleted_at = datetime.datetime.now(datetime.UTC)
        bare = Recording(session_id=rec.session_id, path="/nowhere/s2.wav", original_name="s2.wav", sha256="b" * 64,
                         size_bytes=10, duration_s=60.0, sample_rate=16000, channels=1)
        db.add(bare)
    out = coder("measures", "--study", "Trial R", "--csv", tmp_path / "m.csv", env=env)
    assert out.exit_code == 0, out.stderr
    printed = json.loads(out.stdout)
    (one,) = printed["recordings"]
    assert one["recording_id"] == study.recording_id and one["revision"] == 0 and one["review_status"] == "automatic"
    assert one["session"] == json.loads(json.dumps(expected["session"]))
    # the live units (the deleted second minute left out), in time order, with their ids
    assert [(u["start"], u["end"]) for u in one["units"]] == [(0.0, 60.0), (0.0, expected["session"]["end"])]
    assert one["units"][0]["speakers"] == json.loads(json.dumps(expected["units"][0]["speakers"]))
    assert one["units"][0]["unit_id"] == study.window_units[0]
    assert set(pd.read_csv(tmp_path / "m.csv")["recording_id"]) == {study.recording_id}
    # a corrected transcript: its current revision is measured, and the revision says so
    with database.session() as db:
        transcript = db.get(Recording, study.recording_id).transcript
        transcript.segments = transcript.segments[:4]
        transcript.revision, transcript.status = 2, "verified"
    out = coder("measures", "--recording", str(study.recording_id), "--voice", "--svg", tmp_path / "svg", env=env)
    assert "arousal" in (tmp_path / "svg" / f"recording-{study.recording_id}.svg").read_text()
    (one,) = json.loads(out.stdout)["recordings"]
    assert (one["revision"], one["review_status"], one["session"]["switches"]) == (2, "verified", 3)
    assert one["session"]["speakers"]["client"]["f0_mean_hz"] > one["session"]["speakers"]["therapist"]["f0_mean_hz"]
    assert json.loads(coder("measures", "--all", env=env).stdout)["recordings"][0]["revision"] == 2
    for args, message in [(("--study", "Nope"), "no study named Nope"), ((), "give one of"),
                          (("--recording", "99"), "no recording '99'"),
                          (("--recording", "s2.wav"), "(s2.wav) has no transcript yet"),
                          (("--study", "Trial R", "--unit", "0:5"), "--audio and --unit go with TRANSCRIPT")]:
        bad = coder("measures", *args, env=env)
        assert bad.exit_code == 1 and message in bad.stderr, bad.stderr
