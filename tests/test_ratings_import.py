"""Importing ratings made elsewhere: the round trip from coder's own long export, the wide layout with keyed
export columns and new units, every problem named at once with nothing stored, dry runs, a second import that
changes nothing, and conflicts with ratings already there. On SQLite and PostgreSQL."""
from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from coder.db import Database
from coder.reports import aggregation
from coder.study import instruments
from coder.study.models import AuditEvent, Rating, RatingUnit

from .support.analysis_study import KEY, build_planned, study_of
from .support.cli import coder

ITEMS = [item.id for item in instruments.builtin(KEY).items]


def plan() -> list[tuple]:
    """Two raters on three dyads' first two sessions, every item scored; one item left empty once."""
    out = []
    for d in (1, 2, 3):
        for s in (1, 2):
            for r, rater in enumerate(("ana", "ben")):
                values = {item: (d + s + r + k) % 5 for k, item in enumerate(ITEMS)}
                if (d, s, rater) == (2, 1, "ben"):
                    values.pop(ITEMS[-1])
                out.append((f"D{d}", s, "Whole session", rater, values))
    return out


def ids_dropped(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in ("rating_id", "unit_id", "session_id", "source", "aggregation")
                               if c in frame.columns]).reset_index(drop=True)


@pytest.fixture
def exported(tmp_path):
    """A study rated on the rating page, and its tables as `coder aggregate` writes them."""
    source = Database(f"sqlite:///{tmp_path / 'source.db'}")
    source.migrate()
    build_planned(source, plan(), study_name="Trial R")
    out = coder("aggregate", "--study", "Trial R", "--out", tmp_path / "export", "--format", "csv,xlsx",
                env={"DATABASE_URL": source.url, "CODER_HOME": tmp_path / "home"}, timeout=300)
    assert out.exit_code == 0, out.stderr
    with source.session() as db:
        tables = aggregation.aggregate(db, study_of(db, "Trial R"), aggregation.Rule())
    source.dispose()
    return tables, tmp_path / "export"


def _run(database, tmp_path, *args):
    return coder(*args, env={"DATABASE_URL": database.url, "CODER_HOME": tmp_path / "home"}, timeout=300)


def test_the_long_export_imports_back_to_identical_tables(database, tmp_path, exported):
    before, folder = exported
    build_planned(database, plan(), study_name="Trial R", with_ratings=False)  # the same study, unrated
    cli = ("ratings", "import", folder / "long.csv", "--study", "Trial R", "--instrument", KEY)
    dry = _run(database, tmp_path, *cli, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "would import 12 ratings" in dry.stdout and "1 items left empty" in dry.stdout
    with database.session() as db:
        assert db.scalar(select(func.count(Rating.id))) == 0
    out = _run(database, tmp_path, *cli)
    assert out.exit_code == 0, out.stderr
    assert "imported 12 ratings" in out.stdout
    with database.session() as db:
        after = aggregation.aggregate(db, study_of(db, "Trial R"), aggregation.Rule())
        assert set(after.long["source"]) == {"import"} and set(before.long["source"]) == {"form"}
        for level in ("long", "units", "sessions", "dyads"):
            pd.testing.assert_frame_equal(ids_dropped(after.table(level)), ids_dropped(before.table(level)),
                                          check_dtype=False)
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == "import")).all()
        assert len(events) == 12 and all(e.detail["file"] == "long.csv" and len(e.detail["sha256"]) == 64
                                         for e in events)
        assert {tuple(e.detail["lines"]) for e in events} == {(n,) for n in range(2, 14)}
    again = _run(database, tmp_path, *cli)
    assert again.exit_code == 0 and "12 already here, unchanged" in again.stdout and "nothing changed" in again.stdout
    with database.session() as db:
        assert db.scalar(select(func.count(Rating.id))) == 12
    # coder's Excel workbook: its "long" sheet imports the same (nothing new)
    xlsx = _run(database, tmp_path, "ratings", "import", folder / "tables.xlsx", "--study", "Trial R",
                "--instrument", KEY)
    assert xlsx.exit_code == 0, xlsx.stderr
    assert "imported 0 ratings; 12 already here, unchanged" in xlsx.stdout


