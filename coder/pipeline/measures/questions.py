"""Questions in a transcript's text (English), each with the time it is asked.

What is counted: each sentence of a segment (text cut after ``.``, ``?``, ``!`` or ``…``) that
(a) ends with a question mark, or
(b) has none but opens in an interrogative form: an auxiliary or modal verb followed by a subject pronoun
    ("Do you ...", "Could we ...", "Is it ..."), or a wh-word followed by such an inversion
    ("What do you ...", "How did it ...").
Declaratives that merely open with a wh-word ("What I noticed was ...") are not counted. A question's time is
its first word's start (from the word timings where they match the text's words, else interpolated over the
segment by word position).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

AUXILIARIES = frozenset(
    "do does did don't doesn't didn't is are was were isn't aren't wasn't weren't am can could can't couldn't "
    "will would won't wouldn't shall should shouldn't have has had haven't hasn't hadn't may might must".split())
PRONOUNS = frozenset("i you he she it we they there this that anything anyone something someone".split())
WH_WORDS = frozenset("what why how when where who whom whose which".split())
_SENTENCE = re.compile(r"[^.?!…]+[.?!…]*")
_WORD = re.compile(r"[a-z']+")


@dataclass
class Question:
    speaker: str
    time: float
    text: str


def is_question(sentence: str) -> bool:
    """Rule (a) or (b) of the module's definition."""
    sentence = sentence.strip()
    if sentence.endswith("?"):
        return True
    words = _WORD.findall(sentence.lower().replace("’", "'"))
    if len(words) >= 2 and words[0] in AUXILIARIES and words[1] in PRONOUNS:
        return True
    return len(words) >= 3 and words[0] in WH_WORDS and words[1] in AUXILIARIES and words[2] in PRONOUNS


def questions(segments: list[dict[str, Any]], label=str) -> list[Question]:
    """Every question in the segments, labelled by ``label(segment speaker)``, in time order."""
    found = []
    for seg in segments:
        if seg.get("speaker") is None:
            continue
        text = seg.get("text") or ""
        tokens = text.split()
        words = seg.get("words") or []
        aligned = len(words) == len(tokens)
        position = 0
        for match in _SENTENCE.finditer(text):
            sentence = match.group().strip()
            n = len(sentence.split())
            if n and is_question(sentence):
                if aligned:
                    time = float(words[position]["start"])
                else:
                    time = seg["start"] + (seg["end"] - seg["start"]) * position / max(len(tokens), 1)
                found.append(Question(label(seg["speaker"]), float(time), sentence))
            position += n
    return sorted(found, key=lambda q: q.time)
