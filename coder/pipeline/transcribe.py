"""Transcription pipeline: audio → speech activity → ASR → guards → speakers → contract document.

Each stage is a module of its own (audio, vad, asr, guards, diarize) and usable alone.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from coder.pipeline import audio
from coder.pipeline import guards, vad
from coder.pipeline.asr import Engine
from coder.pipeline.diarize import (DEFAULT_SPEAKERS, Diarization, Turn, diarize_channels, embeddings, make_diarizer,
                                    turn_embeddings)
from coder.pipeline.memory import limit_arenas
from coder.pipeline.roles import assign_roles
from coder.pipeline.words import OverlapVoices, attribute_words

Progress = Callable[[float], None]  # called with audio seconds of the recording done so far


def remap_segments(segments: list[dict[str, Any]], tmap: vad.TimeMap) -> list[dict[str, Any]]:
    """An engine's segments, timed on the speech-only audio that ``tmap`` maps, on the recording's clock: every
    segment and word moved back to where it was said, and a segment split where its words sit either side of a
    cut-out pause (a gap over ``vad.MERGE_GAP_S``). A segment without words keeps its span, remapped."""
    out = []
    for seg in segments:
        words = []
        for w in seg.get("words", []):
            start, end = tmap.span_to_recording(w["start"], w["end"])
            words.append({**w, "start": round(start, 3), "end": round(end, 3)})
        if not words:
            start, end = tmap.span_to_recording(seg["start"], seg["end"])
            out.append({**seg, "start": round(start, 3), "end": round(end, 3), "words": []})
            continue
        run = [words[0]]
        for w in words[1:]:
            if w["start"] - run[-1]["end"] > vad.MERGE_GAP_S:
                out.append(_segment(seg, run))
                run = []
            run.append(w)
        out.append(_segment(seg, run, whole=len(run) == len(words)))
    return out


def _segment(seg: dict[str, Any], words: list[dict[str, Any]], whole: bool = False) -> dict[str, Any]:
    text = seg["text"] if whole else " ".join(w["text"] for w in words)
    return {**seg, "start": words[0]["start"], "end": words[-1]["end"], "text": text, "words": words}


def recognise(samples: np.ndarray, engine: Engine, language: str | None = None, use_vad: bool = True,
              progress: Progress | None = None) -> tuple[list[dict[str, Any]], str | None, dict[str, Any]]:
    """Speech of the recording through the engine, in batches; returns segments, language and processing notes."""
    duration = len(samples) / audio.SAMPLE_RATE
    regions = vad.speech_regions(samples) if use_vad else [(0.0, duration)]
    notes: dict[str, Any] = {"vad": use_vad, "speech_s": round(sum(e - s for s, e in regions), 3)}
    segments: list[dict[str, Any]] = []
    done = [0.0]

    def report(seconds: float) -> None:  # never backwards (a window decoded again after a fallback)
        if progress and seconds > done[0]:
            done[0] = seconds
            progress(seconds)

    for group in vad.batches(regions) if use_vad else [regions]:
        chunk, tmap = vad.speech_only(samples, group) if use_vad else (samples, _identity(duration))
        # within a batch, the engine reports the speech it has decoded: mapped back to the recording's clock
        result = engine.transcribe(chunk, language=language,
                                   progress=(lambda t, m=tmap: report(m.to_recording(t))) if progress else None)
        language = language or result.language  # detected once, then held for the rest
        segments += remap_segments(result.segments, tmap)
        report(group[-1][1])
    segments, removed = guards.apply(segments)
    notes.update(removed)
    return segments, language, notes


def speakers_of(samples: np.ndarray, segments: list[dict[str, Any]], diarizer: str, num_speakers: int | None,
                turns: list[Turn] | None = None, options: dict[str, Any] | None = None,
                pending: Beside | None = None) -> Diarization:
    """The recording's speaker turns: the given ones, or the diariser's where speech was transcribed (``pending``:
    the diariser's run, started beside the transcription by ``diarize_beside``)."""
    if turns is not None:
        result = Diarization(sorted(turns, key=lambda t: (t.start, t.end)), source="rttm")
        if diarizer == "builtin" and result.turns:
            result.embeddings = turn_embeddings(samples, result.turns)
        return result
    if not segments:  # nothing to give speakers to: whatever the diariser found or failed on is moot
        if pending is not None:
            pending.stop.set()
        return Diarization([], source=diarizer)
    if pending is not None:
        return pending.future.result()
    return make_diarizer(diarizer, **(options or {}))(samples, num_speakers)  # each backend names its source


@dataclass
class Beside:
    """A diariser's run in its own thread: its future, the event that stops it between two batches (the builtin
    diariser; the others run to the end), and its own seconds once it has ended."""

    future: Future
    stop: threading.Event
    clock: dict[str, float] = field(default_factory=dict)


@contextmanager
def diarize_beside(samples: np.ndarray, diarizer: str, num_speakers: int | None,
                   options: dict[str, Any] | None = None, wanted: bool = True) -> Iterator[Beside | None]:
    """The diariser run in a thread of its own while Whisper decodes: each leaves cores idle (Python between the
    networks' calls, the decoder between batches), so together they take less time than one after the other
    (docs/benchmarks.md). Yields the run, or None where ``wanted`` is false. Leaving the block waits for the run;
    leaving it with an error (a cancelled job, Ctrl-C) stops the run first."""
    if not wanted:
        yield None
        return
    run = make_diarizer(diarizer, **(options or {}))
    stop = threading.Event()
    if hasattr(run, "stop"):
        run.stop = stop
    clock: dict[str, float] = {}

    def timed() -> Diarization:
        t0 = time.perf_counter()
        try:
            return run(samples, num_speakers)
        finally:
            clock["diarizer_s"] = time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="diarize") as pool:
        beside = Beside(pool.submit(timed), stop, clock)
        try:
            yield beside
        except BaseException:
            stop.set()
            raise


