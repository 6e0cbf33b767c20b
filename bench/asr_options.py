#!/usr/bin/env python3
"""faster-whisper's decoding options side by side: word errors and CPU seconds, one process, one model.

    .venv/bin/python bench/asr_options.py [--threads 1]

Whisper base, int8 on the CPU, the batched pipeline with word timestamps, English; beam 5 with 8 windows per batch
(coder's setting), beam 1 and 2, and 16 windows per batch, each on the demo session, thoughts_relapse
(bench/sessions) and jfk.wav with their exact text. CPU seconds are the process's (all threads); with one thread
they depend little on the other jobs of a shared machine. Word errors after Whisper's English normaliser.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"beam 5, batch 8": dict(beam_size=5, batch_size=8), "beam 1, batch 8": dict(beam_size=1, batch_size=8),
           "beam 2, batch 8": dict(beam_size=2, batch_size=8), "beam 5, batch 16": dict(beam_size=5, batch_size=16)}


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import jiwer
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from sessions import synthesise
    from whisper.normalizers import EnglishTextNormalizer

    from coder.pipeline import audio

    normalise = EnglishTextNormalizer()
    model = WhisperModel(str(args.models_dir / "faster-whisper-base"), device="cpu", compute_type="int8",
                         cpu_threads=args.threads)
    pipeline = BatchedInferencePipeline(model)
    inputs = []
    for stem in ("demo_session", "thoughts_relapse"):
        path, _rttm, turns = synthesise(stem)
        inputs.append((stem, audio.load(path), " ".join(t["text"] for t in turns)))
    jfk = ROOT.parent / "shared" / "data" / "jfk"
    if jfk.is_dir():
        inputs.append(("jfk", audio.load(jfk / "jfk.wav"), (jfk / "jfk.txt").read_text()))
    for stem, samples, reference in inputs:
        for name, options in CONFIGS.items():
            c0, t0 = cpu(), time.perf_counter()
            segments, _info = pipeline.transcribe(samples, language="en", word_timestamps=True, **options)
            text = " ".join(s.text.strip() for s in segments)
            scored = jiwer.process_words(normalise(reference), normalise(text))
            print(json.dumps({"audio": stem, "options": name, "cpu_s": round(cpu() - c0, 1),
                              "wall_s": round(time.perf_counter() - t0, 1),
                              "errors": scored.substitutions + scored.deletions + scored.insertions,
                              "reference_words": len(normalise(reference).split()), "wer": round(scored.wer, 4)}),
                  flush=True)


if __name__ == "__main__":
    main()
