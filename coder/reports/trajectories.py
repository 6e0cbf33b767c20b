"""Each dyad's session process measures across its sessions (docs/measures.md, Pictures): per measure a
therapist line and a client line (or one line for the session, or one per direction of synchrony) by session
number, as a picture (coder.stats.session_plot.trajectories) and as a table.

A session is measured from its first transcribed live recording (the lowest id) and that recording's
transcript's current revision; sessions without one are left out, and a recording whose measures cannot be
computed is named in the dyad's ``problems``. The measures are those of ``measures_for``: talk and turn-taking
always, vocal arousal and synchrony where they were computed with the audio.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from coder.pipeline.measures import DEFINITIONS_VERSION, MeasuresError
from coder.stats import session_plot
from coder.study.measures import NoTranscript, recording_measures, stored_measures, study_recordings
from coder.study.models import Dyad, Recording, Study
from coder.study.scope import in_study

ROLES = ("therapist", "client")
SYNCHRONY_LAG = "1"  # the adjacent-turn synchrony (synchrony.LAGS)


@dataclass(frozen=True)
class Measure:
    key: str  # the name in the measures' result
    label: str  # with its unit
    level: str  # "speaker": a line per role; "session": one line; "synchrony": a line per direction
    scale: float = 1.0  # a share is shown in per cent


MEASURES = (
    Measure("speaking_share", "talk share (%)", "speaker", 100.0),
    Measure("switching_pause_mean_s", "switching pause, mean (s)", "speaker"),
    Measure("interruptions_made", "interruptions made (count)", "speaker"),
    Measure("backchannels_made", "back-channels made (count)", "speaker"),
    Measure("speech_rate_wpm", "speech rate (words per minute)", "speaker"),
    Measure("questions_per_10_min", "questions (per 10 min)", "speaker"),
    Measure("long_silences", "long silences (count)", "session"),
    Measure("arousal_mean", "vocal arousal, mean (z)", "speaker"),
    Measure("synchrony_r", "vocal synchrony, lag 1 turn (r)", "synchrony"),
)
DIRECTIONS = {"therapist->client": "client follows therapist", "client->therapist": "therapist follows client"}


def measures_for(db: Session, recording: Recording) -> dict[str, Any]:
    """The measures of one stored recording, as ``coder.study.measures.recording_measures`` gives them. The one
    place pictures read measures from: the stored ones where they are current (with the voice measures the job
    computed), else computed here without the audio (voice measures are too slow for a page)."""
    return stored_measures(db, recording) or recording_measures(recording, voice=False)


@dataclass
class SessionPoint:
    number: int
    time_point: str | None
    recording_id: int
    revision: int
    definitions_version: int
    values: dict[tuple[str, str], float | None] = field(default_factory=dict)  # (measure key, series): value


@dataclass
class DyadTrajectory:
    dyad_id: int
    code: str
    therapist: str
    client: str
    sessions: list[SessionPoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def series(self, measure: Measure) -> dict[str, list[tuple[int, float | None]]]:
        """{series: [(session number, value)]} for the measure's lines; a series with no value is left out."""
        out: dict[str, list[tuple[int, float | None]]] = {}
        for name in _series_names(measure):
            points = [(s.number, s.values.get((measure.key, name))) for s in self.sessions]
            if any(v is not None for _, v in points):
                out[name] = points
        return out

    def measures(self) -> list[Measure]:
        """The measures with at least one value in this dyad."""
        return [m for m in MEASURES if self.series(m)]


def _series_names(measure: Measure) -> tuple[str, ...]:
    return {"speaker": ROLES, "session": ("session",), "synchrony": tuple(DIRECTIONS.values())}[measure.level]


def session_values(result: dict[str, Any]) -> dict[tuple[str, str], float | None]:
    """One session's value of each trajectory measure and series (a role, the session, a synchrony direction)."""
    session = result["session"]
    out: dict[tuple[str, str], float | None] = {}
    for m in MEASURES:
        if m.level == "speaker":
            for role in ROLES:
                value = (session["speakers"].get(role) or {}).get(m.key)
                out[(m.key, role)] = None if value is None else float(value) * m.scale
        elif m.level == "session":
            value = session.get(m.key)
            out[(m.key, "session")] = None if value is None else float(value)
        else:
            for direction, name in DIRECTIONS.items():
                lag = ((result.get("synchrony") or {}).get(direction) or {}).get(SYNCHRONY_LAG) or {}
                out[(m.key, name)] = lag.get("r")
    return out


