"""From ratings to the analysis tables of a trial paper.

The chain, each step recorded in the tables it produces (column ``aggregation``, and in the file and
variable labels of the SPSS and Stata exports):

1. item → score per rating: the instrument's own scoring rule (reverse-keyed items reflected; subscale
   and total the mean or sum of their items; a score withheld when too many items are missing; rupture
   markers counted per kind);
2. rating → unit, the ``unit`` rule: ``mean`` over the unit's raters (raters whose score was withheld are
   left out), ``consensus`` (the consensus rating where one was recorded, else the mean over raters) or
   ``rater:NAME`` (that rater's rating only; units they did not rate are missing);
3. unit → session: the mean of the session's rated units;
4. session → dyad, the ``dyad`` rule: ``mean`` over the dyad's rated sessions, ``first`` (the rated session
   with the lowest number), ``last``, ``session:N`` (session N only), or ``slope`` (least-squares slope of
   the session scores on the session number; needs two rated sessions).

The SPSS and Stata files carry the rule in short as their file label (``coder: unit=mean,
session=mean, dyad=slope``) and in full in the ``aggregation`` column.

Tables (``aggregate``): ``long`` (one row per submitted rating, with item scores), ``units``, ``sessions``
and ``dyads`` (one row per dyad of the study, wide: one column per instrument and scale, and the client
variables of ``coder.outcomes``). A variable is named ``<instrument>_<scale>``, e.g. ``wai_o_s_total``,
``wai_o_s_bond``, ``homework_engagement_total``; rupture-marker counts ``<instrument>_<kind>_n``. An
instrument that codes events in time adds, per marker kind, ``<instrument>_<kind>_events`` (events per rating;
a unit's is the mean over its raters, a session's the sum over its rated units) and
``<instrument>_<kind>_events_per_hour`` (a session's events over the hours of its rated units; a dyad's by
the dyad rule over its sessions).
``write`` exports them as CSV, Excel, SPSS (.sav) and Stata (.dta) with a codebook.

Where the study's recordings have stored session process measures (``coder.study.measures``; current ones only,
never stale), they stand beside the scores: ``pm_th_*`` and ``pm_cl_*`` per role (therapist, client), ``pm_*``
for the range as a whole and, per session, the lag-1 vocal synchrony ``pm_sync_*``. A unit row carries the
unit's own figures, a session row the whole session's (with ``pm_definitions_version``,
``pm_transcript_revision`` and ``pm_review_status``), and a dyad row its sessions' under the dyad rule, as the
scores (``pm_n_sessions``: sessions with measures). Measure columns empty throughout are left out.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from coder.rating.scores import instruments_with_ratings, prefix, submitted_in
from coder.reports import outcomes
from coder.stats import sheetsafe
from coder.pipeline.measures import DEFINITIONS_VERSION
from coder.study import instruments, scope
from coder.study.measures import measures_and_state, study_recordings
from coder.study.models import (Assignment, ConsensusRating, Dyad, Instrument, Rating, RatingUnit, Study,
                                TherapySession)

LEVELS = ("long", "units", "sessions", "dyads")
FORMATS = ("csv", "xlsx", "sav", "dta")


class AggregationError(ValueError):
    """The rule or the data do not allow the tables asked for; the message says why."""


@dataclass(frozen=True)
class Rule:
    unit: str = "mean"
    dyad: str = "mean"

    def __post_init__(self):
        if not (self.unit in ("mean", "consensus") or (self.unit.startswith("rater:") and self.unit[6:])):
            raise AggregationError(f"unit rule {self.unit!r}: expected mean, consensus or rater:NAME")
        if not (self.dyad in ("mean", "first", "last", "slope") or re.fullmatch(r"session:\d+", self.dyad)):
            raise AggregationError(f"dyad rule {self.dyad!r}: expected mean, first, last, slope or session:N")

    def steps(self) -> list[str]:
        unit = {"mean": "rating → unit: mean over the unit's raters",
                "consensus": "rating → unit: the consensus rating where one was recorded, else the mean over "
                             "the unit's raters"}.get(self.unit) or (
            f"rating → unit: rater {self.unit[6:]}'s rating only (units they did not rate are missing)")
        dyad = {"mean": "session → dyad: mean over the dyad's rated sessions",
                "first": "session → dyad: the earliest rated session (lowest session number)",
                "last": "session → dyad: the latest rated session (highest session number)",
                "slope": "session → dyad: least-squares slope of the session scores on session number "
                         "(two rated sessions at least)"}.get(self.dyad) or (
            f"session → dyad: session {self.dyad[8:]} only")
        return ["item → score per rating: the instrument's scoring rule", unit,
                "unit → session: mean of the session's rated units", dyad]

    def describe(self, level: str = "dyads") -> str:
        return "; ".join(self.steps()[:LEVELS.index(level) + 1])

    def as_dict(self) -> dict[str, str]:
        return {"unit": self.unit, "dyad": self.dyad}

    def code(self, level: str = "dyads") -> str:
        """The rule in a few words, for file labels (SPSS allows 64 bytes, Stata 80 characters)."""
        if level == "long":
            return "coder: scores per rating"
        parts = [f"unit={self.unit}", "session=mean", f"dyad={self.dyad}"]
        return "coder: " + ", ".join(parts[:LEVELS.index(level)])


@dataclass
class Tables:
    long: pd.DataFrame
    units: pd.DataFrame
    sessions: pd.DataFrame
    dyads: pd.DataFrame
    rule: Rule
    labels: dict[str, str]  # variable -> label
    instruments: dict[str, list[str]]  # instrument key -> versions whose ratings were used
    scales: list[str] = field(default_factory=list)  # the scale variables of units, sessions and dyads
    client_variables: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)  # the process-measure variables of sessions and dyads
    measures_missing: list[str] = field(default_factory=list)  # recordings without current measures, and why

    def table(self, level: str) -> pd.DataFrame:
        return getattr(self, level)


def _scale_columns(definition: instruments.InstrumentDefinition) -> dict[str, str]:
    """Score name (as in ``_scores``) -> label, for the scales that are aggregated (not items)."""
    out = {}
    method = "mean" if definition.scoring.method == "mean" else "sum"
    if definition.scoring.total and definition.items:
        out["total"] = f"{definition.name}: total ({method} of items)"
    for sub in definition.subscales:
        out[sub.id] = f"{definition.name}: {sub.name} ({method} of items)"
    for kind in dict.fromkeys(m.kind for m in definition.markers):
        out[f"{kind}_n"] = f"{definition.name}: {kind} markers (count)"
    if definition.events is not None:
        for kind in dict.fromkeys(m.kind for m in definition.markers):
            out[f"{kind}_events"] = (f"{definition.name}: {kind} events (count; unit: mean over raters, session: "
                                     f"sum over rated units)")
            out[f"{kind}_events_per_hour"] = (f"{definition.name}: {kind} events per hour of rated unit time "
                                              f"(session: events / hours of its rated units)")
    return out


def _event_counts(definition: instruments.InstrumentDefinition, responses: dict[str, Any],
                  hours: float) -> dict[str, float | None]:
    """A rating's events per marker kind, as a count and per hour of its unit (None for a unit without a time
    range); only for instruments that code events in time."""
    if definition.events is None:
        return {}
    kinds = {m.id: m.kind for m in definition.markers}
    counts = dict.fromkeys(kinds.values(), 0)
    for event in instruments.events_of(responses):
        if event.get("code") in kinds:
            counts[kinds[event["code"]]] += 1
    out: dict[str, float | None] = {}
    for kind, n in counts.items():
        out[f"{kind}_events"] = n
        out[f"{kind}_events_per_hour"] = n / hours if hours > 0 else None
    return out


def _scores(definition: instruments.InstrumentDefinition, responses: dict[str, Any]) -> dict[str, float | None]:
    scores = instruments.score(definition, responses)
    out: dict[str, float | None] = {}
    if definition.scoring.total and definition.items:
        out["total"] = scores.total
    out.update(scores.subscales)
    for kind, counts in scores.markers.items():
        out[f"{kind}_n"] = counts["count"]
    out.update({f"item{k}": v for k, v in scores.items.items()})
    return out


def _name(key: str, score: str) -> str:
    return f"{prefix(key)}_{re.sub(r'[^0-9A-Za-z]+', '_', score).strip('_')}"


SESSION_KEYS = ["dyad", "therapist", "client", "session", "session_id", "session_date", "time_point",
                "treatment_arm"]


def _session_facts(session: TherapySession) -> dict[str, Any]:
    dyad = session.dyad
    return {"dyad": dyad.code, "therapist": dyad.therapist.code, "client": dyad.client.code,
            "session": session.number, "session_id": session.id, "session_date": session.date,
            "time_point": session.time_point, "treatment_arm": session.treatment_arm}


def _unit_facts(unit: RatingUnit) -> dict[str, Any]:
    return {"unit_id": unit.id, "unit": unit.label or f"Unit {unit.id}", "unit_start_s": unit.start_s,
            "unit_end_s": unit.end_s}


_LOAD = (joinedload(RatingUnit.session).joinedload(TherapySession.dyad)
         .joinedload(Dyad.therapist),
         joinedload(RatingUnit.session).joinedload(TherapySession.dyad)
         .joinedload(Dyad.client))


def _instrument_rows(db: Session, study: Study, keys: list[str] | None) -> list[Instrument]:
    rows = [row for row, _ in instruments_with_ratings(db, study)]
    if keys:
        unknown = set(keys) - {r.key for r in rows}
        if unknown:
            raise AggregationError(f"study {study.name!r} has no submitted ratings on {', '.join(sorted(unknown))}")
        rows = [r for r in rows if r.key in keys]
    if not rows:
        raise AggregationError(f"study {study.name!r} has no submitted ratings")
    return rows


def _definitions(db: Session, study: Study, keys: list[str] | None) -> dict[int, tuple[Instrument, Any]]:
    """Instrument row id -> (row, parsed definition), for the instruments with submitted ratings."""
    return {row.id: (row, instruments.stored(row)) for row in _instrument_rows(db, study, keys)}


def long_table(db: Session, study: Study, keys: list[str] | None = None, definitions: dict | None = None):
    """One row per submitted rating of the study: who rated what, when, and every score (items keyed).

    Returns (table, labels, {key: versions}, {key: scale variable names}).
    """
    definitions = definitions or _definitions(db, study, keys)
    labels: dict[str, str] = {}
    scales: dict[str, list[str]] = {}
    for row, d in definitions.values():
        for score, label in _scale_columns(d).items():
            labels.setdefault(_name(row.key, score), label)
            scales.setdefault(row.key, [])
            if _name(row.key, score) not in scales[row.key]:
                scales[row.key].append(_name(row.key, score))
        for item in d.items:
            labels.setdefault(_name(row.key, f"item{item.id}"),
                              f"{d.name}: item {item.id}" + (" (reverse-keyed, reflected)" if item.reverse else ""))
    stmt = (submitted_in(select(Rating), study).where(Assignment.instrument_id.in_(definitions))
            .options(joinedload(Rating.assignment).joinedload(Assignment.rating_unit).options(*_LOAD),
                     joinedload(Rating.assignment).joinedload(Assignment.instrument), joinedload(Rating.rater)))
    records = []
    for rating in db.scalars(stmt).unique():
        a = rating.assignment
        unit = a.rating_unit
        records.append({
            "rating_id": rating.id, "instrument": a.instrument.key, "version": a.instrument.version,
            **_session_facts(unit.session), **_unit_facts(unit), "rater": rating.rater.username,
            "submitted_at": rating.submitted_at, "source": rating.source,
            **{_name(a.instrument.key, k): v
               for k, v in _scores(definitions[a.instrument_id][1], rating.responses or {}).items()},
            **{_name(a.instrument.key, k): v
               for k, v in _event_counts(definitions[a.instrument_id][1], rating.responses or {},
                                         (unit.end_s - unit.start_s) / 3600).items()}})
    table = pd.DataFrame.from_records(records)
    table = table.sort_values(["instrument", "dyad", "session", "unit_start_s", "unit_id", "rater"],
                              kind="stable").reset_index(drop=True)
    versions = {key: sorted(set(table.loc[table["instrument"] == key, "version"])) for key in scales}
    return table, labels, versions, scales


def consensus_table(db: Session, study: Study, definitions: dict) -> pd.DataFrame:
    """The study's consensus ratings on these instruments (``_definitions``): unit id, instrument, scale scores."""
    stmt = (scope.in_study(select(ConsensusRating), ConsensusRating, study)
            .where(ConsensusRating.instrument_id.in_(definitions)).options(joinedload(ConsensusRating.instrument)))
    records = []
    for c in db.scalars(stmt):
        key = c.instrument.key
        scores = _scores(definitions[c.instrument_id][1], c.responses or {})
        records.append({"unit_id": c.rating_unit_id, "instrument": key,
                        **{_name(key, k): v for k, v in scores.items() if not k.startswith("item")}})
    return pd.DataFrame.from_records(records)


