#!/usr/bin/env python3
"""End-to-end speed and peak memory of transcription plus diarisation, beside faster-whisper called directly.

    .venv/bin/python bench/speed.py [--audio FILE] [--baseline REV] [--rounds 1] [--json bench/results-speed.json]

Each run is a fresh Python process, so the times include starting Python, the imports and loading the models:
``faster-whisper`` is faster-whisper alone as its README calls it (base, int8 on the CPU, its batched pipeline,
word timestamps, beam 5), ``coder`` is ``coder transcribe``'s pipeline (speech filter, Whisper as above, guards,
the builtin diariser with two speakers, word attribution, roles), and with ``--baseline REV`` the same pipeline
from that commit (a temporary git worktree), so that a change is measured against the code before it in the same
run. The runs alternate within each round. Real-time factor = audio seconds per wall second; peak memory is the
run's resident set (getrusage). The machine is shared: the load average is recorded at each run's start.
The default audio is thoughts_relapse (9.7 minutes, bench/sessions).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(kind: str, audio: str, models_dir: str) -> None:
    """In the child process: one run, one JSON line."""
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    if kind == "faster-whisper":
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        model = WhisperModel(str(Path(models_dir) / "faster-whisper-base"), device="cpu", compute_type="int8",
                             cpu_threads=os.cpu_count() or 0)
        segments, info = BatchedInferencePipeline(model).transcribe(audio, language="en", word_timestamps=True,
                                                                    beam_size=5, batch_size=8)
        words = sum(len(s.words or []) for s in segments)
        duration, timings = info.duration, {}
    else:
        from coder.pipeline.asr import load_engine
        from coder.pipeline.transcribe import transcribe_file

        engine = load_engine("faster-whisper", str(Path(models_dir) / "faster-whisper-base"), device="cpu")
        doc = transcribe_file(audio, engine, language="en", num_speakers=2)
        words = sum(len(s["words"]) for s in doc["segments"])
        duration, timings = doc["duration"], doc["timings"]
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": round(wall, 1), "cpu_s": round(time.process_time() - cpu0, 1),
                      "audio_s": round(duration, 1), "real_time_factor": round(duration / wall, 2), "words": words,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **timings}))


def run(kind: str, tree: Path, audio: Path, models_dir: Path) -> dict:
    load = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": str(tree), "CODER_MODELS_DIR": str(models_dir)}
    proc = subprocess.run([sys.executable, "-P", str(ROOT / "bench" / "speed.py"), "--child", kind, str(audio),
                           str(models_dir)], cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    return {"load_average_at_start": round(load, 2), **json.loads(proc.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path)
    parser.add_argument("--baseline", help="also run coder's pipeline from this commit")
    parser.add_argument("--only", choices=["faster-whisper", "coder"], help="one kind of run alone")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    audio = args.audio
    if audio is None:
        sys.path.insert(0, str(ROOT / "bench"))
        from sessions import synthesise

        audio = synthesise("thoughts_relapse")[0]
    kinds = [("faster-whisper", ROOT), ("coder", ROOT)]
    scratch = None
    if args.baseline:
        scratch = Path(tempfile.mkdtemp(prefix="coder-speed-"))
        commit = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.strip()
        subprocess.run(["git", "worktree", "add", "--detach", str(scratch / "tree"), commit], cwd=ROOT,
                       check=True, capture_output=True)
        kinds.append((f"coder@{commit}", scratch / "tree"))
    if args.only:
        kinds = [k for k in kinds if k[0] == args.only]
    runs = []
    try:
        for r in range(args.rounds):
            for name, tree in kinds:
                row = {"round": r + 1, "run": name,
                       **run("faster-whisper" if name == "faster-whisper" else "coder", tree, audio.resolve(),
                             args.models_dir.resolve())}
                print(json.dumps(row), flush=True)
                runs.append(row)
    finally:
        if scratch:
            subprocess.run(["git", "worktree", "remove", "--force", str(scratch / "tree")], cwd=ROOT,
                           capture_output=True)
            subprocess.run(["rm", "-rf", str(scratch)])
    if args.json:
        args.json.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                                         "audio": audio.name, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
