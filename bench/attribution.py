#!/usr/bin/env python3
"""Speaker-attributed word error (cpWER) beside plain word error, with words in overlapped speech attributed by
today's rule (the turn covering more of the word) and by voice (coder.pipeline.words.OverlapVoices), one run.

    .venv/bin/python bench/attribution.py [--models-dir models] [--json bench/results-attribution.json]
                                          [--ami-dir ../shared/data/ami-excerpts]

Inputs: the scripted sessions with planted overlap (talk_over, cut_in, two_at_once, and late_reply, held out:
written after the clip length was chosen; bench/sessions/),
transcribed once each with faster-whisper base through coder's pipeline (VAD, guards). The speaker turns come
from the builtin diariser (two speakers) and, apart, from the reference (so that attribution is scored without
the diariser's errors). Both rules run on the same words and turns.

Scores: meeteval 0.4.3 — plain WER (``siso_word_error_rate``: all reference turns in order of start against all
hypothesis segments in order) and cpWER (``cp_word_error_rate``: each speaker's words concatenated, the
speaker mapping that gives the fewest errors), both after Whisper's English text normaliser; totals are errors
over reference words across the sessions. The AMI excerpts are used only where they carry word references.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coder.pipeline import audio as audio_mod  # noqa: E402
from coder.pipeline.diarize import BuiltinDiarizer, Diarization, Turn  # noqa: E402
from coder.pipeline.transcribe import overlap_voices, recognise  # noqa: E402
from coder.pipeline.words import attribute_words  # noqa: E402

from sessions import synthesise  # noqa: E402

STEMS = ["talk_over", "cut_in", "two_at_once", "late_reply"]
HELD_OUT = {"late_reply"}  # written after OverlapVoices.clip_s was chosen on the others


def by_speaker(segments: list[dict], normalise) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for seg in segments:
        out.setdefault(seg["speaker"], []).append(normalise(seg["text"]))
    return {k: " ".join(v) for k, v in out.items()}


def ami_words(folder: Path) -> str:
    """What the AMI folder offers for word error: the files beside the audio and RTTMs."""
    if not folder.is_dir():
        return f"{folder} not found"
    other = sorted(p.name for p in folder.iterdir() if p.suffix not in (".wav", ".rttm"))
    return f"word references: {', '.join(other)}" if other else \
        f"no word references in {folder} (only .wav and .rttm): not scored"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--ami-dir", type=Path, default=ROOT.parent / "shared" / "data" / "ami-excerpts")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from meeteval.wer.wer.cp import cp_word_error_rate
    from meeteval.wer.wer.siso import siso_word_error_rate
    from whisper.normalizers import EnglishTextNormalizer

    from coder.pipeline.asr import load_engine

    normalise = EnglishTextNormalizer()
    load_before = os.getloadavg()
    engine = load_engine("faster-whisper", str(args.models_dir / "faster-whisper-base"), device="cpu")
    rows = []
    for stem in STEMS:
        path, _rttm, reference = synthesise(stem)
        samples = audio_mod.load(path)
        segments, _lang, _notes = recognise(samples, engine, "en")
        ref_turns = sorted(reference, key=lambda t: t["start"])
        ref_text = normalise(" ".join(t["text"] for t in ref_turns))
        ref_by_speaker: dict[str, list[str]] = {}
        for t in ref_turns:
            ref_by_speaker.setdefault(t["speaker"], []).append(normalise(t["text"]))
        ref_by_speaker = {k: " ".join(v) for k, v in ref_by_speaker.items()}
        plain = siso_word_error_rate(ref_text, normalise(" ".join(s["text"] for s in segments)))
        diarised = BuiltinDiarizer()(samples, 2)
        truth = Diarization([Turn(t["start"], t["end"], t["speaker"]) for t in reference], source="rttm")
        for source, result in (("builtin", diarised), ("reference", truth)):
            t0 = time.perf_counter()
            before = cp_word_error_rate(ref_by_speaker, by_speaker(attribute_words(segments, result.turns),
                                                                    normalise))
            t1 = time.perf_counter()
            voices = overlap_voices(samples, result)
            after_segments = attribute_words(segments, result.turns, voices)
            t2 = time.perf_counter()
            after = cp_word_error_rate(ref_by_speaker, by_speaker(after_segments, normalise))
            row = {"session": stem, "held_out": stem in HELD_OUT, "turns": source,
                   "duration_s": round(len(samples) / 16000, 1), "speakers_found": len(result.speakers),
                   "overlap_s": round(sum(e - s for s, e, _ in result.overlaps), 2),
                   "words": plain.length, "plain_wer": round(plain.error_rate, 4), "plain_errors": plain.errors,
                   "cpwer_before": round(before.error_rate, 4), "cp_errors_before": before.errors,
                   "cpwer_after": round(after.error_rate, 4), "cp_errors_after": after.errors,
                   "words_in_overlap": voices.counts["in_overlap"] if voices else 0,
                   "attribution_s_before": round(t1 - t0, 3), "attribution_s_after": round(t2 - t1, 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for source in ("builtin", "reference"):
        own = [r for r in rows if r["turns"] == source]
        words = sum(r["words"] for r in own)
        summary[source] = {k: round(sum(r[e] for r in own) / words, 4) for k, e in
                           (("plain_wer", "plain_errors"), ("cpwer_before", "cp_errors_before"),
                            ("cpwer_after", "cp_errors_after"))}
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "load_average": {"before": [round(x, 2) for x in load_before],
                               "after": [round(x, 2) for x in os.getloadavg()]},
              "ami": ami_words(args.ami_dir), "rows": rows, "summary": summary}
    print(json.dumps({k: report[k] for k in ("summary", "ami", "load_average")}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
