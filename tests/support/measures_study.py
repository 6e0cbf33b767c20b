"""Scripted transcripts for the recordings of a study (analysis_study's, whose audio does not exist), so that their
session process measures can be computed and stored without audio: per dyad a client talk ratio and a client
response latency, per session some noise, over the first ten minutes (each recording's rated unit)."""
from __future__ import annotations

import numpy as np
from sqlalchemy import select

from coder.db import Database
from coder.study.measures import store_measures, study_recordings
from coder.study.models import Recording, Speaker, Study, Transcript
from coder.study.scope import in_study

T, C = "SPEAKER_00", "SPEAKER_01"
LENGTH_S = 600.0


def scripted_segments(rng: np.random.Generator, ratio: float, latency: float) -> list[dict]:
    """Alternating therapist and client turns: the client's turns ``ratio`` times the therapist's, after a switching
    pause around ``latency`` seconds; the therapist answers after 0.3-0.8 s. Words at 2.5 per second."""
    segments, t = [], 1.0
    while True:
        lt = rng.uniform(3.0, 8.0)
        lc = lt * ratio * rng.uniform(0.8, 1.25)
        gap = max(0.05, latency + rng.normal(0, 0.2))
        if t + lt + gap + lc > LENGTH_S - 1:
            return segments
        for speaker, start, end in ((T, t, t + lt), (C, t + lt + gap, t + lt + gap + lc)):
            words = max(1, int((end - start) * 2.5))
            text = " ".join(["so"] * (words - 1) + ["right?" if speaker == T else "yes."])
            segments.append({"start": round(start, 3), "end": round(end, 3), "speaker": speaker, "text": text})
        t += lt + gap + lc + rng.uniform(0.3, 0.8)


def transcribe_and_measure(database: Database, study_name: str, seed: int = 7) -> int:
    """Give every recording of the study a scripted transcript and store its measures; how many recordings."""
    rng = np.random.default_rng(seed)
    dyad_params: dict[int, tuple[float, float]] = {}
    with database.session() as db:
        study = db.scalar(select(Study).where(Study.name == study_name))
        recordings = list(db.scalars(in_study(select(Recording), Recording, study).order_by(Recording.id)))
        for rec in recordings:
            dyad = rec.session.dyad_id
            if dyad not in dyad_params:
                dyad_params[dyad] = (rng.uniform(0.5, 2.0), rng.uniform(0.3, 1.5))
            ratio, latency = dyad_params[dyad]
            db.add(Transcript(recording_id=rec.id, engine="script", model="scripted", language="en",
                              duration_s=LENGTH_S,
                              segments=scripted_segments(rng, ratio * rng.uniform(0.85, 1.15), latency),
                              speakers=[Speaker(label=T, role="therapist"), Speaker(label=C, role="client")]))
        db.flush()
        for rec in study_recordings(db, study):
            db.refresh(rec)
            store_measures(db, rec, voice=False)
        return len(recordings)

