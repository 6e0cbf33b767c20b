"""Speakers from the command line, on the demo session with real base weights: automatic roles after
``coder process``, correction, RTTM override, exports, voice enrolment, and ``coder transcribe --rttm``."""
import json

import pytest
import soundfile as sf

from .support.cli import coder
from .support.paths import SAMPLE_DIR


def run(cli, *args, check=True):
    proc = coder(*cli, *args, timeout=600)
    if check:
        assert proc.exit_code == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def processed(tmp_path_factory, real_models_dir):
    d = tmp_path_factory.mktemp("speakers")
    home = d / "home"
    cli = ["--home", str(home)]
    (d / "m.csv").write_text(f"file,therapist,client,session\n{SAMPLE_DIR / 'demo_session.ogg'},T1,C1,1\n")
    run(cli, "init")
    run(cli, "ingest", str(d / "m.csv"), "--study", "S")
    run(cli, "process", "--engine", "faster-whisper", "--model", str(real_models_dir / "faster-whisper-base"),
        "--language", "en")
    return d, home, cli


def roles(cli):
    out = run(cli, "roles", "show", "demo_session").stdout
    return {line.split("\t")[0]: line.split("\t")[1:4] for line in out.strip().splitlines()}


def text_of(home):
    return (home / "transcripts" / "recording-1.txt").read_text()


def test_roles_are_found_and_can_be_swapped(processed):
    _d, home, cli = processed
    found = roles(cli)
    assert len(found) == 2 and sorted(r[0] for r in found.values()) == ["client", "therapist"]
    assert all(r[2] == "auto" and float(r[1]) > 0.5 for r in found.values())
    # The therapist opens: "Good to see you again."
    assert text_of(home).splitlines()[0].startswith("[00:00:00] Therapist: Good to see you again.")

    run(cli, "roles", "swap", "1", "--reason", "checking the swap")
    swapped = roles(cli)
    assert {k: v[0] for k, v in swapped.items()} == {k: {"therapist": "client", "client": "therapist"}[v[0]]
                                                    for k, v in found.items()}
    assert all(v[2] == "manual" for v in swapped.values())
    assert text_of(home).splitlines()[0].startswith("[00:00:00] Client: Good to see you again.")

    therapist = next(k for k, v in found.items() if v[0] == "therapist")
    bad = run(cli, "roles", "set", "1", f"{therapist}=therapist", check=False)
    assert bad.exit_code == 1 and "would both be the therapist" in bad.stderr
    run(cli, "roles", "set", "1", *[f"{k}={v[0]}" for k, v in found.items()])
    assert {k: v[0] for k, v in roles(cli).items()} == {k: v[0] for k, v in found.items()}


def test_rttm_import_overrides_and_exports_follow(processed):
    d, home, cli = processed
    out = run(cli, "rttm", "import", str(SAMPLE_DIR / "demo_session.rttm")).stdout
    assert "demo_session.ogg: 28 turns of 2 speakers; 1 transcript(s) updated" in out
    assert sorted(roles(cli)) == ["client", "therapist"]
    doc = json.loads((home / "transcripts" / "recording-1.json").read_text())
    assert doc["diarization"]["method"] == "rttm"
    reference = json.loads((SAMPLE_DIR / "demo_session.turns.json").read_text())
    assert [s["speaker"] for s in doc["segments"]][:2] == [reference[0]["speaker"], reference[1]["speaker"]]
    rttm = (home / "transcripts" / "recording-1.rttm").read_text().splitlines()
    assert len(rttm) == 28 and rttm[0].split()[7] == "therapist"

    run(cli, "export", "--out", str(d / "exports"))
    assert sorted(p.name for p in (d / "exports").iterdir()) == [
        "recording-1.json", "recording-1.rttm", "recording-1.txt", "recording-1.vtt"]

    bad = run(cli, "rttm", "import", str(d / "m.csv"), check=False)
    assert bad.exit_code == 1 and bad.stderr.strip() == f"error: {d / 'm.csv'}: no SPEAKER lines found"


