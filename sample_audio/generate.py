#!/usr/bin/env python3
"""Synthesise a two-speaker session from its script with espeak-ng and sox.

Each turn of the script (default: ``demo_session.script.txt``) is spoken by
one of two distinct espeak-ng voices, the turns are joined with short pauses, and the result is
written as Ogg Vorbis (16 kHz mono) together with the reference speaker turns
(RTTM) and a JSON list of turns with their text, so tests know the truth.

A script line is ``ROLE|text``; the turn starts ``GAP_S`` after the end of everything before it. Two markers
plant simultaneous speech: ``ROLE<S|text`` starts S seconds before the previous turn ends (an overlap at the
switch), and ``ROLE@S|text`` starts S seconds after the previous turn's start and is mixed over it without
moving the turns after it (a back-channel, or talk over the other). Such turns are marked ``"planted"`` in the
JSON list.

    python3 sample_audio/generate.py [SCRIPT] [--out DIR] [--therapist VOICE:PITCH:WPM] [--client ...]

Needs Debian's ``espeak-ng`` and ``sox`` (``apt-get install espeak-ng sox``).
"""
from __future__ import annotations

import argparse
import array
import json
import re
import subprocess
import tempfile
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
VOICES = {
    # role: (speaker id, espeak-ng voice, pitch 0-99, words per minute)
    "T": ("therapist", "en-us+m3", 35, 150),
    "C": ("client", "en+f2", 70, 160),
}
RATE = 16000
GAP_S = 0.7  # pause between turns
LEAD_S = 0.5  # silence before the first turn


_ROLE = re.compile(r"^\s*([A-Z])\s*(?:([<@])\s*([0-9.]+))?\s*$")


def read_script(path: Path) -> list[tuple[str, str, str | None, float]]:
    """(role, text, marker or None, seconds) per turn."""
    turns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        head, text = line.split("|", 1)
        match = _ROLE.match(head)
        if not match:
            raise SystemExit(f"{path}: cannot read the turn's head {head!r} (ROLE, ROLE<SECONDS or ROLE@SECONDS)")
        role, marker, secs = match.groups()
        turns.append((role, text.strip(), marker, float(secs) if secs else 0.0))
    return turns


def _samples(path: Path) -> array.array:
    with wave.open(str(path)) as w:
        data = array.array("h", w.readframes(w.getnframes()))
    return data


def _place(track: array.array, piece: array.array, at: int) -> None:
    """Mix ``piece`` into ``track`` from sample ``at`` on (16-bit, clipped), lengthening it as needed."""
    if at > len(track):
        track.extend(array.array("h", bytes(2 * (at - len(track)))))
    shared = min(len(track) - at, len(piece))
    for i in range(shared):
        track[at + i] = max(-32768, min(32767, track[at + i] + piece[i]))
    track.extend(piece[shared:])


def synth(text: str, voice: str, pitch: int, wpm: int, out: Path) -> float:
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(wpm), "-w", str(raw), text], check=True)
    # Resample to 16 kHz mono and trim the synthesiser's leading/trailing silence.
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out),
                    "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"], check=True)
    with wave.open(str(out)) as w:
        return w.getnframes() / w.getframerate()


def _voice(spec: str) -> tuple[str, int, int]:
    voice, pitch, wpm = spec.split(":")
    return voice, int(pitch), int(wpm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path, nargs="?", default=HERE / "demo_session.script.txt")
    parser.add_argument("--out", type=Path, help="Output folder (default: the script's folder).")
    parser.add_argument("--therapist", type=_voice, help="espeak-ng voice:pitch:words-per-minute")
    parser.add_argument("--client", type=_voice, help="espeak-ng voice:pitch:words-per-minute")
    args = parser.parse_args()
    for role, spec in (("T", args.therapist), ("C", args.client)):
        if spec:
            VOICES[role] = (VOICES[role][0], *spec)
    turns = read_script(args.script)
    args.out = args.out or args.script.parent
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.script.name.split(".")[0]
    reference = []
    track = array.array("h")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        end = LEAD_S - GAP_S  # where everything so far ends: the next plain turn starts GAP_S after it
        previous = None  # (start, end) of the last turn not mixed over another
        for i, (role, text, marker, secs) in enumerate(turns):
            speaker, voice, pitch, wpm = VOICES[role]
            wav = tmp / f"turn{i:03d}.wav"
            dur = synth(text, voice, pitch, wpm, wav)
            if marker is None or previous is None:
                start = end + GAP_S
            elif marker == "<":
                start = previous[1] - secs
            else:
                start = previous[0] + secs
            at = int(round(start * RATE))
            start = at / RATE
            _place(track, _samples(wav), at)
            turn = {"start": round(start, 3), "end": round(start + dur, 3), "speaker": speaker, "text": text}
            if marker:
                turn["planted"] = {"<": "overlap", "@": "over"}[marker]
            reference.append(turn)
            if marker != "@":
                previous = (start, start + dur)
            end = max(end, start + dur)
        _place(track, array.array("h", bytes(2 * int(round(GAP_S * RATE)))), len(track))
        t = len(track) / RATE
        joined = tmp / "joined.wav"
        with wave.open(str(joined), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(track.tobytes())
        subprocess.run(["sox", str(joined), "-C", "4", str(args.out / f"{stem}.ogg")], check=True)
    with open(args.out / f"{stem}.rttm", "w") as f:
        for turn in reference:
            f.write(f"SPEAKER {stem} 1 {turn['start']:.3f} {turn['end'] - turn['start']:.3f} <NA> <NA> {turn['speaker']} <NA> <NA>\n")
    (args.out / f"{stem}.turns.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"{stem}.ogg: {t:.1f} s, {len(reference)} turns")


if __name__ == "__main__":
    main()
