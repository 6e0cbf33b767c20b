#!/usr/bin/env python3
"""The demo's first run after the install, step by step: what `make demo` does once `.venv` and `models/` exist.

    .venv/bin/python bench/demo.py [--engine faster-whisper] [--engine openai-whisper] [--rounds 1]
                                   [--json bench/results-demo.json]

Each round starts `coder demo` as a new user would (a fresh home, no transcript yet) in a process of its own on
a free port and notes, from the process's start, when each of its lines appears: the speech model being loaded
(Python, imports, migrations and the ingest are done), transcription starting (the model is loaded), the
recording done (transcription, diarisation, the listening copy), serving, and the first login page answered.
The stored transcript adds the pipeline's own split (transcribe_s, diarize_s). The load average at the start is
recorded: the machine is shared, so compare figures within one run. Engines alternate per round.
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
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.network import free_port  # noqa: E402

STEPS = {"model_load_starts": "Loading the speech model", "transcription_starts": "Transcribing ",
         "recording_done": "demo_session.ogg: done", "serving": "Serving coder on"}


def one_run(engine: str, models_dir: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="coder-bench-demo-") as home:
        port = free_port()
        env = {**os.environ, "CODER_MODELS_DIR": str(models_dir), "CODER_WHISPER_MODEL": "",
               "PYTHONUNBUFFERED": "1"}
        start = time.perf_counter()
        load = os.getloadavg()[0]
        proc = subprocess.Popen([sys.executable, "-m", "coder.cli", "--home", home, "demo", "--engine", engine,
                                 "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        seen: dict[str, float] = {}
        lines: list[str] = []

        def read() -> None:
            for line in proc.stdout:
                lines.append(line.rstrip())
                for step, marker in STEPS.items():
                    if step not in seen and marker in line:
                        seen[step] = round(time.perf_counter() - start, 2)

        threading.Thread(target=read, daemon=True).start()
        try:
            while "login_page" not in seen:
                if proc.poll() is not None:
                    raise SystemExit("coder demo stopped:\n" + "\n".join(lines))
                if "serving" in seen:
                    try:
                        urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5).read()
                        seen["login_page"] = round(time.perf_counter() - start, 2)
                    except OSError:
                        pass
                time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        doc = json.loads((Path(home) / "demo" / "transcripts" / "recording-1.json").read_text())
    return {"engine": engine, "model": doc["model"], "load_average_at_start": round(load, 2), **seen,
            "pipeline": {**doc["timings"], "audio_s": doc["duration"]},
            "progress_lines": [line for line in lines if "audio-min done" in line]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", action="append", choices=["faster-whisper", "openai-whisper"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results-demo.json")
    args = parser.parse_args()
    runs = []
    for _ in range(args.rounds):
        for engine in args.engine or ["faster-whisper"]:
            run = one_run(engine, args.models_dir)
            print(json.dumps(run), flush=True)
            runs.append(run)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "peak_rss_mb_of_any_run": round(peak), "runs": runs}
    args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
