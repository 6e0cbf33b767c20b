#!/usr/bin/env python3
"""Throughput of the processing queue: one and two `coder worker` processes, and the queue's overhead,
side by side in one run.

    .venv/bin/python bench/job_queue.py [--models-dir models] [--recordings 6] [--minutes 1.5]
                                    [--json bench/results-queue.json]

Recordings: ``--recordings`` excerpts of the demo session (sample_audio/demo_session.ogg, cut at different
offsets so that each has its own SHA-256), each ``--minutes`` long. Engine: openai-whisper with the real
Whisper *base* weights of the model store (``make models``), builtin diariser, on the CPU.

Three configurations, each on a fresh SQLite study database and the embedded SQLite queue:

* ``direct``: the recordings processed one after another in one process, without the queue
  (``coder process``): the baseline;
* ``queue, 1 worker``: submitted with ``coder jobs submit --all`` and processed by one ``coder worker``;
* ``queue, 2 workers``: the same with two worker processes.

Wall time runs from the submission (or the start of ``coder process``) to the last recording transcribed,
and includes each process's model loading. Throughput is audio hours per wall hour. The queue's overhead
per recording is (wall of one worker − wall of direct) / recordings: claiming, heartbeats, the queue's
storage, and the worker's start-up beyond the model load.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def excerpts(folder: Path, n: int, minutes: float) -> list[Path]:
    import soundfile as sf

    audio, rate = sf.read(ROOT / "sample_audio" / "demo_session.ogg", dtype="float32")
    length = int(minutes * 60 * rate)
    out = []
    for i in range(n):
        start = (i * 7 * rate) % max(1, len(audio) - length)  # wraps round a session shorter than n × length
        clip = audio[start:start + length]
        if len(clip) < length:
            clip = audio[:length]
        path = folder / f"rec{i}.wav"
        sf.write(path, clip, rate)
        out.append(path)
    return out


def study(home: Path, files: list[Path]) -> None:
    """A study database with the recordings registered (through a manifest, as a coordinator would)."""
    manifest = home / "manifest.csv"
    rows = ["file,therapist,client,session"] + [f"{f},T1,C1,{i + 1}" for i, f in enumerate(files)]
    manifest.write_text("\n".join(rows) + "\n")
    env = environment(home)
    subprocess.run([sys.executable, "-m", "coder.cli", "init"], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "coder.cli", "ingest", str(manifest), "--study", "Bench"], env=env,
                   check=True, capture_output=True)


def environment(home: Path) -> dict:
    env = {**os.environ, "CODER_HOME": str(home), "DATABASE_URL": f"sqlite:///{home / 'coder.db'}",
           "CODER_DEVICE": "cpu"}
    env.pop("CODER_QUEUE_URL", None)
    return env


def transcribed(home: Path) -> int:
    import sqlite3

    with sqlite3.connect(home / "coder.db") as conn:
        return conn.execute("SELECT count(*) FROM recordings WHERE status = 'transcribed'").fetchone()[0]


def run_direct(home: Path, model: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "coder.cli", "process", "--engine", "openai-whisper", "--model", str(model)], env=environment(home),
                   check=True, capture_output=True)
    return time.perf_counter() - start


def run_queue(home: Path, model: Path, workers: int, n: int) -> float:
    env = environment(home)
    import sqlite3

    with sqlite3.connect(home / "coder.db") as conn:  # the study's processing options name the model
        conn.execute("UPDATE studies SET settings = ?", (json.dumps({"processing": {
            "engine": "openai-whisper", "model": str(model), "diarizer": "builtin", "num_speakers": 2}}),))
    procs = [subprocess.Popen([sys.executable, "-m", "coder.cli", "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "coder.cli", "jobs", "submit", "--all"], env=env, check=True,
                       capture_output=True)
        while transcribed(home) < n:
            time.sleep(0.2)
        return time.perf_counter() - start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--recordings", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=1.5)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results-queue.json")
    args = parser.parse_args()
    model = args.models_dir / "openai-whisper-base.pt"
    if not model.is_file():
        sys.exit(f"no Whisper base weights at {model}; run 'make models'")
    results = []
    with tempfile.TemporaryDirectory(prefix="coder-bench-queue-") as tmp:
        tmp = Path(tmp)
        files = excerpts(tmp, args.recordings, args.minutes)
        audio_h = args.recordings * args.minutes / 60
        for name, workers in (("direct", 0), ("queue, 1 worker", 1), ("queue, 2 workers", 2)):
            home = tmp / name.replace(" ", "").replace(",", "-")
            home.mkdir()
            study(home, files)
            wall = run_direct(home, model) if workers == 0 else run_queue(home, model, workers, args.recordings)
            assert transcribed(home) == args.recordings, f"{name}: not every recording was transcribed"
            results.append({"configuration": name, "workers": workers, "wall_s": round(wall, 1),
                            "audio_hours_per_wall_hour": round(audio_h / (wall / 3600), 2)})
            print(f"{name:18} {wall:7.1f} s  {results[-1]['audio_hours_per_wall_hour']:6.2f} audio-h per wall-h",
                  flush=True)
    overhead = (results[1]["wall_s"] - results[0]["wall_s"]) / args.recordings
    print(f"queue overhead per recording: {overhead:.2f} s; two workers vs one: "
          f"{results[1]['wall_s'] / results[2]['wall_s']:.2f}x")
    args.json.write_text(json.dumps({
        "recordings": args.recordings, "minutes_each": args.minutes, "model": "openai-whisper base (CPU)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "results": results, "overhead_per_recording_s": round(overhead, 2),
        "speedup_two_workers": round(results[1]["wall_s"] / results[2]["wall_s"], 2)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