def test_every_problem_is_named_and_nothing_is_stored(database, tmp_path):
    build_planned(database, plan(), study_name="Trial R", with_ratings=False)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "dyad,session,unit,rater,item,value,comment\n"
        "D1,1,Whole session,ana,1,3,x\n")
    out = _run(database, tmp_path, "ratings", "import", bad, "--study", "Trial R", "--instrument", KEY)
    assert out.exit_code == 1 and "line 1, column 'comment': neither a column of the import nor an item" in out.stderr
    first, second, third = ITEMS[:3]
    bad.write_text(
        "dyad,session,unit,rater,item,value\n"
        f"D1,1,Whole session,ana,{first},3\n"
        f"D9,1,Whole session,ana,{first},3\n"  # no such dyad
        f"D1,x,Whole session,ana,{first},3\n"  # no session number
        f"D1,7,Whole session,ana,{first},3\n"  # no such session
        f"D1,1,Whole session,zoe,{first},3\n"  # no such rater
        f"D1,1,Whole session,ana,{first},9\n"  # the item again
        f"D1,1,Whole session,ana,{second},9\n"  # off the scale
        "D1,1,Whole session,ana,enjoyment,1\n"  # no such item
        f"D1,2,Whole session,ben,{second},two\n"  # not a number
        f"D1,2,Half,ben,{third},1\n")  # no such unit
    out = _run(database, tmp_path, "ratings", "import", bad, "--study", "Trial R", "--instrument", KEY)
    assert out.exit_code == 1 and "nothing imported" in out.stderr
    for expected in ("line 3, column 'dyad': no dyad 'D9'", "line 4, column 'session': 'x' is not a session number",
                     "line 5, column 'session': dyad D1 has no session 7",
                     "line 6, column 'rater': no rater account 'zoe'",
                     f"line 7: item {first} of this rating again (line 2)",
                     f"line 8, column 'value': '9' is not on item {second}'s scale 0–4 in steps of 1",
                     "line 9, column 'item': 'enjoyment' is not an item",
                     "line 10, column 'value': 'two' is not a number",
                     "line 11: session 2 of dyad D1 has no unit labelled 'Half'",
                     "line 10: rater ben gave no response"):
        assert expected in out.stderr, expected
    with database.session() as db:
        assert db.scalar(select(func.count(Rating.id))) == 0