def test_voice_enrolment(processed, tmp_path):
    _d, _home, cli = processed
    speech, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    sf.write(tmp_path / "t1.wav", speech[: 12 * rate], rate)  # the therapist's first two turns and the client's
    out = run(cli, "therapists", "enrol", "S", "T1", str(tmp_path / "t1.wav"), "--end", "4.4").stdout
    assert out.startswith("enrolled T1's voice from ")
    short = run(cli, "therapists", "enrol", "S", "T1", str(tmp_path / "t1.wav"), "--end", "1", check=False)
    assert short.exit_code == 1 and "a voice sample needs at least 3 s" in short.stderr
    assert "no therapist 'T9'" in run(cli, "therapists", "enrol", "S", "T9", str(tmp_path / "t1.wav"),
                                      check=False).stderr
    missing = run(cli, "therapists", "enrol", "S", "T1", str(tmp_path / "none.wav"), check=False)
    assert missing.stderr.strip() == f"error: {tmp_path / 'none.wav'}: file not found"


def test_transcribe_with_a_users_rttm(tmp_path, real_models_dir):
    speech, rate = sf.read(SAMPLE_DIR / "demo_session.ogg")
    sf.write(tmp_path / "clip.wav", speech[: 20 * rate], rate)
    (tmp_path / "clip.rttm").write_text("SPEAKER clip 1 0.4 4.0 <NA> <NA> T <NA> <NA>\n"
                                        "SPEAKER clip 1 5.1 7.0 <NA> <NA> C <NA> <NA>\n"
                                        "SPEAKER clip 1 12.8 7.0 <NA> <NA> T <NA> <NA>\n")
    cli = ["transcribe", str(tmp_path / "clip.wav"), "--out", str(tmp_path / "o"),
           "--engine", "openai-whisper", "--model", str(real_models_dir / "openai-whisper-base.pt"), "--language", "en",
           "--beam-size", "1"]
    run(cli, "--rttm", str(tmp_path / "clip.rttm"))
    doc = json.loads((tmp_path / "o" / "clip.json").read_text())
    assert doc["diarization"]["method"] == "rttm"
    assert doc["speakers"]["T"]["role"] == "therapist" and doc["speakers"]["C"]["role"] == "client"
    assert [s["speaker"] for s in doc["segments"]][:3] == ["T", "C", "T"]
    assert (tmp_path / "o" / "clip.rttm").read_text().splitlines()[0] == \
        "SPEAKER clip 1 0.400 4.000 <NA> <NA> T <NA> <NA>"
    # Without the RTTM the earlier result is not taken as done: diarisation differs.
    again = run(cli)
    assert "skipped" not in again.stderr.splitlines()[0]
    assert json.loads((tmp_path / "o" / "clip.json").read_text())["diarization"]["method"] == "builtin"


def test_one_microphone_per_person(tmp_path, real_models_dir):
    import numpy as np

    from coder.pipeline import audio
    from coder.pipeline.rttm import read

    from .support.audio import two_mics

    samples = audio.load(SAMPLE_DIR / "demo_session.ogg")[: 25 * 16000]
    reference = [t for t in read(SAMPLE_DIR / "demo_session.rttm")["demo_session"] if t.end <= 25]
    sf.write(tmp_path / "mics.wav", two_mics(samples, reference).T.astype(np.float32), 16000)
    cli = ["transcribe", str(tmp_path / "mics.wav"), "--out", str(tmp_path / "o"),
           "--engine", "openai-whisper", "--model", str(real_models_dir / "openai-whisper-base.pt"), "--language", "en",
           "--beam-size", "1"]
    proc = run(cli)
    assert "one speaker per channel; transcribed from their mix, speakers taken from the channels" in proc.stderr
    doc = json.loads((tmp_path / "o" / "mics.json").read_text())
    assert doc["diarization"]["method"] == "channels" and doc["channels"]["layout"] == "speaker-per-channel"
    assert doc["speakers"]["SPEAKER_00"]["role"] == "therapist"  # the left microphone, who opens and asks
    assert [s["speaker"] for s in doc["segments"]][:2] == ["SPEAKER_00", "SPEAKER_01"]
    assert "skipped" in run(cli).stderr  # a rerun knows the builtin diariser's channel result as done
