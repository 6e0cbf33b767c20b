"""Transcripts in other tools' files: written as DOCX (to read, or to correct in a word processor), ELAN's EAF and
Praat's TextGrid (one tier of turns per speaker, and one of words); read back as turns from WebVTT with voices
(``<v Name>``), EAF and DOCX once a person has corrected them (``coder.pipeline.corrected`` makes segments of
those turns).

The writers take the transcribe contract's document (``coder.study.speakers.transcript_document`` for a stored
transcript) and name speakers as the other exports do (``formats.speaker_name``: display name, role, label).
A DOCX turn is one paragraph, ``[hh:mm:ss] Name: text``; the lines above the first such paragraph (title, status)
are not turns, and a paragraph without a time below one continues the turn above it. Files are written under a
temporary name and renamed into place (``formats.atomic_save``).
"""
from __future__ import annotations

import html
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import pympi
from praatio import textgrid

from coder.pipeline import formats

FORMATS = ("docx", "eaf", "textgrid")
EXPORTS = formats.FORMATS + FORMATS  # what `coder export` can write
EXTENSIONS = {"docx": "docx", "eaf": "eaf", "textgrid": "TextGrid"}  # Praat's own spelling
IMPORTS = ("vtt", "eaf", "docx")
WORD_TIER_TYPE = "words"  # the ELAN linguistic type of the word tiers


class InterchangeError(ValueError):
    """A file that cannot be read as a transcript, or a turn in it that does not fit; the message says where."""


@dataclass
class FileTurn:
    """A turn as a file gives it: ``end`` None runs to the next turn (DOCX); ``words`` are timed words where the
    file has them (EAF word tiers); ``resolution`` is how finely its start is written (s); ``participant``, an
    EAF tier's, names the speaker where ``name`` (the tier's) does not."""
    start: float
    end: float | None
    name: str
    text: str
    where: str
    words: list[dict[str, Any]] | None = None
    resolution: float = 0.001
    participant: str | None = None


def clock(t: float) -> str:
    """hh:mm:ss of a time, the seconds cut (not rounded) as in the text export."""
    seconds = int(round(t * 1000)) // 1000
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _ms(t: float) -> int:
    return int(round(float(t) * 1000))


def tier_names(doc: dict[str, Any]) -> dict[str, str]:
    """Each speaker label of the document's segments (and speakers) → its tier name: its display name, role or
    label, with the label added where two speakers would share a name."""
    labels = list(doc.get("speakers") or {})
    labels += [s["speaker"] for s in doc["segments"] if s["speaker"] not in labels]
    names = {label: formats.speaker_name(doc, label) for label in labels}
    taken = [n.casefold() for n in names.values()]
    return {label: name if taken.count(name.casefold()) == 1 else f"{name} ({label})" for label, name in names.items()}


def spans(segments: list[dict[str, Any]], ms: bool = False) -> list[tuple[Any, Any, dict[str, Any]]]:
    """(start, end, segment) of one speaker's segments as tiers hold them: in time order, each starting no earlier
    than the one before ends and lasting at least a millisecond (ELAN and Praat refuse overlaps on a tier)."""
    out = []
    for seg in sorted(segments, key=lambda s: (s["start"], s["end"])):
        start, end = _ms(seg["start"]), _ms(seg["end"])
        if out:
            start = max(start, out[-1][1])
        end = max(end, start + 1)
        out.append((start, end, seg))
    return out if ms else [(a / 1000, b / 1000, seg) for a, b, seg in out]