def test_the_wide_layout_with_keyed_export_columns_and_a_new_unit(database, tmp_path):
    build_planned(database, plan(), study_name="Trial R", with_ratings=False)
    with database.session() as db:
        wai = instruments.store(db, instruments.builtin("wai-o-s"))
        db.commit()
        definition = instruments.stored(wai)
    reversed_item = next(i for i in definition.items if i.reverse)
    plain_item = next(i for i in definition.items if not i.reverse)
    scale = definition.scale_of(reversed_item)
    wide = tmp_path / "wai.csv"
    wide.write_text(
        f"dyad,session,start,end,rater,{plain_item.id},wai_o_s_item{reversed_item.id},wai_o_s_total,submitted_at\n"
        f"D1,1,10:00,20:00,ana,5,{scale.max},4.1,2025-05-01T10:00:00+00:00\n"
        f"D1,1,600,1200,ben,4,{scale.min},3.9,\n")
    dry = _run(database, tmp_path, "ratings", "import", wide, "--study", "Trial R", "--instrument", "wai-o-s",
               "--json", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    with database.session() as db:
        assert db.scalar(select(func.count(RatingUnit.id)).where(RatingUnit.start_s == 600)) == 0
    out = _run(database, tmp_path, "ratings", "import", wide, "--study", "Trial R", "--instrument", "wai-o-s")
    assert out.exit_code == 0, out.stderr
    assert "imported 2 ratings, 1 new units" in out.stdout
    with database.session() as db:
        (unit,) = db.scalars(select(RatingUnit).where(RatingUnit.start_s == 600, RatingUnit.end_s == 1200)).all()
        ratings = {r.rater.username: r for r in db.scalars(select(Rating))}
        assert {r.assignment.rating_unit_id for r in ratings.values()} == {unit.id}
        # the export's keyed score of a reverse-keyed item is reflected back to the rater's response
        assert ratings["ana"].responses == {plain_item.id: 5, reversed_item.id: scale.min}
        assert ratings["ben"].responses == {plain_item.id: 4, reversed_item.id: scale.max}
        assert ratings["ana"].submitted_at.isoformat() == "2025-05-01T10:00:00+00:00"
        assert all(r.source == "import" and r.status == "submitted" for r in ratings.values())


def test_a_different_rating_already_there_is_a_conflict(database, tmp_path):
    build_planned(database, plan()[:1], study_name="Trial R")  # ana rated D1 session 1
    values = plan()[0][4]
    rows = "".join(f"D1,1,Whole session,ana,{item},{(value + 1) % 5}\n" for item, value in values.items())
    changed = tmp_path / "changed.csv"
    changed.write_text("dyad,session,unit,rater,item,value\n" + rows)
    out = _run(database, tmp_path, "ratings", "import", changed, "--study", "Trial R", "--instrument", KEY)
    assert out.exit_code == 1
    assert "line 2: rater ana already has another rating of this unit on homework-engagement" in out.stderr
    same = tmp_path / "same.csv"
    same.write_text("dyad,session,unit,rater,item,value,instrument\n" + "".join(
        f"D1,1,Whole session,ana,{item},{value},{KEY}\n" for item, value in values.items()))
    out = _run(database, tmp_path, "ratings", "import", same, "--study", "Trial R", "--instrument", KEY)
    assert out.exit_code == 0 and "1 already here, unchanged" in out.stdout
    other = tmp_path / "other.csv"
    other.write_text("dyad,session,unit,rater,item,value,instrument,version\n"
                     "D1,1,Whole session,ana,1,1,wai-o-s,1\n" + "".join(
                         f"D1,1,Whole session,ana,{item},{value},{KEY},1\n" for item, value in values.items()))
    out = _run(database, tmp_path, "ratings", "import", other, "--study", "Trial R", "--instrument", KEY)
    assert out.exit_code == 0 and "1 rows of other instruments (wai-o-s) left out" in out.stdout
    other.write_text("dyad,session,unit,rater,item,value,instrument,version\n"
                     f"D1,1,Whole session,ana,{ITEMS[0]},1,{KEY},2\n")
    out = _run(database, tmp_path, "ratings", "import", other, "--study", "Trial R", "--instrument", KEY)
    assert out.exit_code == 1 and "column 'version': '2', but the import is to version 1" in out.stderr


def test_paper_sessions_are_registered_and_everything_downstream_works(database, tmp_path, exported):
    """Into a study with raters but no dyads, sessions or recordings: --register makes the dyads and sessions
    (without recordings) and their units from the export, and the tables, the reliability report and the
    models come out as from the rated study. Raters are not given units they cannot listen to."""
    from coder.rating import designs
    from coder.rating.scores import ratings_table
    from coder.reports import reliability_report
    from coder.study.accounts import create_user
    from coder.study.models import Instrument, Recording, TherapySession, User
    from coder.study.tree import get_or_create_study

    before, folder = exported
    with database.session() as db:
        get_or_create_study(db, "Trial R")
        instruments.store(db, instruments.builtin(KEY))
        for name in ("ana", "ben"):
            create_user(db, name, "a long enough password 1", "rater")
    cli = ("ratings", "import", folder / "long.csv", "--study", "Trial R", "--instrument", KEY)
    refused = _run(database, tmp_path, *cli)
    assert refused.exit_code == 1 and "column 'dyad': no dyad 'D1' in study Trial R" in refused.stderr
    out = _run(database, tmp_path, *cli, "--register")
    assert out.exit_code == 0, out.stderr
    assert "imported 12 ratings, 3 new dyads, 6 new sessions without a recording, 6 new units" in out.stdout
    with database.session() as db:
        study = study_of(db, "Trial R")
        assert db.scalar(select(func.count(Recording.id))) == 0
        assert db.scalar(select(func.count(TherapySession.id))) == 6
        after = aggregation.aggregate(db, study, aggregation.Rule())
        for level in ("long", "units", "sessions", "dyads"):
            pd.testing.assert_frame_equal(ids_dropped(after.table(level)), ids_dropped(before.table(level)),
                                          check_dtype=False)
        definition, table = ratings_table(db, study, KEY)
        report = reliability_report.build(table, definition, study.name, n_boot=0)
        total = next(m for m in report["measures"] if m["measure"] == "total")
        assert total["n_targets"] == 6 and total["icc"]["ICC(A,1)"]["value"] is not None
        ana = db.scalar(select(User).where(User.username == "ana"))
        paper_unit = db.scalar(select(RatingUnit))
        assert paper_unit.recording_id is None and paper_unit.label == "Whole session"
        assert designs.study_units(db, study) == []
        with pytest.raises(designs.DesignError, match="without a recording"):
            designs.assign(db, ana, [paper_unit], db.scalar(select(Instrument)), None)
    again = _run(database, tmp_path, *cli, "--register")
    assert again.exit_code == 0 and "12 already here, unchanged" in again.stdout
