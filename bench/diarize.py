#!/usr/bin/env python3
"""Diarisation error rate, speed and role assignment of the builtin diariser, beside the d-vector one it replaced
and a plain baseline, all in one run.

    .venv/bin/python bench/diarize.py [--models-dir models] [--json bench/results-diarize.json]
                                      [--ami-dir ../shared/data/ami-excerpts] [--no-roles] [--only ami2]
                                      [--systems builtin,dvector,baseline]

``--only ami2`` runs the two-speaker AMI excerpts alone, ``--only ami`` all AMI excerpts, ``--only sessions``
the scripted sessions.

Inputs: the scripted two-speaker sessions of bench/sessions/ (talk_over, cut_in,
two_at_once and late_reply with planted overlaps, interruptions and back-channels) and every AMI excerpt with an
RTTM in
``--ami-dir``. Each recording is diarised with the speaker count from its
reference and with the count estimated, by coder's builtin diariser
(segmentation-3.0 + CAM++), by the d-vector diariser it replaced
(``dvector``: Silero + Resemblyzer + k-means + Viterbi) and by
a baseline run in the same process (speech activity from Silero at its
defaults, 1.5 s embedding windows every 0.75 s, average-linkage clustering
into the count, each frame to the window voted most). DER is scored with
pyannote.metrics with overlapped speech scored, without a collar and with
the common ±0.25 s collar. Real-time factor = audio seconds per wall-clock
second of diarisation, the models already loaded (their load times are reported apart).

The scripted sessions are also scored as recordings with one microphone
per person (each voice on its own channel, 5 % bleed into the other), where
the builtin diariser takes the speakers from the channels.

Roles: each scripted session is transcribed with faster-whisper base and
diarised through coder's pipeline; the speaker labelled therapist must be
the one that holds most of the reference therapist's speech.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", module="pyannote")

from coder.pipeline import audio as audio_mod  # noqa: E402
from coder.pipeline.diarize import BuiltinDiarizer, Diarization, DvectorDiarizer, Turn, speaker_label  # noqa: E402
from coder.pipeline.rttm import read as read_rttm  # noqa: E402

from sessions import OVERLAPPING, PLANTED, SESSIONS, synthesise  # noqa: E402

HELD_OUT = {"panic_exposure", "missed_homework"}  # from the d-vector diariser's tuning; the builtin saw all


def baseline(samples: np.ndarray, k: int | None) -> Diarization:
    """Speech activity + 1.5 s windows + agglomerative clustering (k, or 2 when estimating) + frame voting."""
    from sklearn.cluster import AgglomerativeClustering

    from coder.pipeline.diarize import resemblyzer as embed
    from coder.pipeline import vad

    regions = vad.speech_regions(samples)
    wins = []
    for s, e in regions:
        t = s
        while t < e - 0.4:
            wins.append((t, min(t + 1.5, e)))
            t += 0.75
    if not wins:
        return Diarization([])
    emb = embed.embed_windows(samples, wins)
    k = min(k or 2, len(wins))
    labels = np.zeros(len(wins), dtype=int) if k == 1 else \
        AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(emb)
    votes = np.zeros((int(len(samples) / 16000 * 100) + 1, k))
    for (a, b), label in zip(wins, labels):
        votes[int(a * 100):int(b * 100), label] += 1
    frames = np.where(votes.sum(1) > 0, votes.argmax(1), -1)
    turns, start = [], 0
    for i in range(1, len(frames) + 1):
        if i == len(frames) or frames[i] != frames[start]:
            if frames[start] >= 0:
                turns.append(Turn(start / 100, i / 100, speaker_label(int(frames[start]))))
            start = i
    return Diarization(turns)


def score(reference: list[Turn], hypothesis: list[Turn], duration: float) -> dict:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for i, t in enumerate(reference):
        ref[Segment(t.start, t.end), i] = t.speaker
    for i, t in enumerate(hypothesis):
        hyp[Segment(t.start, t.end), i] = t.speaker
    uem = Segment(0, duration)
    d = DiarizationErrorRate()(ref, hyp, uem=uem, detailed=True)
    collar = DiarizationErrorRate(collar=0.5)(ref, hyp, uem=uem)  # 0.25 s either side of each boundary
    total = d["total"] or 1.0
    return {"der": round(d["diarization error rate"], 4), "der_collar_0.25": round(collar, 4),
            "missed": round(d["missed detection"] / total, 4), "false_alarm": round(d["false alarm"] / total, 4),
            "confusion": round(d["confusion"] / total, 4), "reference_s": round(total, 2)}


def roles_check(models_dir: Path, stems: list[str]) -> list[dict]:
    from coder.pipeline.asr import load_engine
    from coder.pipeline.transcribe import transcribe_file

    engine = load_engine("faster-whisper", str(models_dir / "faster-whisper-base"), device="cpu")
    rows = []
    for stem in stems:
        audio, rttm, _turns = synthesise(stem)
        reference = read_rttm(rttm)[stem]
        doc = transcribe_file(audio, engine, language="en")
        hyp = [Turn(a, b, c) for a, b, c in doc["diarization"]["turns"]]
        held = {}
        for t in reference:
            if t.speaker == "therapist":
                for h in hyp:
                    ov = max(0.0, min(t.end, h.end) - max(t.start, h.start))
                    held[h.speaker] = held.get(h.speaker, 0.0) + ov
        truth = max(held, key=held.get) if held else None
        labelled = [s for s, info in doc["speakers"].items() if info["role"] == "therapist"]
        row = {"session": stem, "held_out": stem in HELD_OUT, "therapist_is": truth,
               "labelled_therapist": labelled[0] if labelled else None,
               "confidence": doc["speakers"].get(labelled[0], {}).get("confidence") if labelled else None,
               "correct": bool(labelled) and labelled[0] == truth}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--ami-dir", type=Path, default=ROOT.parent / "shared" / "data" / "ami-excerpts")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-roles", action="store_true")
    parser.add_argument("--only", choices=["sessions", "ami", "ami2"])
    parser.add_argument("--systems", default="builtin,dvector,baseline",
                        help="comma-separated: builtin, dvector, baseline")
    args = parser.parse_args()
    os.environ.setdefault("CODER_MODELS_DIR", str(args.models_dir))

    inputs = []  # (name, kind, audio, reference turns)
    if args.only in (None, "sessions"):
        for stem in [*SESSIONS, *PLANTED, *OVERLAPPING]:
            audio, rttm, _ = synthesise(stem)
            inputs.append((stem, "session", audio, read_rttm(rttm)[stem]))
    if args.only != "sessions":
        for rttm in sorted(args.ami_dir.glob("*.rttm")):
            reference = next(iter(read_rttm(rttm).values()))
            two = len({t.speaker for t in reference}) == 2
            if args.only != "ami2" or two:
                inputs.append((rttm.stem, "ami2" if two else "ami", rttm.with_suffix(".wav"), reference))

    diarizer, dvector = BuiltinDiarizer(device="cpu"), DvectorDiarizer(device="cpu")
    from coder.pipeline.diarize import resemblyzer as embed
    t0 = time.perf_counter()
    diarizer(np.zeros(16000, dtype=np.float32), 2)  # loads segmentation-3.0 and CAM++
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    embed.encoder("cpu")
    dvector(np.zeros(16000, dtype=np.float32), 2)  # loads Silero too
    dvector_load_s = time.perf_counter() - t0

    rows = []
    for name, kind, path, reference in inputs:
        samples = audio_mod.load(path)
        duration = len(samples) / 16000
        n_ref = len({t.speaker for t in reference})
        systems = (("builtin", diarizer), ("dvector", dvector), ("baseline", baseline))
        for system, run in [(n, r) for n, r in systems if n in args.systems.split(",")]:
            for count in ("reference", "estimated"):
                k = n_ref if count == "reference" else None
                t = time.perf_counter()
                result = run(samples, k)
                wall = time.perf_counter() - t
                row = {"recording": name, "kind": kind, "held_out": name in HELD_OUT, "system": system,
                       "count": count, "reference_speakers": n_ref, "speakers_found": len(result.speakers),
                       "duration_s": round(duration, 1), "rtf": round(duration / wall, 1),
                       "s_per_audio_min": round(60 * wall / duration, 2),
                       **score(reference, result.turns, duration)}
                rows.append(row)
                print(json.dumps(row), flush=True)

    # The same sessions recorded with one microphone per person (5 % bleed): speakers from the channels.
    from coder.pipeline.diarize import diarize_channels
    for name, kind, path, reference in inputs:
        if kind != "session":
            continue
        samples = audio_mod.load(path)
        left, right = np.zeros_like(samples), np.zeros_like(samples)
        for t in reference:
            a, b = int(t.start * 16000), int(t.end * 16000)
            (left if t.speaker == "therapist" else right)[a:b] = samples[a:b]
        stereo = np.stack([left + 0.05 * right, right + 0.05 * left])
        t = time.perf_counter()
        result = diarize_channels(stereo)
        wall = time.perf_counter() - t
        duration = len(samples) / 16000
        row = {"recording": name, "kind": "two-mic session", "held_out": name in HELD_OUT, "system": "channels",
               "count": "reference", "reference_speakers": 2, "speakers_found": len(result.speakers),
               "duration_s": round(duration, 1), "rtf": round(duration / wall, 1),
               **score(reference, result.turns, duration)}
        rows.append(row)
        print(json.dumps(row), flush=True)

    summary = {}
    for system in ("builtin", "dvector", "baseline", "channels"):
        for kind in ("session", "ami2", "ami", "two-mic session"):
            for count in ("reference", "estimated"):
                sel = [r for r in rows if (r["system"], r["kind"], r["count"]) == (system, kind, count)]
                if not sel:
                    continue
                pooled = sum(r["der"] * r["reference_s"] for r in sel) / sum(r["reference_s"] for r in sel)
                summary[f"{system} {kind} {count}"] = {
                    "mean_der": round(float(np.mean([r["der"] for r in sel])), 4),
                    "mean_der_collar_0.25": round(float(np.mean([r["der_collar_0.25"] for r in sel])), 4),
                    "pooled_der": round(pooled, 4), "max_der": max(r["der"] for r in sel),
                    "rtf_total": round(sum(r["duration_s"] for r in sel)
                                       / sum(r["duration_s"] / r["rtf"] for r in sel), 1),
                    "s_per_audio_min": round(60 * sum(r["duration_s"] / r["rtf"] for r in sel)
                                             / sum(r["duration_s"] for r in sel), 2),
                    "count_right": sum(r["speakers_found"] == r["reference_speakers"] for r in sel),
                    "n": len(sel)}
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_average": os.getloadavg(),
              "builtin_load_s": round(load_s, 2),
              "dvector_load_s": round(dvector_load_s, 2),
              "rows": rows, "summary": summary}
    if not args.no_roles and args.only in (None, "sessions"):
        roles = roles_check(args.models_dir, [*SESSIONS, *PLANTED, *OVERLAPPING])
        report["roles"] = {"rows": roles, "correct": sum(r["correct"] for r in roles), "n": len(roles)}
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
