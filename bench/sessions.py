"""The scripted benchmark sessions (see sessions/README.md), synthesised into bench/.cache on first use."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
SCRIPTS = ROOT / "bench" / "sessions"
SESSIONS = {  # stem: (script, therapist voice, client voice); None: generate.py's default voice
    "demo_session": (ROOT / "sample_audio" / "demo_session.script.txt", None, None),
    "activity_sleep": (SCRIPTS / "activity_sleep.script.txt", "en-gb+f4:55:145", "en-us+m2:40:140"),
    "thoughts_relapse": (SCRIPTS / "thoughts_relapse.script.txt", "en-us+m4:45:104", "en-gb+f1:65:100"),
    "panic_exposure": (SCRIPTS / "panic_exposure.script.txt", "en-gb+f5:50:140", "en-us+m1:30:150"),
    "missed_homework": (SCRIPTS / "missed_homework.script.txt", "en-us+m6:40:145", "en+f3:75:165"),
}
# Sessions with planted simultaneous speech (interruptions, back-channels): for the turn-taking measures, kept
# apart from SESSIONS, which the diarisation benchmark walks.
PLANTED = {"talk_over": (SCRIPTS / "talk_over.script.txt", "en-gb+f4:55:145", "en-us+m2:40:140")}
# More planted overlap, written for speaker-attributed word error (bench/attribution.py, with talk_over).
OVERLAPPING = {"cut_in": (SCRIPTS / "cut_in.script.txt", "en-us+m6:40:145", "en+f3:75:165"),
               "two_at_once": (SCRIPTS / "two_at_once.script.txt", "en-gb+f5:50:140", "en-us+m1:30:150"),
               # written after the attribution was tuned on the three above: held out
               "late_reply": (SCRIPTS / "late_reply.script.txt", "en-us+m4:45:140", "en-gb+f1:65:135")}


def synthesise(stem: str) -> tuple[Path, Path, list[dict]]:
    """(audio, reference RTTM, reference turns with text) of one session, generated when missing."""
    cache = CACHE
    cache.mkdir(parents=True, exist_ok=True)
    script, therapist, client = {**SESSIONS, **PLANTED, **OVERLAPPING}[stem]
    audio = cache / f"{stem}.ogg"
    if not audio.exists():
        cmd = [sys.executable, str(ROOT / "sample_audio" / "generate.py"), str(script), "--out", str(cache)]
        cmd += ["--therapist", therapist] if therapist else []
        cmd += ["--client", client] if client else []
        subprocess.run(cmd, check=True, capture_output=True)
    return audio, cache / f"{stem}.rttm", json.loads((cache / f"{stem}.turns.json").read_text())