NO_VOICES = ("words in overlapped speech went to the turn covering more of them: the CAM++ weights that tell "
             "the voices apart are missing (run `make models` or set CODER_EMBEDDING_MODEL)")


def overlap_voices(samples: np.ndarray, result: Diarization, embedding_model: str | None = None
                   ) -> OverlapVoices | None:
    """What tells apart the voices of words spoken in overlap (CAM++, the network voiceprints use), or None where
    the turns never overlap or the weights are missing (then a warning says so)."""
    if not result.overlaps:
        return None
    try:
        net = embeddings.encoder(embedding_model, embeddings.default_device())
    except embeddings.EncoderUnavailable:
        result.warnings.append(NO_VOICES)
        return None
    return OverlapVoices(samples, net.embed)


def speakers_of_words(samples: np.ndarray, segments: list[dict[str, Any]], result: Diarization,
                      embedding_model: str | None = None) -> list[dict[str, Any]]:
    """The segments split by speaker (``coder.pipeline.words``), words in overlapped speech by their voice; how
    many there were is noted in ``result.overlap_words``."""
    voices = overlap_voices(samples, result, embedding_model)
    segments = attribute_words(segments, result.turns, voices)
    if voices is not None:
        result.overlap_words = dict(voices.counts)
    return segments


def _identity(duration: float) -> vad.TimeMap:
    tmap = vad.TimeMap()
    tmap.add(0.0, duration)
    return tmap


def transcribe_file(path: str | Path, engine: Engine, diarizer: str = "builtin",
                    num_speakers: int | None = DEFAULT_SPEAKERS, language: str | None = None,
                    audio_label: str | None = None, use_vad: bool = True, progress: Progress | None = None,
                    sha256: str | None = None, turns: list[Turn] | None = None,
                    therapist_voiceprint: np.ndarray | None = None,
                    diarizer_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Transcribe one recording and return the STEM.json document of the transcribe contract.

    Beyond the contract's keys it records the audio's SHA-256 (so reruns can
    skip finished work; a caller that has just hashed the file passes it as
    ``sha256``), the channel layout, whether any speech was found
    (``no_speech``), what the guards removed (``processing``) and how the
    speakers were found (``diarization``: method, turns, warnings, each
    speaker's voice embedding). ``turns`` (for example from a user's RTTM)
    replace automatic diarisation; ``num_speakers=None`` estimates the count.
    """
    limit_arenas()  # two threads about to allocate at once (coder.pipeline.memory)
    channels = audio.load_channels(path)
    samples = channels.mean(axis=0) if channels.shape[0] > 1 else channels[0]
    duration = len(samples) / audio.SAMPLE_RATE
    layout = audio.channel_layout(channels)
    by_channel = turns is None and diarizer == "builtin" and layout == "speaker-per-channel"
    t0 = time.perf_counter()
    with diarize_beside(samples, diarizer, num_speakers, diarizer_options,
                        wanted=turns is None and not by_channel) as pending:
        segments, detected, notes = recognise(samples, engine, language, use_vad, progress)
        t1 = time.perf_counter()
        if by_channel and segments:
            result = diarize_channels(channels)  # one microphone per person: the channels say who speaks
            method = "channels"
        else:
            result = speakers_of(samples, segments, diarizer, num_speakers, turns, diarizer_options, pending)
            method = diarizer if turns is None else "rttm"
    joined = time.perf_counter()  # the diariser's thread has ended
    segments = speakers_of_words(samples, segments, result, (diarizer_options or {}).get("embedding_model"))
    speakers = assign_roles(segments, result.speakers, result.embeddings, therapist_voiceprint)
    t2 = time.perf_counter()
    if progress:
        progress(duration)
    return {
        "audio": audio_label if audio_label is not None else str(path),
        "sha256": sha256 or audio.sha256_file(path),
        "duration": round(duration, 3),
        "engine": engine.name,
        "model": engine.model_label,
        "language": detected,
        "channels": {"count": int(channels.shape[0]), "layout": layout},
        "no_speech": not segments,
        "speakers": speakers if segments else {},
        "segments": segments,
        "processing": notes,
        "diarization": result.record(method, num_speakers),
        # diarize_s: the diariser's own run (beside Whisper, in a thread) and the words' and roles' after it;
        # total_s: the two together, as the clock on the wall saw them
        "timings": {"transcribe_s": round(t1 - t0, 3),
                    "diarize_s": round((pending.clock["diarizer_s"] if pending else joined - t1) + t2 - joined, 3),
                    "total_s": round(t2 - t0, 3)},
    }
