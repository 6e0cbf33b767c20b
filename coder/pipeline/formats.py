"""Transcript exports: JSON (the contract's shape), RTTM, WebVTT and plain text (``coder.pipeline.interchange``
adds DOCX, ELAN and Praat files).

Files are written under a temporary name and renamed into place, so a reader
never sees half a file. RTTM carries the diariser's turns until a person corrects the transcript; from the
first correction on it carries the turns of the corrected segments.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from coder.pipeline import rttm
from coder.pipeline.diarize import Turn

FORMATS = ("json", "rttm", "vtt", "txt")


def atomic_write(path: Path, text: str) -> None:
    atomic_save(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_save(path: Path, save: Callable[[Path], Any]) -> None:
    """``save(tmp)`` writes the file under a temporary name beside ``path``, which then replaces ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def speaker_turns(segments: list[dict[str, Any]], max_gap: float = 1.0) -> list[tuple[str, float, float]]:
    """Consecutive segments of one speaker joined into turns (gaps up to ``max_gap`` s bridged)."""
    turns: list[list] = []
    for seg in segments:
        if turns and turns[-1][0] == seg["speaker"] and seg["start"] - turns[-1][2] <= max_gap:
            turns[-1][2] = max(turns[-1][2], seg["end"])
        else:
            turns.append([seg["speaker"], seg["start"], seg["end"]])
    return [tuple(t) for t in turns]


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def corrected(doc: dict[str, Any]) -> bool:
    """Whether a person has saved a correction of the document's transcript (its revision is above 0)."""
    return int((doc.get("review") or {}).get("revision") or 0) > 0


def to_rttm(doc: dict[str, Any], uri: str) -> str:
    """The diariser's turns (or a user's RTTM) where the document has them and nobody has corrected the
    transcript since; else turns joined from the segments (after a correction they hold the edited speakers)."""
    turns = (doc.get("diarization") or {}).get("turns")
    if turns is None or corrected(doc):
        turns = [[start, end, speaker] for speaker, start, end in speaker_turns(doc["segments"])]
    return rttm.write([Turn(float(a), float(b), str(c)) for a, b, c in turns], uri)


def _vtt_time(t: float) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def speaker_name(doc: dict[str, Any], speaker: str) -> str:
    """A speaker's display name where one was given, else the role, else the label."""
    info = doc.get("speakers", {}).get(speaker) or {}
    if info.get("name"):
        return info["name"]
    return info["role"].capitalize() if info.get("role") else speaker


def to_vtt(doc: dict[str, Any]) -> str:
    out = ["WEBVTT", ""]
    for seg in doc["segments"]:
        name = speaker_name(doc, seg["speaker"]).replace("<", "").replace(">", "")
        text = seg["text"].replace("-->", "->")
        out += [f"{_vtt_time(seg['start'])} --> {_vtt_time(seg['end'])}", f"<v {name}>{text}", ""]
    return "\n".join(out)


def to_text(doc: dict[str, Any]) -> str:
    lines = []
    for seg in doc["segments"]:
        lines.append(f"[{_vtt_time(seg['start'])[:-4]}] {speaker_name(doc, seg['speaker'])}: {seg['text']}")
    return "\n".join(lines) + ("\n" if lines else "")


def write_all(doc: dict[str, Any], out_dir: Path, stem: str, fmts: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """OUT_DIR/STEM.FMT for each of ``fmts`` (all four by default: what ``coder transcribe`` writes)."""
    out_dir = Path(out_dir)
    texts = {"json": lambda: to_json(doc), "rttm": lambda: to_rttm(doc, stem), "vtt": lambda: to_vtt(doc),
             "txt": lambda: to_text(doc)}
    paths = {fmt: out_dir / f"{stem}.{fmt}" for fmt in FORMATS if fmt in fmts}
    for fmt, path in paths.items():
        atomic_write(path, texts[fmt]())
    return paths
