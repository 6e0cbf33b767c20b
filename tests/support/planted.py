"""The demo session with names planted in it, shared by the de-identification tests (storage, requests and the
browser): the scripted turns with some texts replaced, the words spread evenly over each turn."""
from __future__ import annotations

from .rating_study import script_segments

PEOPLE = {"Client": ["Maria", "Maria Lopez"], "Therapist": ["Helen"], "Sister": ["Anna"]}
# turn -> the text planted in place of the script's (the demo session names nobody)
PLANTED = {
    0: "Good to see you again, Maria. Before we start, how has your week been?",
    3: "Yes. I brought the sheet with me. My sister Anna helped me write down my worried thoughts.",
    5: "Four times, I think. I missed the weekend because we drove to Leeds to see Anna.",
}
NAMES = ("Maria", "Anna", "Leeds")


def planted_segments(planted: dict[int, str] = PLANTED) -> list[dict]:
    """The demo session's scripted turns with ``planted`` texts, the words spread evenly over each turn."""
    segments = script_segments()
    for i, text in planted.items():
        seg = segments[i]
        words = text.split()
        step = (seg["end"] - seg["start"]) / len(words)
        seg["text"] = text
        seg["words"] = [{"start": round(seg["start"] + k * step, 3), "end": round(seg["start"] + (k + 0.8) * step, 3),
                         "text": w, "speaker": seg["speaker"], "probability": 1.0} for k, w in enumerate(words)]
    return segments
