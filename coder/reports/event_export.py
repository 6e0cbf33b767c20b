"""A study's coded events out of coder: a CSV table and ELAN files.

CSV (``events.csv``): one row per event of every live, submitted rating (``coder.rating.events.event_table``):
study, instrument and version, dyad, session number, recording, unit, rater, the event's id, code and kind, its
start and end in seconds of the recording (the unit's start plus the time in the unit; end empty for a
moment), the times in the unit, salience and note.

ELAN (``.eaf``): one file per recording and instrument, linked to the recording, with a tier per rater × code
named ``RATER CODE`` (participant and annotator: the rater) and a tier ``units`` with the rated units. An
annotation's value is the event's salience, then ``: `` and the note when it has one. ELAN needs an
annotation to end after it starts, so a moment (and a span shorter than a millisecond) lasts ``MOMENT_S``
(0.5 s) from its start. ELAN shows a tier's annotations one after another; events of one rater and code that
overlap in time go on a further tier, ``RATER CODE (2)``, so that no time is changed.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pympi

from coder.pipeline import formats
from coder.pipeline.interchange import link_media
from coder.rating.events import Coded, event_table
from coder.stats import sheetsafe

FORMATS = ("csv", "eaf")
MOMENT_S = 0.5
UNITS_TIER = "units"


class EventExportError(ValueError):
    """Nothing to export, or a format not known; the message says which."""


def csv_text(coded: list[Coded]) -> str:
    buffer = io.StringIO()
    sheetsafe.frame(event_table(coded)).to_csv(buffer, index=False)
    return buffer.getvalue()


def _ms(t: float) -> int:
    return int(round(float(t) * 1000))


def _lanes(spans: list[tuple[int, int, Any]]) -> list[list[tuple[int, int, Any]]]:
    """Spans (start ms, end ms, value) put on as few lanes as keep each lane's spans apart, in time order."""
    lanes: list[list[tuple[int, int, Any]]] = []
    for span in sorted(spans, key=lambda s: (s[0], s[1])):
        lane = next((lane for lane in lanes if lane[-1][1] <= span[0]), None)
        if lane is None:
            lanes.append([span])
        else:
            lane.append(span)
    return lanes


def annotation_value(salience: Any, note: str | None) -> str:
    """An event's annotation: its salience, with ``: note`` after it where it has a note."""
    text = "" if salience is None or (isinstance(salience, float) and pd.isna(salience)) else f"{float(salience):g}"
    note = (note or "").strip()
    return f"{text}: {note}" if note and text else note or text


def eaf_text(coded: list[Coded]) -> str:
    """The EAF document of one recording's coded ratings on one instrument (see the module's text)."""
    eaf = pympi.Elan.Eaf(author="coder")
    eaf.remove_tier("default")
    if coded:
        link_media(eaf, coded[0].recording_path)
    units = {(c.unit_id): (_ms(c.unit_start_s), max(_ms(c.unit_end_s), _ms(c.unit_start_s) + 1), c.unit)
             for c in coded}
    tiers: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    for c in coded:
        for e in c.events:
            start = _ms(c.unit_start_s + float(e["start"]))
            end = _ms(c.unit_start_s + float(e["end"])) if e.get("end") is not None else start
            if end <= start:
                end = start + _ms(MOMENT_S)
            tiers.setdefault((c.rater, e["code"]), []).append(
                (start, end, annotation_value(e.get("salience"), e.get("note"))))
    for n, lane in enumerate(_lanes(list(units.values())), start=1):
        name = UNITS_TIER if n == 1 else f"{UNITS_TIER} ({n})"
        eaf.add_tier(name, ling="default-lt")
        for start, end, label in lane:
            eaf.add_annotation(name, start, end, label)
    for (rater, code), spans in sorted(tiers.items()):
        for n, lane in enumerate(_lanes(spans), start=1):
            name = f"{rater} {code}" if n == 1 else f"{rater} {code} ({n})"
            eaf.add_tier(name, ling="default-lt", part=rater, ann=rater)
            for start, end, value in lane:
                eaf.add_annotation(name, start, end, value)
    eaf.properties = [p for p in eaf.properties if p[0] != "lastUsedAnnotation"] + [("lastUsedAnnotation", eaf.maxaid)]
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + pympi.Elan.to_string(eaf)


def _safe(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]+", "_", text).strip("_") or "recording"


def eaf_documents(coded: list[Coded]) -> dict[str, str]:
    """File name → EAF text, one per recording and instrument with events coded on it: ``<recording's
    name>-<instrument>.eaf`` (the recording's id added where two recordings share a name)."""
    groups: dict[tuple[int, str], list[Coded]] = {}
    for c in coded:
        if c.recording_id is not None and c.definition.events is not None:
            groups.setdefault((c.recording_id, c.instrument), []).append(c)
    stems = {}
    for (recording_id, key), members in groups.items():
        stems[(recording_id, key)] = f"{_safe(Path(members[0].recording).stem)}-{_safe(key)}"
    out = {}
    for group, stem in stems.items():
        clash = list(stems.values()).count(stem) > 1
        out[f"{stem}-{group[0]}.eaf" if clash else f"{stem}.eaf"] = eaf_text(groups[group])
    return out


def eaf_zip(coded: list[Coded]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in eaf_documents(coded).items():
            archive.writestr(name, text)
    return buffer.getvalue()


def write(coded: list[Coded], out_dir: str | Path, fmt: str) -> list[Path]:
    """Write ``events.csv`` (``csv``) or an EAF file per recording and instrument (``eaf``) to ``out_dir``."""
    if fmt not in FORMATS:
        raise EventExportError(f"unknown format {fmt!r}; expected {' or '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path = out / "events.csv"
        formats.atomic_write(path, csv_text(coded))
        return [path]
    written = []
    for name, text in eaf_documents(coded).items():
        formats.atomic_write(out / name, text)
        written.append(out / name)
    return written
