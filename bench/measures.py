#!/usr/bin/env python3
"""Speed of the session process measures on a 50-minute session, and agreement of the two F0 estimators.

    .venv/bin/python bench/measures.py [--minutes 50] [--units 50] [--json bench/results-measures.json]

The long session: the scripted sessions of bench/sessions/ (espeak-ng voices, synthesised on first use) laid
end to end, repeated until it lasts ``--minutes``, with a transcript document built from their reference turns
(word timings spread evenly over each turn, as a transcriber's would be). Timed apart: decoding the recording
(done once after transcription anyway), the talk and turn-taking measures of the session and of ``--units``
equal rating units (no audio), and everything with the audio: F0 track, speaker F0 and intensity for the
session and each unit, arousal per turn and synchrony with 1000 surrogates, once with Praat's pitch and once
with pYIN (``--pyin``). The machine's load average is recorded before and after: the figures are wall-clock
seconds on a shared machine, and beside them the process's CPU seconds (what an idle core would take).
Agreement: each speaker's mean F0 by Praat and by pYIN in every scripted session. With ``--automatic``, each
scripted session's measures from coder's own automatic transcript (faster-whisper base, builtin diariser) beside
those from its reference turns.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coder.pipeline.audio import load_channels  # noqa: E402
from coder.pipeline.measures import compute  # noqa: E402

from sessions import CACHE, PLANTED, SESSIONS, synthesise  # noqa: E402

RATE = 16000
ROLES = {"therapist": {"role": "therapist"}, "client": {"role": "client"}}


def segments_of(turns: list[dict], offset: float) -> list[dict]:
    out = []
    for t in turns:
        words = t["text"].split()
        step = (t["end"] - t["start"]) / len(words)
        out.append({"start": t["start"] + offset, "end": t["end"] + offset, "speaker": t["speaker"],
                    "text": t["text"], "words": [
                        {"start": t["start"] + offset + i * step, "end": t["start"] + offset + (i + 1) * step,
                         "text": w, "speaker": t["speaker"]} for i, w in enumerate(words)]})
    return out


def long_session(minutes: float) -> tuple[Path, dict]:
    """The scripted sessions end to end, cut at ``minutes``: (audio file, transcript document)."""
    pieces, segments, t, limit = [], [], 0.0, minutes * 60
    stems = list(SESSIONS) + list(PLANTED)
    while t < limit:
        for stem in stems:
            audio, _rttm, turns = synthesise(stem)
            samples = load_channels(audio)[0]
            segments += [s for s in segments_of(turns, t) if s["end"] <= limit]
            pieces.append(samples)
            t += len(samples) / RATE
            if t >= limit:
                break
    path = CACHE / f"measures_{minutes:g}min.ogg"
    if not path.exists():  # through sox: libsndfile's Vorbis writer fails on long files
        wav = path.with_suffix(".wav")
        sf.write(wav, np.concatenate(pieces)[:int(limit * RATE)], RATE, subtype="PCM_16")
        subprocess.run(["sox", str(wav), "-C", "4", str(path)], check=True)
        wav.unlink()
    return path, {"duration": limit, "speakers": ROLES, "segments": segments}


def timed(fn, cpu: dict | None = None, key: str = ""):
    """(fn's result, wall-clock seconds); with ``cpu``, this process's CPU seconds go into ``cpu[key]``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fn()
    if cpu is not None:
        cpu[key] = round(time.process_time() - start_cpu, 2)
    return result, round(time.perf_counter() - start, 2)


def agreement() -> list[dict]:
    rows = []
    for stem in [*SESSIONS, *PLANTED]:
        audio, _rttm, turns = synthesise(stem)
        samples = load_channels(audio)[0]
        doc = {"duration": len(samples) / RATE, "speakers": ROLES, "segments": segments_of(turns, 0.0)}
        by = {est: compute(doc, samples, RATE, estimator=est, surrogates=10)["session"]["speakers"]
              for est in ("praat", "pyin")}
        for role in ("therapist", "client"):
            praat, pyin = by["praat"][role], by["pyin"][role]
            rows.append({"session": stem, "role": role, "praat_f0_mean_hz": round(praat["f0_mean_hz"], 1),
                         "pyin_f0_mean_hz": round(pyin["f0_mean_hz"], 1),
                         "difference_percent": round(100 * (pyin["f0_mean_hz"] / praat["f0_mean_hz"] - 1), 2),
                         "praat_f0_sd_semitones": round(praat["f0_sd_semitones"], 2),
                         "pyin_f0_sd_semitones": round(pyin["f0_sd_semitones"], 2)})
    return rows


AUTOMATIC = ("speaking_share", "turns", "switching_pause_median_s", "interruptions_made", "backchannels_made",
             "questions", "speech_rate_wpm", "f0_mean_hz")


def automatic(models_dir: Path) -> list[dict]:
    """Each scripted session's measures from coder's automatic transcript (faster-whisper base, the builtin
    diariser, roles assigned automatically) beside those from its reference turns, per role."""
    from coder.pipeline.asr import load_engine
    from coder.pipeline.transcribe import transcribe_file

    engine = load_engine("faster-whisper", str(models_dir / "faster-whisper-base"), device="cpu")
    rows = []
    for stem in [*SESSIONS, *PLANTED]:
        audio, _rttm, turns = synthesise(stem)
        samples = load_channels(audio)[0]
        reference = {"duration": len(samples) / RATE, "speakers": ROLES, "segments": segments_of(turns, 0.0)}
        doc, transcribe_s = timed(lambda: transcribe_file(audio, engine, language="en"))
        truth = compute(reference, samples, RATE, surrogates=10)
        auto = compute(doc, samples, RATE, surrogates=10)
        for role in ("therapist", "client"):
            mine = auto["session"]["speakers"].get(role, {})
            row = {"session": stem, "role": role, "speech_from": auto["speech_from"], "transcribe_s": transcribe_s}
            for key in AUTOMATIC:
                row[key] = [truth["session"]["speakers"][role][key], mine.get(key)]
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=50)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--pyin", action="store_true", help="also time everything with pYIN as the F0 estimator")
    parser.add_argument("--no-agreement", action="store_true")
    parser.add_argument("--automatic", action="store_true",
                        help="also compare the measures from coder's automatic transcripts with the reference's")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    path, doc = long_session(args.minutes)
    length = doc["duration"]
    units = [(i * length / args.units, (i + 1) * length / args.units) for i in range(args.units)]
    samples, decode_s = timed(lambda: load_channels(path)[0])
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "python": platform.python_version(), "command": " ".join(["bench/measures.py", *sys.argv[1:]]),
              "minutes": round(length / 60, 1), "segments": len(doc["segments"]), "units": args.units,
              "decode_s": decode_s, "load_average_before": os.getloadavg()[0]}
    cpu: dict = {}
    talk, result["talk_s"] = timed(lambda: compute(doc, ranges=units), cpu, "talk_cpu_s")
    result["turns"] = len(talk["turns"])
    for est in ("praat", "pyin") if args.pyin else ("praat",):
        full, result[f"all_{est}_s"] = timed(lambda: compute(doc, samples, RATE, ranges=units, estimator=est),
                                             cpu, f"all_{est}_cpu_s")
        result[f"synchrony_{est}"] = full["synchrony"]["therapist->client"]["1"]
    result.update(cpu)
    result["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=1))
    if not args.no_agreement:
        result["f0_agreement"] = agreement()
        for row in result["f0_agreement"]:
            print(row)
    if args.automatic:
        result["automatic"] = automatic(args.models_dir)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
