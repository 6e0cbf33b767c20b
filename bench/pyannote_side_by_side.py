#!/usr/bin/env python3
"""The pyannote backend (pyannote.audio's SpeakerDiarization around the local segmentation-3.0, CAM++ embeddings)
beside coder's builtin diariser and the d-vector one, on the same recordings, in one process.

    .venv-pyannote/bin/python bench/pyannote_side_by_side.py [--json bench/results-pyannote.json]
        [--models-dir models] [--ami-dir ../shared/data/ami-excerpts] [--sessions missed_homework panic_exposure]
        [--counts given auto]

Runs in pyannote.audio's environment (the builtin and dvector diarisers run there too: plain torch). Offline: no
token, ``HF_HUB_OFFLINE=1``. Inputs: the two-speaker AMI excerpts and the named scripted sessions (bench/sessions),
each with its reference count (``--counts given``, the default) and/or with the count estimated (``auto``). DER without a collar, overlapped speech scored (pyannote.metrics). Real-time
factor = audio seconds per wall-clock second, models loaded (load times reported apart).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
warnings.filterwarnings("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
for name in ("HF_TOKEN", "HUGGINGFACE_TOKEN"):
    os.environ.pop(name, None)

from coder.pipeline import audio as audio_mod  # noqa: E402
from coder.pipeline.diarize import make_diarizer  # noqa: E402
from coder.pipeline.rttm import read as read_rttm  # noqa: E402


def annotation(turns):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, t in enumerate(turns):
        ann[Segment(t.start, t.end), i] = t.speaker
    return ann


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--ami-dir", type=Path, default=ROOT.parent / "shared" / "data" / "ami-excerpts")
    ap.add_argument("--sessions", nargs="*", default=["missed_homework", "panic_exposure"])
    ap.add_argument("--counts", nargs="*", default=["given"], choices=["given", "auto"])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from pyannote.metrics.diarization import DiarizationErrorRate

    from sessions import synthesise

    inputs = []
    for rttm in sorted(args.ami_dir.glob("*.rttm")):
        ref = next(iter(read_rttm(rttm).values()))
        if len({t.speaker for t in ref}) == 2:
            inputs.append((f"AMI {rttm.stem}", rttm.with_suffix(".wav"), ref))
    for stem in args.sessions:
        path, rttm, _ = synthesise(stem)
        inputs.append((stem, path, next(iter(read_rttm(rttm).values()))))
    systems = {
        "pyannote (segmentation-3.0 + CAM++)": make_diarizer(
            "pyannote", model=str(args.models_dir / "pyannote-segmentation-3.0"), device="cpu"),
        "builtin (segmentation-3.0 + CAM++)": make_diarizer("builtin", device="cpu"),
        "dvector (Silero + Resemblyzer)": make_diarizer("dvector", device="cpu"),
    }
    load = {}
    for name, run in systems.items():
        t0 = time.perf_counter()
        run(np.zeros(16000 * 12, dtype=np.float32), 2)
        load[name] = round(time.perf_counter() - t0, 1)
    rows = []
    for label, path, ref in inputs:
        samples = audio_mod.load(path)
        k = len({t.speaker for t in ref})
        for name, run in systems.items():
            for count in args.counts:
                t0 = time.perf_counter()
                result = run(samples, k if count == "given" else None)
                took = time.perf_counter() - t0
                metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
                der = metric(annotation(ref), annotation(result.turns), detailed=True)
                rows.append({"recording": label, "system": name, "count": count, "reference_speakers": k,
                             "seconds": round(len(samples) / 16000, 1),
                             "der": round(der["diarization error rate"], 4),
                             "missed": round(der["missed detection"] / der["total"], 4),
                             "false_alarm": round(der["false alarm"] / der["total"], 4),
                             "confusion": round(der["confusion"] / der["total"], 4),
                             "speakers_found": len(result.speakers), "wall_s": round(took, 1),
                             "rtf": round(len(samples) / 16000 / took, 2), "load": os.getloadavg()[0]})
                print(json.dumps(rows[-1]), flush=True)
                if args.json:  # as it goes: a run stopped early keeps its rows
                    args.json.write_text(json.dumps({"rows": rows, "load_s": load}, indent=1) + "\n")
    summary = {}
    for name in systems:
        for count in args.counts:
            mine = [r for r in rows if r["system"] == name and r["count"] == count]
            ami = [r["der"] for r in mine if r["recording"].startswith("AMI")]
            scripted = [r["der"] for r in mine if not r["recording"].startswith("AMI")]
            summary[f"{name}, count {count}"] = {
                "mean_der_ami2": round(float(np.mean(ami)), 4) if ami else None,
                "mean_der_sessions": round(float(np.mean(scripted)), 4) if scripted else None,
                "rtf": round(sum(r["seconds"] for r in mine) / sum(r["wall_s"] for r in mine), 2),
                "count_right": sum(r["speakers_found"] == r["reference_speakers"] for r in mine),
                "n": len(mine), "load_s": load[name]}
    out = {"rows": rows, "summary": summary, "loadavg_end": os.getloadavg()}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
