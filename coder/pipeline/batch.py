"""Batch transcription of files to an output folder: progress in files and audio minutes, resumable.

A rerun skips every input whose ``STEM.json`` already holds a transcript of
the same audio (SHA-256) by the same engine and model, and finishes the rest.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from coder.pipeline import audio
from coder.pipeline import formats
from coder.pipeline.asr import Engine
from coder.pipeline.diarize import DEFAULT_SPEAKERS, Turn
from coder.pipeline.progress import AudioProgress
from coder.pipeline.rttm import RTTMError, turns_for
from coder.pipeline.transcribe import transcribe_file


@dataclass
class BatchReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def already_done(out_json: Path, sha256: str, engine: Engine, diarization: str | None = None) -> bool:
    try:
        doc = json.loads(out_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    same = (doc.get("sha256"), doc.get("engine"), doc.get("model")) == (sha256, engine.name, engine.model_label)
    done_with = (doc.get("diarization") or {}).get("method")
    # a builtin run on a one-microphone-per-person recording records "channels"
    return same and (diarization is None or done_with == diarization
                     or (diarization, done_with) == ("builtin", "channels"))


def _duration(path: str) -> float:
    import soundfile as sf

    try:
        return float(sf.info(path).duration)
    except Exception:
        return 0.0


def transcribe_batch(paths: list[str], engine: Engine, out_dir: Path, diarizer: str = "builtin",
                     num_speakers: int | None = DEFAULT_SPEAKERS, language: str | None = None, use_vad: bool = True,
                     force: bool = False, log: Callable[[str], None] = print, show_progress: bool | None = None,
                     rttm: dict[str, list[Turn]] | None = None, therapist_voiceprint=None,
                     diarizer_options: dict | None = None) -> BatchReport:
    """Transcribe ``paths`` into ``out_dir``. ``rttm`` maps a recording's stem to turns that replace automatic
    diarisation for it (with a single input, a file's only URI applies whatever its name)."""
    report = BatchReport()
    durations = [_duration(p) for p in paths]
    show = sys.stderr.isatty() if show_progress is None else show_progress
    # a bar on the terminal only: elsewhere the lines per file are the record
    bar = AudioProgress(sum(durations), write=log, bar_file=sys.stderr) if show else None
    say = bar.say if bar is not None else log
    done_s = 0.0

    for i, path in enumerate(paths):
        if bar is not None:
            bar.label(f"file {i + 1}/{len(paths)}")
        stem = Path(path).stem

        def advance(seconds: float, _start=done_s):
            if bar is not None:
                bar.update(_start + seconds)

        turns = None
        if rttm:
            try:
                turns = turns_for(rttm, stem, only_uri_applies=len(paths) == 1)
            except RTTMError:
                pass  # no turns for this input: diarised automatically
        try:
            digest = audio.sha256_file(path) if Path(path).is_file() else None
            method = "rttm" if turns is not None else diarizer
            if not force and digest and already_done(out_dir / f"{stem}.json", digest, engine, method):
                report.skipped.append(path)
                say(f"[{i + 1}/{len(paths)}] {path}: already transcribed with {engine.name} ({engine.model_label}), "
                    "skipped")
            else:
                doc = transcribe_file(path, engine, diarizer=diarizer, num_speakers=num_speakers, language=language,
                                      use_vad=use_vad, progress=advance, sha256=digest, turns=turns,
                                      therapist_voiceprint=therapist_voiceprint, diarizer_options=diarizer_options)
                formats.write_all(doc, out_dir, stem)
                report.done.append(path)
                words = sum(len(s["words"]) for s in doc["segments"])
                say(f"[{i + 1}/{len(paths)}] {path}: {doc['duration'] / 60:.1f} min, {words} words"
                    f" -> {out_dir / stem}.json")
                for warning in doc["diarization"]["warnings"]:
                    say(f"warning: {path}: {warning}")
                if doc["no_speech"]:
                    say(f"note: {path}: no speech found; the transcript is empty (no_speech: true)")
                if doc["channels"]["layout"] == "speaker-per-channel":
                    say(f"note: {path}: {doc['channels']['count']} channels with one speaker per channel; "
                        "transcribed from their mix, speakers taken from the channels")
        except (audio.AudioError, OSError) as exc:
            report.failed.append((path, str(exc)))
            say(f"error: {path}: {exc}")
        except Exception as exc:  # one bad input must not stop the batch
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            report.failed.append((path, reason))
            say(f"error: {path}: {reason}")
        done_s += durations[i]
        advance(0.0, done_s)
    if bar is not None:
        bar.close()
    return report
