#!/usr/bin/env python3
"""The diariser's model calls with OpenMP threads that spin or sleep while they wait, side by side.

    .venv/bin/python bench/omp_wait.py [--rounds 2] [--json bench/results-omp-wait.json]

Each run is a fresh process (the policy is read when torch loads) that embeds 40 clips of the demo session with
CAM++ (30 of 3 s, 10 shorter) and segments 8 of its 10 s windows: with 1 thread, with 2 threads waiting as
libgomp does by default (spinning first; ``OMP_WAIT_POLICY`` left empty), and with 2 threads waiting passively
(coder's setting, coder/pipeline/__init__.py). CPU seconds (all threads) and wall seconds per part; the load
average at each run's start, since the point is how each fares on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = {"1 thread": ("1", "PASSIVE"), "2 threads, spinning": ("2", ""), "2 threads, passive": ("2", "PASSIVE")}


def child(threads: int) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from coder.pipeline import audio
    from coder.pipeline.diarize import builtin

    torch.set_num_threads(threads)
    seg, emb = builtin.load_models(None, None, "cpu")
    x = audio.load(ROOT / "sample_audio" / "demo_session.ogg")
    clips = [x[i * 24000:i * 24000 + 47790] for i in range(30)] + [x[i * 8000:i * 8000 + 16000 + 2700 * i]
                                                                   for i in range(10)]
    windows = np.stack([x[i * 40000:i * 40000 + 160000] for i in range(8)])
    emb.embed(clips[:2])  # first call's set-up apart
    out = {}
    for name, call in (("embed", lambda: emb.embed(clips)), ("segment", lambda: seg.speakers(windows))):
        c, w = time.process_time(), time.perf_counter()
        call()
        out[f"{name}_cpu_s"], out[f"{name}_wall_s"] = round(time.process_time() - c, 2), round(time.perf_counter() - w, 2)
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    rows = []
    for r in range(args.rounds):
        for name, (threads, policy) in RUNS.items():
            load = os.getloadavg()[0]
            proc = subprocess.run([sys.executable, __file__, "--child", threads], capture_output=True, text=True,
                                  env={**os.environ, "OMP_WAIT_POLICY": policy}, check=True)
            row = {"round": r + 1, "run": name, "load_average_at_start": round(load, 2),
                   **json.loads(proc.stdout.strip().splitlines()[-1])}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