def word_spans(seg: dict[str, Any], start_ms: int, end_ms: int) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) of a turn's words held inside its span [start_ms, end_ms], in order, not
    overlapping; words with no room left are left out."""
    out = []
    for w in seg.get("words") or []:
        text = w.get("text", "").strip()
        a = max(_ms(w["start"]), start_ms, out[-1][1] if out else start_ms)
        b = min(_ms(w["end"]), end_ms)
        if text and b > a:
            out.append((a, b, text))
    return out


# --- writing ---------------------------------------------------------------------------------------------




def _status(doc: dict[str, Any]) -> str:
    review = doc.get("review") or {}
    status = str(review.get("status") or "automatic").replace("_", " ")
    return f"Status: {status}, revision {review.get('revision', 0)}"


def write_docx(doc: dict[str, Any], path: Path, title: str | None = None) -> None:
    """A title (the recording's file name by default), the review status and revision, then
    ``[hh:mm:ss] Name: text`` a turn."""
    out = docx.Document()
    out.add_heading(title or Path(str(doc.get("audio") or "transcript")).name, level=1)
    out.add_paragraph(_status(doc))
    names = tier_names(doc)
    for seg in doc["segments"]:
        paragraph = out.add_paragraph()
        paragraph.add_run(f"[{clock(seg['start'])}] ")
        paragraph.add_run(f"{names[seg['speaker']]}:").bold = True
        paragraph.add_run(f" {seg['text'].strip()}")
    formats.atomic_save(path, lambda tmp: out.save(str(tmp)))


def link_media(eaf: pympi.Elan.Eaf, audio: str) -> None:
    """Link an EAF document to its recording (absolute URL, and the file's name beside the EAF), if any."""
    if audio:
        media = Path(audio)
        mime = "audio/x-wav" if media.suffix.lower() == ".wav" else (mimetypes.guess_type(media.name)[0] or "audio/*")
        eaf.add_linked_file(media.absolute().as_uri(), relpath=f"./{media.name}", mimetype=mime)


def write_eaf(doc: dict[str, Any], path: Path) -> None:
    """A tier of turns per speaker (named as the exports name them; its participant is the speaker's label) with
    a tier of its words below it, linked to the recording."""
    eaf = pympi.Elan.Eaf(author="coder")
    eaf.remove_tier("default")
    eaf.add_linguistic_type(WORD_TIER_TYPE, "Included_In")
    link_media(eaf, str(doc.get("audio") or ""))
    names = tier_names(doc)
    for label, name in names.items():
        mine = [s for s in doc["segments"] if s["speaker"] == label]
        if not mine:
            continue
        eaf.add_tier(name, ling="default-lt", part=label)
        word_tier = f"{name} words"
        eaf.add_tier(word_tier, ling=WORD_TIER_TYPE, parent=name, part=label)
        for start, end, seg in spans(mine, ms=True):
            eaf.add_annotation(name, start, end, seg["text"].strip())
            for a, b, text in word_spans(seg, start, end):
                eaf.add_annotation(word_tier, a, b, text)
    # ELAN numbers the annotations a person adds from this property
    eaf.properties = [p for p in eaf.properties if p[0] != "lastUsedAnnotation"] + [("lastUsedAnnotation", eaf.maxaid)]
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + pympi.Elan.to_string(eaf)
    formats.atomic_write(path, text)


def write_textgrid(doc: dict[str, Any], path: Path) -> None:
    """An interval tier of turns per speaker and one of its words ("Name words"), from 0 to the recording's end."""
    end = max([float(doc.get("duration") or 0.0)] + [float(s["end"]) for s in doc["segments"]] + [0.001])
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=end)
    for label, name in tier_names(doc).items():
        mine = [s for s in doc["segments"] if s["speaker"] == label]
        if not mine:
            continue
        placed = spans(mine, ms=True)
        turns = [(a / 1000, b / 1000, seg["text"].strip()) for a, b, seg in placed]
        words = [(a / 1000, b / 1000, text)
                 for start, stop, seg in placed for a, b, text in word_spans(seg, start, stop)]
        grid.addTier(textgrid.IntervalTier(name, turns, 0.0, end))
        grid.addTier(textgrid.IntervalTier(f"{name} words", words, 0.0, end))
    formats.atomic_save(path, lambda tmp: grid.save(str(tmp), format="long_textgrid", includeBlankSpaces=True))


def write(doc: dict[str, Any], out_dir: Path, stem: str, fmts: tuple[str, ...] = formats.FORMATS,
          title: str | None = None) -> dict[str, Path]:
    """OUT_DIR/STEM.EXT for each of ``fmts`` (any of EXPORTS; ``coder transcribe``'s four by default);
    ``title`` heads the DOCX."""
    unknown = [f for f in fmts if f not in EXPORTS]
    if unknown:
        raise InterchangeError(f"unknown format {', '.join(unknown)}; choose from {', '.join(EXPORTS)}")
    out_dir = Path(out_dir)
    paths = formats.write_all(doc, out_dir, stem, tuple(f for f in fmts if f in formats.FORMATS))
    writers = {"docx": lambda p: write_docx(doc, p, title), "eaf": lambda p: write_eaf(doc, p),
               "textgrid": lambda p: write_textgrid(doc, p)}
    for fmt in FORMATS:
        if fmt in fmts:
            paths[fmt] = out_dir / f"{stem}.{EXTENSIONS[fmt]}"
            writers[fmt](paths[fmt])
    return paths


# --- reading ---------------------------------------------------------------------------------------------

_VTT_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})"
_VTT_TIMING = re.compile(rf"^\s*{_VTT_TIME}\s+-->\s+{_VTT_TIME}(?:\s.*)?$")
_VOICE = re.compile(r"^<v(?:\.[^\s>]*)?[ \t]+([^>]*)>(.*)$", re.S)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_DOCX_TURN = re.compile(r"^\s*\[\s*(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?\s*\]\s*(.*)$", re.S)


