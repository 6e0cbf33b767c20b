#!/usr/bin/env python3
"""Transcription speed, accuracy and memory of both engines, side by side in one run.

    .venv/bin/python bench/transcribe.py [--models-dir models] [--extra AUDIO=REFERENCE.txt ...]
                                         [--json results.json]

Inputs: three scripted two-speaker sessions (synthesised on first use, see
bench/sessions/README.md), a silence test (speech, 30 s of room tone,
speech), and any ``--extra`` recordings with their reference text. Every
(engine, recording) pair runs in a fresh process that loads the model and
transcribes through coder's pipeline (VAD, guards), so the real-time factor
includes model loading and the peak memory is that run's own. Engines
alternate per recording so that machine noise hits both alike.

Word error rate uses Whisper's English text normaliser on both sides.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
ENGINES = {"faster-whisper": "faster-whisper-base", "openai-whisper": "openai-whisper-base.pt"}
SESSIONS = ["demo_session", "activity_sleep", "thoughts_relapse"]  # see bench/sessions.py
SILENCE_S = 30.0


def synthesise() -> list[tuple[Path, str]]:
    """The sessions' audio and reference text, generated into the cache when missing."""
    from sessions import synthesise as make

    out = []
    for stem in SESSIONS:
        audio, _rttm, turns = make(stem)
        out.append((audio, " ".join(t["text"] for t in turns)))
    return out


def silence_test() -> tuple[Path, str, tuple[float, float]]:
    """The demo's first two turns, 30 s of quiet room tone, then its next two turns."""
    import numpy as np
    import soundfile as sf

    sys.path.insert(0, str(ROOT))
    from coder.pipeline import audio as audio_mod

    turns = json.loads((ROOT / "sample_audio" / "demo_session.turns.json").read_text())
    x = audio_mod.load(ROOT / "sample_audio" / "demo_session.ogg")
    cut = int(turns[1]["end"] * 16000) + 4000
    second = x[int(turns[2]["start"] * 16000) - 4000:int(turns[3]["end"] * 16000) + 4000]
    tone = np.random.default_rng(0).normal(0, 10 ** (-60 / 20), int(SILENCE_S * 16000)).astype(np.float32)
    path = CACHE / "silence_test.wav"
    sf.write(path, np.concatenate([x[:cut], tone, second]), 16000)
    reference = " ".join(t["text"] for t in turns[:4])
    return path, reference, (cut / 16000, cut / 16000 + SILENCE_S)


def run_one(engine: str, model: str, audio: str) -> None:
    """Child process: load, transcribe, print one JSON line."""
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    from coder.pipeline.asr import load_engine
    from coder.pipeline.transcribe import transcribe_file

    asr = load_engine(engine, model, device="cpu")
    doc = transcribe_file(audio, asr, language="en")
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "duration": doc["duration"], "processing": doc["processing"],
                      "words": [w for s in doc["segments"] for w in s["words"]],
                      "text": " ".join(s["text"] for s in doc["segments"]),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--extra", action="append", default=[], help="AUDIO=REFERENCE.txt")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", nargs=3, metavar=("ENGINE", "MODEL", "AUDIO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return run_one(*args.one)
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    normalise = EnglishTextNormalizer()
    inputs = [(p, ref, None) for p, ref in synthesise()]
    silence_path, silence_ref, window = silence_test()
    inputs.append((silence_path, silence_ref, window))
    for spec in args.extra:
        audio, ref = spec.split("=", 1)
        inputs.append((Path(audio), Path(ref).read_text(), None))

    rows = []
    for audio, reference, silent in inputs:
        for engine, model in ENGINES.items():
            proc = subprocess.run([sys.executable, __file__, "--one", engine, str(args.models_dir / model), str(audio)],
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            row = {"audio": audio.name, "engine": engine, "duration_s": round(r["duration"], 1),
                   "wall_s": round(r["wall_s"], 1), "real_time_factor": round(r["duration"] / r["wall_s"], 2),
                   "wer": round(jiwer.wer(normalise(reference), normalise(r["text"])), 4),
                   "peak_rss_mb": round(r["peak_rss_mb"]), **r["processing"]}
            if silent:
                row["words_in_silence"] = sum(1 for w in r["words"] if w["end"] > silent[0] + 0.5
                                              and w["start"] < silent[1] - 0.5)
            rows.append(row)
            print(json.dumps(row), flush=True)
    sessions = [r for r in rows if r["audio"].endswith(".ogg")]
    summary = {}
    for engine in ENGINES:
        own = [r for r in sessions if r["engine"] == engine]
        words = sum(len(normalise(ref).split()) for _p, ref, _s in inputs[:len(SESSIONS)])
        errors = sum(r["wer"] * len(normalise(ref).split()) for r, (_p, ref, _s) in zip(own, inputs))
        summary[engine] = {"sessions_wer": round(errors / words, 4),
                           "longest_session_rtf": max(own, key=lambda r: r["duration_s"])["real_time_factor"]}
    report = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores", "rows": rows,
              "summary": summary}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