def dyads(db: Session, study: Study) -> list[Dyad]:
    """The study's live dyads, by code."""
    return list(db.scalars(in_study(select(Dyad), Dyad, study).order_by(Dyad.code, Dyad.id)))


def study_trajectories(db: Session, study: Study, dyad_id: int | None = None) -> list[DyadTrajectory]:
    """Every live dyad's trajectory (or only ``dyad_id``'s), by dyad code; dyads without a transcribed
    session are listed with no sessions."""
    chosen = [d for d in dyads(db, study) if dyad_id is None or d.id == dyad_id]
    out = {d.id: DyadTrajectory(d.id, d.code, d.therapist.code, d.client.code) for d in chosen}
    first: dict[int, Recording] = {}  # session id: its first transcribed recording
    for rec in study_recordings(db, study):
        if rec.session.dyad_id in out and rec.session_id not in first:
            first[rec.session_id] = rec
    for rec in sorted(first.values(), key=lambda r: (r.session.number, r.id)):
        trajectory = out[rec.session.dyad_id]
        try:
            result = measures_for(db, rec)
        except (NoTranscript, MeasuresError) as exc:
            trajectory.problems.append(f"session {rec.session.number} ({rec.original_name}): {exc}")
            continue
        trajectory.sessions.append(SessionPoint(rec.session.number, rec.session.time_point, rec.id,
                                                int(result.get("revision") or 0),
                                                result.get("definitions_version", DEFINITIONS_VERSION),
                                                session_values(result)))
    return list(out.values())


def picture(trajectory: DyadTrajectory) -> session_plot.Picture:
    """The dyad's picture: a panel per measure that has a value (session_plot.TimelineError when none has)."""
    panels = [(m.label, trajectory.series(m)) for m in trajectory.measures()]
    fig = session_plot.trajectories(panels, title=f"Dyad {trajectory.code}: measures by session")
    return session_plot.Picture(fig, label(trajectory), "trajectories")


def file_stem(trajectory: DyadTrajectory) -> str:
    """``dyad-CODE`` with what a file name cannot hold replaced."""
    return "dyad-" + re.sub(r"[^\w.-]+", "_", trajectory.code).strip(".")


def label(trajectory: DyadTrajectory) -> str:
    """The picture's text alternative."""
    names = ", ".join(m.label for m in trajectory.measures())
    numbers = ", ".join(str(s.number) for s in trajectory.sessions)
    return (f"Dyad {trajectory.code} ({trajectory.therapist} with {trajectory.client}): {names} by session "
            f"(sessions {numbers}), therapist and client lines; the values are in the table below.")


def rows(trajectory: DyadTrajectory) -> list[dict[str, Any]]:
    """The table beside the picture: a row per measure and series, a value per session."""
    out = []
    for m in trajectory.measures():
        for name, points in trajectory.series(m).items():
            out.append({"measure": m.label, "series": name, "values": [v for _, v in points]})
    return out


def long_table(trajectories: list[DyadTrajectory]) -> pd.DataFrame:
    """One row per dyad, session, measure and series (the export)."""
    records = []
    for t in trajectories:
        for s in t.sessions:
            for m in MEASURES:
                for name in _series_names(m):
                    value = s.values.get((m.key, name))
                    if value is not None:
                        records.append({"dyad": t.code, "therapist": t.therapist, "client": t.client,
                                        "session": s.number, "time_point": s.time_point,
                                        "recording_id": s.recording_id, "revision": s.revision,
                                        "measure": m.key, "label": m.label, "series": name, "value": value,
                                        "definitions_version": s.definitions_version})
    columns = ["dyad", "therapist", "client", "session", "time_point", "recording_id", "revision", "measure",
               "label", "series", "value", "definitions_version"]
    return pd.DataFrame.from_records(records, columns=columns)