def _units(long: pd.DataFrame, consensus: pd.DataFrame, scales: dict[str, list[str]], rule: Rule) -> pd.DataFrame:
    facts = long.drop_duplicates("unit_id").set_index("unit_id")[SESSION_KEYS + ["unit", "unit_start_s", "unit_end_s"]]
    parts = []
    for key, columns in scales.items():
        rated = long[long["instrument"] == key]
        if rule.unit.startswith("rater:"):
            rated = rated[rated["rater"] == rule.unit[6:]]
        grouped = rated.groupby("unit_id")
        values = grouped[columns].mean()
        values[f"{prefix(key)}_n_raters"] = grouped["rater"].nunique()
        values[f"{prefix(key)}_source"] = "mean of raters" if not rule.unit.startswith("rater:") else rule.unit[6:]
        if rule.unit == "consensus" and len(consensus):
            agreed = consensus[consensus["instrument"] == key].set_index("unit_id")
            agreed = agreed[[c for c in columns if c in agreed.columns]]
            common = values.index.intersection(agreed.index)
            values.loc[common, agreed.columns] = agreed.loc[common].to_numpy(dtype=float)
            values.loc[common, f"{prefix(key)}_source"] = "consensus"
        parts.append(values)
    units = pd.concat(parts, axis=1) if parts else pd.DataFrame()
    units = facts.join(units, how="inner").reset_index()
    return units.sort_values(["dyad", "session", "unit_start_s", "unit_id"], kind="stable").reset_index(drop=True)


