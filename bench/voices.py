#!/usr/bin/env python3
"""Voiceprints with Resemblyzer against CAM++: which embedding tells voices apart, for roles and voiceprints.

    .venv/bin/python bench/voices.py [--models-dir models] [--ami-dir ../shared/data/ami-excerpts]
                                     [--json bench/results-voices.json]

Inputs: the AMI excerpts with an RTTM in ``--ami-dir`` and the scripted sessions of bench/sessions/ (synthesised
into bench/.cache/ on first use), each with its reference turns. Only speech where the reference has one speaker
is used.

- EER: every recording is cut into non-overlapping windows of 1.6 s and 3 s of one speaker's speech; every pair
  of windows within a recording is a trial (same or different speaker); equal error rate of the cosine score,
  pooled over the recordings of a set.
- Identification: in each recording, every speaker with at least 16 s of clean speech is enrolled from the first
  8 s of it (the mean of 1.6 s windows, as ``voiceprint`` does); each of their later 3 s windows goes to the
  nearest enrolled voiceprint. Accuracy = share to the right speaker.
- Across sessions: activity_sleep and talk_over share both espeak voices. Each speaker of one is enrolled from
  all of its clean speech and compared with both speakers of the other: the same voice must score higher
  (the therapist-voiceprint case of ``coder.pipeline.roles``), and the cosines of same and different voices
  are reported (the scale the role weights and the lone-speaker threshold are set on).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coder.pipeline import audio as audio_mod  # noqa: E402
from coder.pipeline.rttm import read as read_rttm  # noqa: E402

SR = 16000


def clean_stretches(turns) -> dict[str, list[tuple[float, float]]]:
    """Per speaker, the stretches where only they speak (reference turns, 10 ms grid)."""
    end = max(t.end for t in turns)
    n = int(np.ceil(end * 100)) + 1
    speakers = sorted({t.speaker for t in turns})
    grid = np.zeros((n, len(speakers)), dtype=bool)
    for t in turns:
        grid[int(round(t.start * 100)):int(round(t.end * 100)), speakers.index(t.speaker)] = True
    alone = grid.sum(axis=1) == 1
    out = {}
    for k, s in enumerate(speakers):
        col = grid[:, k] & alone
        runs, i = [], 0
        while i < n:
            if col[i]:
                j = i
                while j < n and col[j]:
                    j += 1
                runs.append((i / 100, j / 100))
                i = j
            else:
                i += 1
        out[s] = runs
    return out


def windows(runs, length: float) -> list[tuple[float, float]]:
    out = []
    for a, b in runs:
        t = a
        while t + length <= b + 1e-9:
            out.append((t, t + length))
            t += length
    return out


def eer(scores: np.ndarray, same: np.ndarray) -> float:
    order = np.argsort(-scores)
    same = same[order]
    pos, neg = same.sum(), (~same).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    fr = 1 - np.cumsum(same) / pos  # rejected targets above threshold
    fa = np.cumsum(~same) / neg
    i = int(np.argmin(np.abs(fr - fa)))
    return float((fr[i] + fa[i]) / 2)


class Resemblyzer:
    name = "resemblyzer"

    def embed(self, samples, spans):
        from coder.pipeline.diarize import resemblyzer

        return resemblyzer.embed_windows(samples, spans)


class CamPlusPlus:
    name = "campplus"

    def __init__(self, models_dir: Path):
        from coder.pipeline.diarize.campplus import SpeakerEmbedding

        self.model = SpeakerEmbedding.load(None, models_dir)

    def embed(self, samples, spans):
        return self.model.embed([samples[int(a * SR):int(a * SR) + int(round((b - a) * SR))] for a, b in spans])


def recordings(ami_dir: Path):
    out = []
    for rttm in sorted(ami_dir.glob("*.rttm")):
        turns = next(iter(read_rttm(rttm).values()))
        out.append(("ami", rttm.stem, rttm.with_suffix(".wav"), turns))
    from sessions import PLANTED, SESSIONS, synthesise

    for stem in [*SESSIONS, *PLANTED]:
        audio_path, rttm, _ = synthesise(stem)
        out.append(("sessions", stem, audio_path, next(iter(read_rttm(rttm).values()))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--ami-dir", type=Path, default=ROOT.parent / "shared" / "data" / "ami-excerpts")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    encoders = [Resemblyzer(), CamPlusPlus(args.models_dir)]
    recs = recordings(args.ami_dir)
    trials = {(e.name, s, L): ([], []) for e in encoders for s in ("ami", "sessions") for L in (1.6, 3.0)}
    ident = {(e.name, s): [0, 0] for e in encoders for s in ("ami", "sessions")}
    seconds = {e.name: 0.0 for e in encoders}
    audio_s = {e.name: 0.0 for e in encoders}
    prints = {}
    for dataset, stem, path, turns in recs:
        samples = audio_mod.load(path)
        runs = clean_stretches(turns)
        for enc in encoders:
            for length in (1.6, 3.0):
                spans, who = [], []
                for s, r in runs.items():
                    w = windows(r, length)
                    spans += w
                    who += [s] * len(w)
                if len(set(who)) < 2:
                    continue
                t0 = time.perf_counter()
                emb = enc.embed(samples, spans)
                seconds[enc.name] += time.perf_counter() - t0
                audio_s[enc.name] += len(spans) * length
                sims = emb @ emb.T
                iu = np.triu_indices(len(spans), 1)
                who_arr = np.array(who)
                trials[(enc.name, dataset, length)][0].append(sims[iu])
                trials[(enc.name, dataset, length)][1].append((who_arr[:, None] == who_arr[None, :])[iu])
            # identification: enrol from the first 8 s of clean speech, test on later 3 s windows
            enrol, tests = {}, []
            for s, r in runs.items():
                w16 = windows(r, 1.6)
                if len(w16) * 1.6 < 16:
                    continue
                enrol_w = w16[:5]
                cut = enrol_w[-1][1]
                later = windows([(max(a, cut), b) for a, b in r if b > cut], 3.0)
                v = enc.embed(samples, enrol_w).mean(axis=0)
                enrol[s] = v / np.linalg.norm(v)
                tests += [(s, w) for w in later]
            if len(enrol) >= 2 and tests:
                tests = [(s, w) for s, w in tests if s in enrol]
                emb = enc.embed(samples, [w for _, w in tests])
                names = sorted(enrol)
                mat = np.stack([enrol[n] for n in names])
                guess = np.argmax(emb @ mat.T, axis=1)
                ident[(enc.name, dataset)][0] += int(sum(names[g] == s for g, (s, _) in zip(guess, tests)))
                ident[(enc.name, dataset)][1] += len(tests)
            if stem in ("activity_sleep", "talk_over"):
                for s, r in runs.items():
                    w = windows(r, 1.6)
                    v = enc.embed(samples, w).mean(axis=0)
                    prints[(enc.name, stem, s)] = v / np.linalg.norm(v)
        print(f"{dataset}/{stem} done", flush=True)
    results = {"eer": {}, "identification": {}, "across_sessions": {}, "embed_speed": {},
               "load": os.getloadavg()}
    for (name, dataset, length), (scores, same) in trials.items():
        if scores:
            s, m = np.concatenate(scores), np.concatenate(same)
            results["eer"][f"{name} {dataset} {length}s"] = {"eer": round(eer(s, m), 4), "trials": int(len(s)),
                                                             "same": int(m.sum())}
    for (name, dataset), (right, total) in ident.items():
        results["identification"][f"{name} {dataset}"] = {"accuracy": round(right / total, 4) if total else None,
                                                          "windows": total}
    for enc in encoders:
        rows = {}
        for a in ("therapist", "client"):
            for b in ("therapist", "client"):
                rows[f"activity_sleep {a} · talk_over {b}"] = round(float(
                    prints[(enc.name, "activity_sleep", a)] @ prints[(enc.name, "talk_over", b)]), 3)
        results["across_sessions"][enc.name] = rows
        results["embed_speed"][enc.name] = round(audio_s[enc.name] / seconds[enc.name], 1)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
