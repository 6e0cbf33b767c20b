"""Which speaker is the therapist and which the client.

Cues, each scored for a pair (candidate therapist ``a``, other speaker ``b``):

- voice: when the therapist has an enrolled voiceprint (a sample, or their
  speaker in a session whose roles a coordinator confirmed), the speaker whose
  voice is nearer to it. This outweighs the rest.
- questions: therapists ask more; the share of a speaker's sentences that end
  in a question mark.
- opening and closing: the therapist usually opens and closes the session.
- speaking time: in CBT sessions the client usually talks more; a weak cue.

The score is a weighted sum; confidence is the logistic of its size. With more
than two speakers the most therapist-like becomes the therapist, the most
client-like of the rest the client, and the others keep no role.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from coder.pipeline.diarize.embeddings import check_comparable

ROLES = ("therapist", "client")
WEIGHTS = {"voice": 45.0, "questions": 4.0, "opens": 0.8, "closes": 0.6, "speaking_time": 1.0}
# CAM++ voiceprints (bench/voices.py): one voice 0.92-0.98 apart, two 0.1-0.6 (0.80-0.82 for espeak's voices)
SAME_VOICE = 0.85
_SENTENCE = re.compile(r"[^.?!]+[.?!]*")


@dataclass
class SpeakerCues:
    speaking_s: float = 0.0
    sentences: int = 0
    questions: int = 0

    @property
    def question_rate(self) -> float:
        return self.questions / self.sentences if self.sentences else 0.0


def cues(segments: list[dict[str, Any]]) -> tuple[dict[str, SpeakerCues], str | None, str | None]:
    """Per-speaker speaking time and question counts; who spoke first and last."""
    out: dict[str, SpeakerCues] = {}
    for seg in segments:
        c = out.setdefault(seg["speaker"], SpeakerCues())
        c.speaking_s += max(0.0, seg["end"] - seg["start"])
        for sentence in _SENTENCE.findall(seg.get("text", "")):
            if sentence.strip(" .?!"):
                c.sentences += 1
                c.questions += sentence.rstrip().endswith("?")
    first = segments[0]["speaker"] if segments else None
    last = segments[-1]["speaker"] if segments else None
    return out, first, last


def therapist_score(a: str, b: str, per: dict[str, SpeakerCues], first: str | None, last: str | None,
                    voice: dict[str, float] | None = None) -> tuple[float, dict[str, float]]:
    """How much more ``a`` than ``b`` looks like the therapist (positive: a), with each cue's part."""
    total = (per[a].speaking_s + per[b].speaking_s) or 1.0
    parts = {
        "questions": WEIGHTS["questions"] * (per[a].question_rate - per[b].question_rate),
        "opens": WEIGHTS["opens"] * ((first == a) - (first == b)),
        "closes": WEIGHTS["closes"] * ((last == a) - (last == b)),
        "speaking_time": WEIGHTS["speaking_time"] * (per[b].speaking_s - per[a].speaking_s) / total,
    }
    if voice and a in voice and b in voice:
        parts["voice"] = WEIGHTS["voice"] * (voice[a] - voice[b])
    return float(sum(parts.values())), {k: round(v, 3) for k, v in parts.items()}


def assign_roles(segments: list[dict[str, Any]], speakers: list[str] | None = None,
                 embeddings: dict[str, np.ndarray] | None = None,
                 therapist_voiceprint: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """``{label: {"role", "confidence", "role_source": "auto", "cues"}}`` for every speaker."""
    per, first, last = cues(segments)
    labels = sorted(set(speakers or []) | set(per))
    for label in labels:
        per.setdefault(label, SpeakerCues())
    voice = None
    if therapist_voiceprint is not None and embeddings:
        check_comparable(therapist_voiceprint, embeddings)  # a voiceprint of another network: refused, not guessed
        vp = np.asarray(therapist_voiceprint, dtype=float)
        voice = {s: float(np.dot(np.asarray(e, dtype=float), vp)) for s, e in embeddings.items()}
    result: dict[str, dict[str, Any]] = {s: {"role": None, "confidence": None, "role_source": "auto"} for s in labels}
    if len(labels) == 0:
        return result
    if len(labels) == 1:
        only = labels[0]
        if voice and only in voice:
            # One voice: the therapist if it is theirs, else the client (a client alone is unusual but possible).
            sim = voice[only]
            role = "therapist" if sim >= SAME_VOICE else "client"
            result[only].update(role=role, confidence=round(_logistic(abs(sim - SAME_VOICE) * 20), 3),
                                cues={"voice_similarity": round(sim, 3)})
        return result
    # The therapist: the speaker that beats every other on the pairwise score by the most.
    margins = {a: min(therapist_score(a, b, per, first, last, voice)[0] for b in labels if b != a) for a in labels}
    therapist = max(labels, key=lambda s: (margins[s], -labels.index(s)))
    rest = [s for s in labels if s != therapist]
    # The client: the remaining speaker who talks most (a third voice is usually brief: a relative, an interpreter).
    client = max(rest, key=lambda s: per[s].speaking_s)
    score, parts = therapist_score(therapist, client, per, first, last, voice)
    confidence = round(_logistic(score), 3)
    result[therapist].update(role="therapist", confidence=confidence, cues=parts)
    result[client].update(role="client", confidence=confidence, cues=parts)
    return result


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def swap(roles: dict[str, str | None]) -> dict[str, str | None]:
    """Therapist and client exchanged; other speakers unchanged."""
    other = {"therapist": "client", "client": "therapist"}
    return {label: other.get(role, role) if role else role for label, role in roles.items()}
