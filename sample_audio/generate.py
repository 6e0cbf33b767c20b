#!/usr/bin/env python3
"""Synthesise a two-speaker session from its script with espeak-ng and sox.

Each turn of the script (default: ``demo_session.script.txt``) is spoken by
one of two distinct espeak-ng voices, the turns are joined with short pauses, and the result is
written as Ogg Vorbis (16 kHz mono) together with the reference speaker turns
(RTTM) and a JSON list of turns with their text, so tests know the truth.

    python3 sample_audio/generate.py [SCRIPT] [--out DIR] [--therapist VOICE:PITCH:WPM] [--client ...]

Needs Debian's ``espeak-ng`` and ``sox`` (``apt-get install espeak-ng sox``).
"""
from __future__ import annotations

import argparse
import json
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


def read_script(path: Path) -> list[tuple[str, str]]:
    turns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        role, text = line.split("|", 1)
        turns.append((role.strip(), text.strip()))
    return turns


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
    reference, pieces = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        silence = tmp / "gap.wav"
        lead = tmp / "lead.wav"
        for path, secs in ((silence, GAP_S), (lead, LEAD_S)):
            subprocess.run(["sox", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(path), "trim", "0", str(secs)], check=True)
        t = LEAD_S
        pieces.append(lead)
        for i, (role, text) in enumerate(turns):
            speaker, voice, pitch, wpm = VOICES[role]
            wav = tmp / f"turn{i:03d}.wav"
            dur = synth(text, voice, pitch, wpm, wav)
            reference.append({"start": round(t, 3), "end": round(t + dur, 3), "speaker": speaker, "text": text})
            pieces += [wav, silence]
            t += dur + GAP_S
        joined = tmp / "joined.wav"
        subprocess.run(["sox", *map(str, pieces), str(joined)], check=True)
        subprocess.run(["sox", str(joined), "-C", "4", str(args.out / f"{stem}.ogg")], check=True)
    with open(args.out / f"{stem}.rttm", "w") as f:
        for turn in reference:
            f.write(f"SPEAKER {stem} 1 {turn['start']:.3f} {turn['end'] - turn['start']:.3f} <NA> <NA> {turn['speaker']} <NA> <NA>\n")
    (args.out / f"{stem}.turns.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"{stem}.ogg: {t:.1f} s, {len(reference)} turns")


if __name__ == "__main__":
    main()