def _seconds(h: str | None, m: str, s: str, fraction: str | None = None) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _text_of(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InterchangeError(f"{Path(path).name}: not a text file (UTF-8)") from None


def read_vtt(path: Path) -> list[FileTurn]:
    """The cues of a WebVTT file, each a turn of the voice it names (``<v Name>``); a cue without a voice is an
    error."""
    name = Path(path).name
    lines = _text_of(path).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or not lines[0].startswith("WEBVTT"):
        raise InterchangeError(f"{name}: not a WebVTT file (it must start with WEBVTT)")
    blocks, block = [], []
    for number, line in enumerate(lines[1:], start=2):
        if line.strip():
            block.append((number, line))
        elif block:
            blocks.append(block)
            block = []
    if block:
        blocks.append(block)
    turns = []
    for block in blocks:
        first = block[0][1]
        if first.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in first:
            continue
        timing_at = next((i for i, (_, line) in enumerate(block[:2]) if "-->" in line), None)
        if timing_at is None:
            raise InterchangeError(f"{name}, line {block[0][0]}: expected a cue's times (00:00:01.000 --> "
                                   f"00:00:02.000)")
        number, timing = block[timing_at]
        found = _VTT_TIMING.match(timing)
        if not found:
            raise InterchangeError(f"{name}, line {number}: cannot read the cue's times {timing.strip()!r}")
        g = found.groups()
        start, end = _seconds(*g[0:3], g[3]), _seconds(*g[4:7], g[7])
        payload = " ".join(line.strip() for _, line in block[timing_at + 1:])
        voice = _VOICE.match(payload)
        if not voice:
            raise InterchangeError(f"{name}, line {number}: the cue names no speaker (write <v Name>text)")
        text = html.unescape(_TAG.sub("", voice.group(2)))
        turns.append(FileTurn(start, end, html.unescape(voice.group(1)).strip(), " ".join(text.split()),
                              f"{name}, line {number}"))
    return turns


def read_eaf(path: Path) -> list[FileTurn]:
    """The annotations of an EAF file's top-level tiers, each tier a speaker (by its name, else its participant),
    with the words of its word tier (linguistic type "words") inside each turn. Other dependent tiers are
    ignored."""
    name = Path(path).name
    try:
        eaf = pympi.Elan.Eaf(str(path), suppress_version_warning=True)
        tiers = {t: eaf.get_parameters_for_tier(t) for t in eaf.get_tier_names()}
    except Exception:  # pympi raises bare Exception, KeyError or IndexError for what is not an EAF file
        raise InterchangeError(f"{name}: not an ELAN (.eaf) file") from None
    turns: list[FileTurn] = []
    for tier, params in tiers.items():
        if params.get("PARENT_REF"):
            continue
        words = [w for child, p in tiers.items() if p.get("PARENT_REF") == tier
                 and p.get("LINGUISTIC_TYPE_REF") == WORD_TIER_TYPE for w in _annotations(eaf, child, name)]
        for start, end, value in _annotations(eaf, tier, name):
            if not value.strip():
                continue
            inside = [{"start": a, "end": b, "text": text} for a, b, text in words if start <= (a + b) / 2 <= end]
            turns.append(FileTurn(start, end, tier, " ".join(value.split()), f"{name}, tier {tier!r} at {clock(start)}",
                                  words=inside or None, participant=params.get("PARTICIPANT")))
    return sorted(turns, key=lambda t: (t.start, t.end))


def _annotations(eaf, tier: str, name: str) -> list[tuple[float, float, str]]:
    out = []
    for row in eaf.get_annotation_data_for_tier(tier):
        start, end, value = row[0], row[1], row[2]
        if start is None or end is None:
            raise InterchangeError(f"{name}: tier {tier!r} has an annotation without times")
        out.append((start / 1000, end / 1000, str(value or "")))
    return sorted(out)


def read_docx(path: Path, names: list[str] = ()) -> list[FileTurn]:
    """The ``[hh:mm:ss] Name: text`` paragraphs of a DOCX file (``names``: the speakers' names, so that a name
    with a colon in it is read whole); each turn ends where the next begins."""
    label = Path(path).name
    try:
        document = docx.Document(str(path))
    except Exception:  # python-docx raises several kinds for what is not a Word file
        raise InterchangeError(f"{label}: not a Word (.docx) file") from None
    lines = [line for p in document.paragraphs for line in p.text.split("\n")]
    known = sorted(names, key=len, reverse=True)
    turns: list[FileTurn] = []
    for number, line in enumerate(lines, start=1):
        found = _DOCX_TURN.match(line)
        if not found:
            if turns and line.strip():  # the turn above went on in a paragraph of its own
                turns[-1].text = f"{turns[-1].text} {' '.join(line.split())}".strip()
            continue
        h, m, s, fraction, rest = found.groups()
        who = next((n for n in known if rest[:len(n)].casefold() == n.casefold() and rest[len(n):len(n) + 1] == ":"),
                   None)
        if who is None:
            who, colon, _ = rest.partition(":")
            if not colon:
                raise InterchangeError(f"{label}, line {number}: expected [hh:mm:ss] Name: text")
        start = _seconds(h, m, s, fraction)
        if turns and start < turns[-1].start:
            raise InterchangeError(f"{label}, line {number}: the turn at {clock(start)} comes after one at "
                                   f"{clock(turns[-1].start)}; keep the turns in time order")
        text = rest[len(who) + 1:]
        turns.append(FileTurn(start, None, who.strip(), " ".join(text.split()), f"{label}, line {number}",
                              resolution=10.0 ** -len(fraction) if fraction else 1.0))
    return turns


def format_of(path: Path, fmt: str | None = None) -> str:
    """The import format named, else the file's extension's; an error when it is none of IMPORTS."""
    chosen = (fmt or Path(path).suffix.lstrip(".")).lower()
    if chosen not in IMPORTS:
        raise InterchangeError(f"{Path(path).name}: cannot import {chosen or 'a file without an extension'}; "
                               f"import {', '.join(IMPORTS)} (--format)")
    return chosen


def read(path: Path, fmt: str | None = None, names: list[str] = ()) -> list[FileTurn]:
    """The turns of a corrected transcript file (``fmt``: vtt, eaf or docx; by default its extension's)."""
    chosen = format_of(path, fmt)
    if not Path(path).is_file():
        raise InterchangeError(f"no file {path}")
    if chosen == "vtt":
        return read_vtt(path)
    if chosen == "eaf":
        return read_eaf(path)
    return read_docx(path, names)


def speaker_lookup(speakers: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Names a file may use for each speaker (its display name, its role, its label; any case) → its label.
    A name two speakers share maps to none (the file must use another)."""
    by_name: dict[str, set[str]] = {}
    for label, info in speakers.items():
        for name in (info.get("name"), info.get("role"), label):
            if name:
                by_name.setdefault(name.casefold(), set()).add(label)
    return {name: next(iter(labels)) for name, labels in by_name.items() if len(labels) == 1}


def speaker_of(turn: FileTurn, lookup: dict[str, str], speakers: dict[str, dict[str, Any]]) -> str:
    """The label a turn's speaker name (or, for EAF, tier name then participant) maps to, or an error listing
    the names that do."""
    for name in (turn.name, turn.participant or ""):
        label = lookup.get(name.strip().casefold())
        if label is None and " (" in name and name.endswith(")"):  # "Name (LABEL)" of tier_names
            label = lookup.get(name[name.rindex(" (") + 2:-1].casefold())
        if label is not None:
            return label
    accepted = sorted(n for n in {formats.speaker_name({"speakers": speakers}, label) for label in speakers}
                      | set(speakers) if n.casefold() in lookup)
    raise InterchangeError(f"{turn.where}: no speaker {turn.name!r} in this transcript (use one of "
                           f"{', '.join(accepted)})")
