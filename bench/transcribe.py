#!/usr/bin/env python3
"""Transcription speed and accuracy of both engines on the demo session, side by side in one run.

    .venv/bin/python bench/transcribe.py [--models-dir models] [--repeats 1] [--json out.json]

For each engine: model load time, transcription wall time, real-time factor
(audio seconds per wall second; higher is faster) and word error rate against
the session's script. Engines alternate within each repeat so that machine
noise hits both alike.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coder import audio  # noqa: E402
from coder.asr import load_engine  # noqa: E402

ENGINES = {"openai-whisper": "openai-whisper-base.pt", "faster-whisper": "faster-whisper-base"}


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--audio", type=Path, default=ROOT / "sample_audio" / "demo_session.ogg")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import jiwer
    import torch

    turns = json.loads((args.audio.with_suffix(".turns.json")).read_text())
    reference = normalise(" ".join(t["text"] for t in turns))
    samples = audio.load(args.audio)
    duration = len(samples) / audio.SAMPLE_RATE
    engines, load_s = {}, {}
    for name, model in ENGINES.items():
        t0 = time.perf_counter()
        engines[name] = load_engine(name, str(args.models_dir / model), device="cpu")
        load_s[name] = time.perf_counter() - t0
    runs: dict[str, list[float]] = {name: [] for name in ENGINES}
    wers: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, engine in engines.items():
            t0 = time.perf_counter()
            result = engine.transcribe(samples, language="en")
            runs[name].append(time.perf_counter() - t0)
            wers[name] = jiwer.wer(reference, normalise(" ".join(s["text"] for s in result.segments)))
    report = {
        "audio": str(args.audio.relative_to(ROOT)) if args.audio.is_relative_to(ROOT) else str(args.audio),
        "audio_s": round(duration, 1), "repeats": args.repeats, "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "engines": {name: {"model": ENGINES[name], "load_s": round(load_s[name], 2),
                           "transcribe_s": round(statistics.median(runs[name]), 2),
                           "real_time_factor": round(duration / statistics.median(runs[name]), 2),
                           "wer": round(wers[name], 4)} for name in ENGINES},
    }
    ow, fw = report["engines"]["openai-whisper"], report["engines"]["faster-whisper"]
    report["faster_whisper_speedup"] = round(ow["transcribe_s"] / fw["transcribe_s"], 2)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
