"""``coder measures``: a transcript file's measures as JSON and CSV, with its recording for the voice; bad input
gets a one-line error."""
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
    result = coder("measures", write(tmp_path), "--unit", "0:6", "--unit", "6:12", "--csv", out_csv)
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads(json.dumps(compute(DOC, ranges=[(0, 6), (6, 12)])))
    assert printed["session"]["interruptions_by"] == {"client": {"therapist": 1}}
    table = pd.read_csv(out_csv)
    assert list(table["range"]) == ["session"] * 2 + ["unit"] * 4
    session = table[table["range"] == "session"].set_index("speaker")
    assert session.loc["therapist", "questions"] == 2 and session.loc["client", "speaking_time_s"] == 4.5
    assert (table["definitions_version"] == printed["definitions_version"]).all()


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
