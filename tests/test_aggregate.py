"""Aggregation from ratings to unit, session and dyad scores: hand-worked examples with missing raters,
missing sessions, partial ratings, a chosen rater and a consensus; the exports."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from coder.reports import aggregation as aggregate, outcomes
from coder.rating import consensus
from coder.study import instruments
from coder.study.models import AuditEvent, ConsensusRating, Instrument, RatingUnit, User

from .support.analysis_study import KEY, build_planned, study_of

# Every item of homework-engagement gets the value shown, so the total equals it. Worked by hand:
#
# D1  session 1  unit A: ana 2, ben 4, cem completion items only → total withheld (8 items missing, 3 allowed)
#                unit B: ana 1 (ben did not rate it)
#     session 2  recorded, unit defined, nobody rated it (a missing session)
#     session 3  unit C: ben 3
# D2  session 1  unit D: ana 4, ben 2, cem 3
#     session 2  unit E: ana 0
# D3  no ratings
#
# unit totals (mean over raters): A = (2 + 4) / 2 = 3, B = 1, C = 3, D = 3, E = 0
# unit completion subscale:       A = (2 + 4 + 4) / 3 = 10/3 (cem's completion counts)
# sessions: D1 s1 = (3 + 1) / 2 = 2, D1 s3 = 3; D2 s1 = 3, D2 s2 = 0
# dyads, mean:  D1 = (2 + 3) / 2 = 2.5,  D2 = 1.5,  D3 missing
#        first: D1 = 2 (s1), D2 = 3;  last: D1 = 3 (s3), D2 = 0
#        slope: D1 = (3 − 2) / (3 − 1) = 0.5, D2 = (0 − 3) / (2 − 1) = −3
#        session:3: D1 = 3, D2 missing
# rater ana only: units A 2, B 1, D 4, E 0 → D1 s1 = 1.5 (D1 s3 unrated by ana) → D1 = 1.5; D2 = (4 + 0) / 2 = 2
# consensus of unit D recorded as 4 → D2 s1 = 4 → D2 mean = 2 (D1 unchanged)
CEM_PARTIAL = {"quantity": 4, "quality": 4, "timing": 4, "recording": 4}
PLAN = [
    ("D1", 1, "A", "ana", 2), ("D1", 1, "A", "ben", 4), ("D1", 1, "A", "cem", CEM_PARTIAL),
    ("D1", 1, "B", "ana", 1),
    ("D1", 3, "C", "ben", 3),
    ("D2", 1, "D", "ana", 4), ("D2", 1, "D", "ben", 2), ("D2", 1, "D", "cem", 3),
    ("D2", 2, "E", "ana", 0),
]
TOTAL = "homework_engagement_total"
COMPLETION = "homework_engagement_completion"


@pytest.fixture
def planned(database):
    built = build_planned(database, PLAN, extra_dyads=("D3",), empty_sessions=(("D1", 2),))
    return database, built


def tables(database, **rule):
    with database.session() as db:
        return aggregate.aggregate(db, study_of(db, "Trial A"), aggregate.Rule(**rule))


def by(frame, *keys):
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in frame.to_dict("records")}


def test_long_table_has_one_row_per_rating_with_item_scores(planned):
    database, built = planned
    t = tables(database)
    assert len(t.long) == len(PLAN)
    cem = t.long[(t.long["rater"] == "cem") & (t.long["unit"] == "A")].iloc[0]
    assert math.isnan(cem[TOTAL]) and cem[COMPLETION] == 4
    assert cem["homework_engagement_itemquantity"] == 4 and math.isnan(cem["homework_engagement_itemrationale"])
    assert set(t.long["dyad"]) == {"D1", "D2"}
    assert list(t.long.columns[:3]) == ["rating_id", "instrument", "version"]


def test_units_sessions_and_dyads_by_mean(planned):
    database, _ = planned
    t = tables(database)
    units = by(t.units, "unit")
    assert {u: units[u][TOTAL] for u in "ABCDE"} == {"A": 3, "B": 1, "C": 3, "D": 3, "E": 0}
    assert units["A"][COMPLETION] == pytest.approx(10 / 3)
    assert units["A"]["homework_engagement_n_raters"] == 3 and units["B"]["homework_engagement_n_raters"] == 1
    sessions = by(t.sessions, "dyad", "session")
    assert set(sessions) == {("D1", 1), ("D1", 3), ("D2", 1), ("D2", 2)}  # the unrated session 2 of D1 is absent
    assert sessions[("D1", 1)][TOTAL] == 2 and sessions[("D1", 3)][TOTAL] == 3
    assert sessions[("D1", 1)]["homework_engagement_n_units"] == 2
    dyads = by(t.dyads, "dyad")
    assert dyads["D1"][TOTAL] == 2.5 and dyads["D2"][TOTAL] == 1.5
    assert math.isnan(dyads["D3"][TOTAL]) and dyads["D3"]["homework_engagement_n_sessions"] == 0
    assert dyads["D1"]["homework_engagement_n_sessions"] == 2
    assert dyads["D1"]["client"] == "C1" and dyads["D1"]["therapist"] == "T1"
    assert "mean over the dyad's rated sessions" in t.dyads["aggregation"].iloc[0]
    assert "mean over the unit's raters" in t.units["aggregation"].iloc[0]


@pytest.mark.parametrize("rule, d1, d2, words", [("first", 2, 3, "earliest rated session"),
                                                 ("last", 3, 0, "latest rated session"),
                                                 ("slope", 0.5, -3, "least-squares slope"),
                                                 ("session:3", 3, None, "session 3 only"),
                                                 ("session:1", 2, 3, "session 1 only")])
def test_dyad_rules(planned, rule, d1, d2, words):
    database, _ = planned
    t = tables(database, dyad=rule)
    dyads = by(t.dyads, "dyad")
    assert dyads["D1"][TOTAL] == pytest.approx(d1)
    assert math.isnan(dyads["D2"][TOTAL]) if d2 is None else dyads["D2"][TOTAL] == pytest.approx(d2)
    if rule in ("first", "last"):
        assert dyads["D1"]["homework_engagement_session"] == (1 if rule == "first" else 3)
    assert words in t.dyads["aggregation"].iloc[0] and words not in t.sessions["aggregation"].iloc[0]


def test_a_chosen_rater(planned):
    database, _ = planned
    t = tables(database, unit="rater:ana")
    assert by(t.dyads, "dyad")["D1"][TOTAL] == 1.5 and by(t.dyads, "dyad")["D2"][TOTAL] == 2
    assert "C" not in set(t.units["unit"])  # ana did not rate unit C
    assert "rater ana's rating only" in t.dyads["aggregation"].iloc[0]
    with pytest.raises(aggregate.AggregationError, match="rater 'zed'"):
        tables(database, unit="rater:zed")


def test_consensus_is_used_where_recorded_and_kept_beside_the_ratings(planned):
    database, built = planned
    with database.session() as db:
        unit = db.get(RatingUnit, built["units"][("D2", 1, "D")])
        row = db.scalar(select(Instrument).where(Instrument.key == KEY))
        coord = db.scalar(select(User).where(User.username == "coord"))
        ids = [built["ratings"][("D2", 1, "D", r)] for r in ("ana", "ben")]
        with pytest.raises(consensus.ConsensusError, match="at least two raters"):
            consensus.record(db, unit, row, {i.id: 4 for i in instruments.builtin(KEY).items},
                             coord, ids[:1])
        items = {i.id: 4 for i in instruments.builtin(KEY).items}
        with pytest.raises(consensus.ConsensusError, match="not on the scale"):
            consensus.record(db, unit, row, {**items, "quantity": 9}, coord, ids)
        consensus.record(db, unit, row, items, coord, ids, note="agreed after discussion")
        db.commit()
    t = tables(database, unit="consensus")
    assert by(t.dyads, "dyad")["D2"][TOTAL] == 2 and by(t.dyads, "dyad")["D1"][TOTAL] == 2.5
    assert by(t.units, "unit")["D"]["homework_engagement_source"] == "consensus"
    assert by(t.units, "unit")["A"]["homework_engagement_source"] == "mean of raters"
    # the independent ratings are untouched: the mean rule still gives 1.5, and the long table has all nine
    assert by(tables(database).dyads, "dyad")["D2"][TOTAL] == 1.5 and len(t.long) == len(PLAN)
    with database.session() as db:
        assert db.scalar(select(ConsensusRating)).note == "agreed after discussion"
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "record_consensus")) is not None


def test_client_variables_join_sessions_and_dyads(planned, tmp_path):
    database, _ = planned
    path = tmp_path / "outcomes.csv"
    path.write_text("client,hads_anx_pre,hads_anx_post,sex\nC1,12,8,f\nC2,10,NA,m\n")
    with database.session() as db:
        outcomes.import_csv(db, study_of(db, "Trial A"), path)
        db.commit()
    t = tables(database)
    dyads = by(t.dyads, "dyad")
    assert dyads["D1"]["hads_anx_pre"] == 12 and math.isnan(dyads["D2"]["hads_anx_post"])
    assert dyads["D2"]["sex"] == "m" and pd.isna(dyads["D3"]["hads_anx_pre"])
    assert set(t.sessions.loc[t.sessions["dyad"] == "D1", "hads_anx_pre"]) == {12}
    assert t.client_variables == ["hads_anx_post", "hads_anx_pre", "sex"]


def test_bad_rules_are_refused():
    with pytest.raises(aggregate.AggregationError, match="unit rule"):
        aggregate.Rule(unit="median")
    with pytest.raises(aggregate.AggregationError, match="dyad rule"):
        aggregate.Rule(dyad="session:x")


def test_exports_in_every_format_carry_the_rule(planned, tmp_path):
    import pyreadstat

    database, _ = planned
    t = tables(database, dyad="slope")
    written = aggregate.write(t, tmp_path)
    names = {p.name for p in written}
    assert {"long.csv", "units.csv", "sessions.csv", "dyads.csv", "tables.xlsx", "codebook.csv",
            "dyads.sav", "dyads.dta", "long.sav", "long.dta"} <= names
    csv = pd.read_csv(tmp_path / "dyads.csv")
    assert csv.set_index("dyad").loc["D2", TOTAL] == -3 and "least-squares slope" in csv["aggregation"][0]
    book = pd.read_excel(tmp_path / "tables.xlsx", sheet_name=None)
    assert set(book) == {"long", "units", "sessions", "dyads", "codebook", "rule"}
    assert book["dyads"].set_index("dyad").loc["D1", TOTAL] == 0.5
    assert "least-squares slope" in book["rule"].set_index("level").loc["dyads", "aggregation"]
    frame, meta = pyreadstat.read_sav(str(tmp_path / "dyads.sav"))
    assert frame.set_index("dyad").loc["D1", TOTAL] == 0.5
    assert meta.file_label == "coder: unit=mean, session=mean, dyad=slope"
    assert "least-squares slope" in frame["aggregation"][0]
    assert meta.column_names_to_labels[TOTAL].startswith("Client homework engagement")
    stata = pd.read_stata(tmp_path / "long.dta")
    reader = pd.io.stata.StataReader(tmp_path / "long.dta")
    with reader:
        labels = reader.variable_labels()
        label = reader.data_label
    assert len(stata) == len(PLAN) and label == "coder: scores per rating"
    long_names = [c for c in t.long.columns if len(c) > 32]
    assert long_names, "the long table has item names beyond Stata's 32 characters"
    book_rows = pd.read_csv(tmp_path / "codebook.csv")
    mapped = book_rows[(book_rows["table"] == "long") & (book_rows["variable"] == long_names[0])].iloc[0]
    assert mapped["stata_name"] in stata.columns and len(mapped["stata_name"]) <= 32
    assert labels[mapped["stata_name"]].startswith("Client homework engagement")
    np.testing.assert_allclose(stata[mapped["stata_name"]].to_numpy(dtype=float),
                               t.long[long_names[0]].to_numpy(dtype=float), equal_nan=True)
