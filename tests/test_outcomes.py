"""Importing client outcomes and covariates: every problem named by row and column, nothing half-imported."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from coder.reports import outcomes
from coder.study.models import AuditEvent, ClientVariable
from coder.study.tree import get_or_create_dyad, get_or_create_study

KNOWN = {"C1", "C2", "C3"}


def parse(text, **options):
    return outcomes.parse(text, "outcomes.csv", KNOWN, **options)


def problems(text, **options):
    with pytest.raises(outcomes.OutcomeError) as info:
        parse(text, **options)
    return info.value.problems


def test_a_good_file():
    values, kinds = parse("Client,hads_pre,hads_post,age,sex\nC1,12,8,34,f\nC2,10,NA,51,m\n\nC3,9.5,,.,f\n")
    assert kinds == {"hads_pre": "numeric", "hads_post": "numeric", "age": "numeric", "sex": "text"}
    assert values["C1"] == {"hads_pre": 12.0, "hads_post": 8.0, "age": 34.0, "sex": "f"}
    assert values["C2"]["hads_post"] is None and values["C3"]["hads_post"] is None and values["C3"]["age"] is None


@pytest.mark.parametrize("text, expected", [
    ("client,hads_pre\nC1,12\nC2,twelve\n", "row 3, column hads_pre: 'twelve' is not a number"),
    ("client,hads_pre\nC1,12\nC2,inf\n", "row 3, column hads_pre: 'inf' is not a finite number"),
    ("client,hads_pre\nC1,12\nC1,13\n", "row 3, column client: client C1 already appears in row 2"),
    ("client,hads_pre\n,12\n", "row 2, column client: empty"),
    ("client,hads_pre\nC1,12,3\n", "row 2: 3 fields, the header has 2"),
    ("client,hads_pre\nC1,12\nC9,3\nC8,4\n", "unknown client(s), not in the study: C9 (row 3), C8 (row 4)"),
    ("client,hads pre\nC1,12\n", "column 'hads pre': a variable name must start with a letter"),
    ("client,x,X\nC1,1,2\n", "column 'X': appears twice (columns 2 and 3)"),
    ("client,dyad\nC1,1\n", "column 'dyad': the name is used by the analysis tables"),
    ("client,,x\nC1,1,2\n", "column 2: no name in the header"),
    ("hads_pre\n12\n", "no client column (header: hads_pre)"),
    ("", "the file is empty"),
    ("client,x\n", "no data rows"),
])
def test_each_problem_is_named(text, expected):
    assert any(p.startswith(expected) for p in problems(text)), problems(text)


def test_every_problem_is_reported_at_once():
    found = problems("client,hads_pre,age\nC1,x,30\nC2,12,y\nC7,1,2\n")
    assert len(found) == 3
    assert any("row 2, column hads_pre" in p for p in found) and any("row 3, column age" in p for p in found)


def test_declared_categories_ranges_and_missing_codes():
    values, kinds = parse("client,arm,hads_pre\nC1,1,-99\nC2,2,21\n", text_columns=("arm",),
                          missing=outcomes.MISSING + ("-99",), ranges={"hads_pre": (0, 21)})
    assert kinds["arm"] == "text" and values["C1"]["arm"] == "1" and values["C1"]["hads_pre"] is None
    assert "row 3, column hads_pre: 22 is outside the range 0 to 21" in problems(
        "client,hads_pre\nC1,3\nC2,22\n", ranges={"hads_pre": (0, 21)})
    assert "column 'nope': named in the options but not in the file" in problems(
        "client,x\nC1,1\n", text_columns=("nope",))


def test_import_is_all_or_nothing_and_replaces_on_reimport(database, tmp_path):
    with database.session() as db:
        study = get_or_create_study(db, "Trial O")
        for n in (1, 2):
            get_or_create_dyad(db, study, f"T{n}", f"C{n}", f"D{n}")
        db.commit()
        bad = tmp_path / "bad.csv"
        bad.write_text("client,hads_pre,age\nC1,12,30\nC2,oops,40\n")
        with pytest.raises(outcomes.OutcomeError, match="row 3, column hads_pre"):
            outcomes.import_csv(db, study, bad)
        db.rollback()
        assert db.scalar(select(func.count(ClientVariable.id))) == 0
        good = tmp_path / "good.csv"
        good.write_text("client,hads_pre,age\nC1,12,30\nC2,10,40\n")
        report = outcomes.import_csv(db, study, good)
        db.commit()
        assert (report.clients, report.values, report.replaced) == (2, 4, 0)
        again = tmp_path / "again.csv"
        again.write_text("client,hads_pre,hads_post\nC1,13,7\n")
        report = outcomes.import_csv(db, study, again)
        db.commit()
        assert report.replaced == 1
        table = outcomes.client_table(db, study).set_index("client")
        assert table.loc["C1", "hads_pre"] == 13 and table.loc["C2", "hads_pre"] == 10  # C2 kept
        assert table.loc["C1", "age"] == 30 and table.loc["C1", "hads_post"] == 7
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "import_client_variables")
                          .order_by(AuditEvent.id.desc()))
        assert event.detail["file"] == "again.csv" and len(event.detail["sha256"]) == 64


def test_unreadable_files(database, tmp_path):
    with database.session() as db:
        study = get_or_create_study(db, "Trial O")
        path = tmp_path / "latin1.csv"
        path.write_bytes("client,ort\nC1,Zürich\n".encode("latin-1"))
        with pytest.raises(outcomes.OutcomeError, match="not UTF-8"):
            outcomes.import_csv(db, study, path)
        with pytest.raises(outcomes.OutcomeError, match="cannot read"):
            outcomes.import_csv(db, study, tmp_path / "missing.csv")