def _event_columns(columns: list[str]) -> tuple[list[str], list[str]]:
    """The event count and event rate columns among an instrument's scale columns."""
    return ([c for c in columns if c.endswith("_events")], [c for c in columns if c.endswith("_events_per_hour")])


def _sessions(units: pd.DataFrame, scales: dict[str, list[str]]) -> pd.DataFrame:
    columns = [c for cs in scales.values() for c in cs]
    grouped = units.groupby("session_id")
    sessions = grouped[[k for k in SESSION_KEYS if k != "session_id"]].first()
    sessions = sessions.join(grouped[columns].mean())
    for key, cs in scales.items():
        sessions[f"{prefix(key)}_n_units"] = grouped[cs].apply(lambda f: int(f.notna().any(axis=1).sum()))
        counts, rates = _event_columns(cs)
        if counts:
            # a session's events: the sum over its rated units (each the mean over its raters); its rate: those
            # events over the hours of the same units
            rated = units[units[f"{prefix(key)}_n_raters"].notna()]
            hours = (rated["unit_end_s"] - rated["unit_start_s"]) / 3600
            by_session = rated.groupby("session_id")
            sessions[counts] = by_session[counts].sum(min_count=1).reindex(sessions.index)
            total_hours = hours.groupby(rated["session_id"]).sum().reindex(sessions.index)
            for count, rate in zip(counts, rates):
                sessions[rate] = (sessions[count] / total_hours).where(total_hours > 0)
    sessions = sessions.reset_index()
    return sessions[SESSION_KEYS + [c for c in sessions.columns if c not in SESSION_KEYS]] \
        .sort_values(["dyad", "session"], kind="stable").reset_index(drop=True)


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~np.isnan(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return np.nan
    xs, ys = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    return float((xs * ys).sum() / (xs * xs).sum())


def _dyad_values(sessions: pd.DataFrame, key: str, columns: list[str], rule: Rule) -> dict[str, Any]:
    rated = sessions[sessions[columns].notna().any(axis=1)].sort_values("session")
    p = prefix(key)
    out: dict[str, Any] = {f"{p}_n_sessions": len(rated)}
    if rule.dyad == "mean":
        out.update(rated[columns].mean().to_dict())
    elif rule.dyad == "slope":
        x = rated["session"].to_numpy(dtype=float)
        out.update({c: _slope(x, rated[c].to_numpy(dtype=float)) for c in columns})
    else:
        chosen = (rated.head(1) if rule.dyad == "first" else rated.tail(1) if rule.dyad == "last"
                  else rated[rated["session"] == int(rule.dyad[8:])])
        out.update({c: (chosen[c].iloc[0] if len(chosen) else np.nan) for c in columns})
        out[f"{p}_session"] = chosen["session"].iloc[0] if len(chosen) else np.nan
    return out


def _dyads(db: Session, study: Study, sessions: pd.DataFrame, scales: dict[str, list[str]], rule: Rule) -> pd.DataFrame:
    dyads = db.scalars(scope.in_study(select(Dyad), Dyad, study)
                       .options(joinedload(Dyad.therapist), joinedload(Dyad.client))).all()
    records = []
    for dyad in sorted(dyads, key=lambda d: d.code):
        mine = sessions[sessions["dyad"] == dyad.code]
        row: dict[str, Any] = {"dyad": dyad.code, "therapist": dyad.therapist.code, "client": dyad.client.code,
                               "n_sessions": int(len(mine))}
        for key, columns in scales.items():
            row.update(_dyad_values(mine, key, columns, rule))
        records.append(row)
    return pd.DataFrame.from_records(records)


# --- session process measures -----------------------------------------------------------------------------------

MEASURES_KEY = "pm"
ROLES = {"therapist": "th", "client": "cl"}
# per speaker's role: measure -> (column suffix, what it is, unit); definitions in docs/measures.md
ROLE_MEASURES = {
    "speaking_time_s": ("speaking_time_s", "speaking time", "s"),
    "speaking_share": ("speaking_share", "speaking share", "0-1"),
    "words": ("words", "words", "n"),
    "speech_rate_wpm": ("speech_rate_wpm", "speech rate", "words per minute of speech"),
    "turns": ("turns", "turns", "n"),
    "turn_length_mean_s": ("turn_length_mean_s", "turn length, mean", "s"),
    "turn_length_median_s": ("turn_length_median_s", "turn length, median", "s"),
    "switching_pause_n": ("switching_pause_n", "switching pauses into their turns", "n"),
    "switching_pause_mean_s": ("switching_pause_mean_s", "switching pause before their turns, mean", "s"),
    "switching_pause_median_s": ("switching_pause_median_s", "switching pause before their turns, median", "s"),
    "floor_transfer_offset_mean_s": ("fto_mean_s", "floor transfer offset into their turns, mean", "s"),
    "overlap_time_s": ("overlap_time_s", "time speaking in overlap", "s"),
    "interruptions_made": ("interruptions_made", "interruptions made", "n"),
    "interrupted": ("interrupted", "times interrupted", "n"),
    "backchannels_made": ("backchannels_made", "back-channels made", "n"),
    "backchannels_received": ("backchannels_received", "back-channels received", "n"),
    "overlaps_made": ("overlaps_made", "other overlaps made", "n"),
    "questions": ("questions", "questions", "n"),
    "questions_per_10_min": ("questions_per_10_min", "questions per 10 minutes", "per 10 min"),
    "f0_mean_hz": ("f0_mean_hz", "F0 mean", "Hz"),
    "f0_sd_hz": ("f0_sd_hz", "F0 SD", "Hz"),
    "f0_sd_semitones": ("f0_sd_semitones", "F0 SD", "semitones"),
    "intensity_db": ("intensity_db", "intensity", "dB re 20 uPa, relative"),
    "arousal_mean": ("arousal_mean", "vocal arousal of their turns, mean", "z"),
}
# for the range as a whole
RANGE_MEASURES = {
    "speech_time_s": ("speech time (anyone speaking)", "s"),
    "silence_time_s": ("silence time", "s"),
    "silences": ("silences", "n"),
    "long_silences": ("long silences (>= 3 s)", "n"),
    "long_silence_time_s": ("long silence time (>= 3 s)", "s"),
    "overlaps": ("overlap episodes", "n"),
    "overlap_time_s": ("overlap time", "s"),
    "switches": ("speaker switches", "n"),
    "overlapped_switches": ("overlapped switches", "n"),
    "switching_pause_mean_s": ("switching pause, mean", "s"),
    "switching_pause_median_s": ("switching pause, median", "s"),
    "interruptions": ("interruptions", "n"),
    "backchannels": ("back-channels", "n"),
}
# the session's vocal synchrony at lag 1: (leader, follower) -> column stem
SYNCHRONY = {("therapist", "client"): "pm_sync_th_cl", ("client", "therapist"): "pm_sync_cl_th"}
MEASURE_FACTS = ("pm_definitions_version", "pm_transcript_revision", "pm_review_status")


def measure_labels() -> dict[str, str]:
    """Each process-measure column's label: what, its unit, the definitions version."""
    v = f"measures v{DEFINITIONS_VERSION}"
    labels = {f"{MEASURES_KEY}_{abbr}_{column}": f"{role}: {what} ({unit}; {v})"
              for role, abbr in ROLES.items() for column, what, unit in ROLE_MEASURES.values()}
    labels.update({f"{MEASURES_KEY}_{name}": f"{what} ({unit}; {v})" for name, (what, unit) in RANGE_MEASURES.items()})
    for (leader, follower), stem in SYNCHRONY.items():
        labels[f"{stem}_r"] = f"vocal synchrony, {follower} following {leader}, lag 1 (Pearson r; {v})"
        labels[f"{stem}_excess"] = f"vocal synchrony, {follower} following {leader}, lag 1, r - surrogate mean ({v})"
    labels["pm_definitions_version"] = "process measures: version of their definitions (docs/measures.md)"
    labels["pm_transcript_revision"] = "process measures: transcript revision measured (0: automatic)"
    labels["pm_review_status"] = "process measures: the transcript's review status"
    labels["pm_n_sessions"] = "process measures: sessions with measures"
    labels["pm_session"] = "process measures: the session the dyad's measures come from"
    return labels


def _range_values(item: dict[str, Any]) -> dict[str, Any]:
    """One range's (a unit's or the session's) figures as columns."""
    out: dict[str, Any] = {}
    for role, abbr in ROLES.items():
        figures = (item.get("speakers") or {}).get(role) or {}
        for name, (column, _what, _unit) in ROLE_MEASURES.items():
            out[f"{MEASURES_KEY}_{abbr}_{column}"] = figures.get(name)
    for name in RANGE_MEASURES:
        out[f"{MEASURES_KEY}_{name}"] = item.get(name)
    return out


def measure_tables(db: Session, study: Study) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The study's current stored measures: per unit (by ``unit_id``) and per session (by ``session_id``, from
    the session's first recording with measures), and the recordings left out with why."""
    units, sessions, missing = [], {}, []
    for recording in study_recordings(db, study):
        stored, now, _error = measures_and_state(db, recording)
        if stored is None:
            missing.append(f"{recording.original_name} (recording {recording.id}): {now}")
            continue
        units += [{"unit_id": u["unit_id"], **_range_values(u)} for u in stored["units"]]
        if recording.session_id in sessions:
            continue
        row = {"session_id": recording.session_id, **_range_values(stored["session"])}
        for (leader, follower), stem in SYNCHRONY.items():
            lag = ((stored.get("synchrony") or {}).get(f"{leader}->{follower}") or {}).get("1") or {}
            row[f"{stem}_r"], row[f"{stem}_excess"] = lag.get("r"), lag.get("excess")
        row.update({"pm_definitions_version": stored["definitions_version"],
                    "pm_transcript_revision": stored["revision"], "pm_review_status": stored["review_status"]})
        sessions[recording.session_id] = row
    return pd.DataFrame.from_records(units), pd.DataFrame.from_records(list(sessions.values())), missing


def _with_measures(db: Session, study: Study, units: pd.DataFrame, sessions: pd.DataFrame, labels: dict[str, str]):
    """(units, sessions, measure columns, recordings left out) with the measures joined on."""
    unit_measures, session_measures, missing = measure_tables(db, study)
    if session_measures.empty:
        return units, sessions, [], missing
    session_measures = session_measures.dropna(axis=1, how="all")
    columns = [c for c in session_measures.columns if c != "session_id" and c not in MEASURE_FACTS]
    sessions = sessions.merge(session_measures, on="session_id", how="left")
    if not unit_measures.empty:
        unit_measures = unit_measures[["unit_id", *[c for c in unit_measures.columns if c in columns]]]
        units = units.merge(unit_measures, on="unit_id", how="left")
    all_labels = measure_labels()
    for name in [*columns, *MEASURE_FACTS, "pm_n_sessions", "pm_session"]:
        labels.setdefault(name, all_labels[name])
    return units, sessions, columns, missing


def aggregate(db: Session, study: Study, rule: Rule = Rule(), keys: list[str] | None = None) -> Tables:
    """The long, unit, session and dyad tables of a study's submitted ratings under ``rule``, with the
    client variables (outcomes and covariates) joined to sessions and dyads."""
    definitions = _definitions(db, study, keys)
    long, labels, versions, scales = long_table(db, study, keys, definitions)
    if rule.unit.startswith("rater:") and rule.unit[6:] not in set(long["rater"]):
        raise AggregationError(f"rater {rule.unit[6:]!r} has no submitted ratings in study {study.name!r}")
    consensus = consensus_table(db, study, definitions) if rule.unit == "consensus" else pd.DataFrame()
    units = _units(long, consensus, scales, rule)
    sessions = _sessions(units, scales)
    units, sessions, measures, missing = _with_measures(db, study, units, sessions, labels)
    dyads = _dyads(db, study, sessions, {**scales, **({MEASURES_KEY: measures} if measures else {})}, rule)
    clients = outcomes.client_table(db, study)
    variables = [c for c in clients.columns if c != "client"]
    if variables:
        sessions = sessions.merge(clients, on="client", how="left")
        dyads = dyads.merge(clients, on="client", how="left")
    for name in variables:
        labels.setdefault(name, f"client variable {name} (imported)")
    for level, frame in (("long", long), ("units", units), ("sessions", sessions), ("dyads", dyads)):
        frame["aggregation"] = rule.describe(level)
    columns = [c for cs in scales.values() for c in cs]
    return Tables(long, units, sessions, dyads, rule, labels, versions, columns, variables, measures, missing)


# --- exports ------------------------------------------------------------------------------------------------

def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates and times as naive datetimes (UTC), for writers that do not take time zones or date objects."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out[column] = series.dt.tz_convert("UTC").dt.tz_localize(None)
        elif series.dtype == object and series.map(lambda v: isinstance(v, (dt.date, dt.datetime))).any():
            out[column] = pd.to_datetime(series)
    return out


def stata_names(columns: list[str]) -> dict[str, str]:
    """Names Stata accepts (32 characters at most), unique; the codebook keeps the full names."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        name = column[:32]
        n = 1
        while name in used:
            suffix = f"_{n}"
            name = column[:32 - len(suffix)] + suffix
            n += 1
        used.add(name)
        out[column] = name
    return out


def codebook(tables: Tables) -> pd.DataFrame:
    rows = []
    for level in LEVELS:
        frame = tables.table(level)
        names = stata_names(list(frame.columns))
        for column in frame.columns:
            rows.append({"table": level, "variable": column, "stata_name": names[column],
                         "label": tables.labels.get(column, ""),
                         "type": "numeric" if pd.api.types.is_numeric_dtype(frame[column]) else "text"})
    return pd.DataFrame(rows)


def _text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v))
                                          else str(v))
    return out


def write(tables: Tables, out_dir: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write the tables: ``long|units|sessions|dyads.csv``, ``tables.xlsx`` (one sheet per table, a
    codebook and the rule), ``.sav`` and ``.dta`` per table, and ``codebook.csv``."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise AggregationError(f"unknown format(s) {', '.join(sorted(unknown))}; expected {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    book = sheetsafe.frame(codebook(tables))  # CSV and XLSX cells pass through sheetsafe (docs/security.md)
    book.to_csv(out / "codebook.csv", index=False)
    written.append(out / "codebook.csv")
    if "csv" in formats:
        for level in LEVELS:
            path = out / f"{level}.csv"
            sheetsafe.frame(tables.table(level)).to_csv(path, index=False)
            written.append(path)
    if "xlsx" in formats:
        path = out / "tables.xlsx"
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            for level in LEVELS:
                sheetsafe.frame(_plain(tables.table(level))).to_excel(writer, sheet_name=level, index=False)
            book.to_excel(writer, sheet_name="codebook", index=False)
            pd.DataFrame({"level": LEVELS, "aggregation": [tables.rule.describe(level) for level in LEVELS]}) \
                .to_excel(writer, sheet_name="rule", index=False)
        written.append(path)
    if "sav" in formats:
        import pyreadstat

        for level in LEVELS:
            frame = _plain(tables.table(level))
            path = out / f"{level}.sav"
            pyreadstat.write_sav(frame, str(path), file_label=tables.rule.code(level)[:64],
                                 column_labels={c: tables.labels.get(c, c) for c in frame.columns})
            written.append(path)
    if "dta" in formats:
        for level in LEVELS:
            frame = _text_columns(_plain(tables.table(level)))
            names = stata_names(list(frame.columns))
            frame = frame.rename(columns=names)
            path = out / f"{level}.dta"
            frame.to_stata(path, write_index=False, version=118, data_label=tables.rule.code(level)[:80],
                           variable_labels={names[c]: tables.labels.get(c, c)[:80] for c in names})
            written.append(path)
    return written
