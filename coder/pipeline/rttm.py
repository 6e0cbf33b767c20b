"""RTTM speaker turns: reading a user's file (which then overrides automatic diarisation) and writing ours.

Format (NIST RT): one ``SPEAKER`` line per turn, ten space-separated fields::

    SPEAKER <uri> <channel> <onset> <duration> <NA> <NA> <speaker> <NA> <NA>

Other line types (``SPKR-INFO``, ``LEXEME``, ...) and ``;;`` comments are ignored.
"""
from __future__ import annotations

import math
from pathlib import Path

from coder.pipeline.diarize import Turn


# the longest speaker label kept (the database's speakers.label holds 50 characters)
MAX_LABEL_CHARS = 50


class RTTMError(ValueError):
    pass


def parse(text: str, source: str = "RTTM") -> dict[str, list[Turn]]:
    """Turns per URI, sorted by onset. Raises RTTMError naming the line and field at the first bad line."""
    out: dict[str, list[Turn]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith(";;") or fields[0] != "SPEAKER":
            continue
        where = f"{source}, line {number}"
        if len(fields) < 8:
            raise RTTMError(f"{where}: a SPEAKER line needs at least 8 fields "
                            f"(SPEAKER uri channel onset duration <NA> <NA> speaker), found {len(fields)}")
        try:
            onset, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise RTTMError(f"{where}: onset and duration (fields 4 and 5) must be numbers, "
                            f"found {fields[3]!r} and {fields[4]!r}") from None
        if not (math.isfinite(onset) and math.isfinite(duration)) or onset < 0 or duration < 0:
            raise RTTMError(f"{where}: onset and duration must be finite and not negative, "
                            f"found {fields[3]} and {fields[4]}")
        if len(fields[7]) > MAX_LABEL_CHARS:
            raise RTTMError(f"{where}: the speaker label (field 8) is {len(fields[7])} characters long; at most "
                            f"{MAX_LABEL_CHARS} are kept")
        if duration == 0:
            continue
        out.setdefault(fields[1], []).append(Turn(onset, onset + duration, fields[7]))
    for turns in out.values():
        turns.sort(key=lambda t: (t.start, t.end))
    return out


def read(path: str | Path) -> dict[str, list[Turn]]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RTTMError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RTTMError(f"{path}: not a text file (RTTM is plain UTF-8 text)") from None
    turns = parse(text, str(path))
    if not turns:
        raise RTTMError(f"{path}: no SPEAKER lines found")
    return turns


def turns_for(rttm: dict[str, list[Turn]], stem: str, source: str = "RTTM", only_uri_applies: bool = True
              ) -> list[Turn]:
    """The turns for one recording: those under its stem, or (with ``only_uri_applies``) the only URI in the
    file whatever its name."""
    for uri in (stem, stem.replace(" ", "_")):
        if uri in rttm:
            return rttm[uri]
    if only_uri_applies and len(rttm) == 1:
        return next(iter(rttm.values()))
    raise RTTMError(f"{source}: no turns for {stem!r} (URIs in the file: {', '.join(sorted(rttm))})")


def write(turns: list[Turn], uri: str) -> str:
    uri = uri.replace(" ", "_")
    return "".join(f"SPEAKER {uri} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
                   for t in sorted(turns, key=lambda t: (t.start, t.end)) if t.end > t.start)
