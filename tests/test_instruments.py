"""Instrument definitions (schema, clear errors) and scoring, checked against hand-computed examples."""
import pytest
import yaml

from coder.study.instruments import (InstrumentError, builtin, check_responses, events_of, import_wording, load,
                                     marker_answers, mean_of, parse, score, to_data)

from .support.cli import coder

WAI = {"1": 5, "2": 6, "3": 7, "4": 2, "5": 5, "6": 4, "7": 6, "8": 5, "9": 7, "10": 3, "11": 4, "12": 6}


def minimal(**changes):
    data = {"id": "mini", "name": "Mini", "version": "1", "rating_unit": "session",
            "scale": {"min": 0, "max": 4, "anchors": {0: "never", 4: "always"}},
            "subscales": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
            "items": [{"id": "1", "label": "one", "subscale": "a"}, {"id": "2", "label": "two", "subscale": "a"},
                      {"id": "3", "label": "three", "subscale": "b", "reverse": True},
                      {"id": "4", "label": "four", "subscale": "b"}]}
    data.update(changes)
    return data


def problems(data):
    with pytest.raises(InstrumentError) as info:
        parse(data, "x.yaml")
    return info.value.problems


def test_builtin_definitions_validate():
    found = builtin()
    assert set(found) == {"wai-o-s", "wai-o", "homework-engagement", "homework-competence", "rupture-markers"}
    full = found["wai-o"]
    assert [len(full.items_of(s)) for s in ("task", "bond", "goal")] == [12, 12, 12]
    assert (full.scale.min, full.scale.max, full.scale.anchors[4]) == (1, 7, "no evidence")
    competence = found["homework-competence"]
    assert [s.id for s in competence.subscales] == ["review", "assign"]  # rated separately by phase
    engagement = found["homework-engagement"]
    assert (engagement.scale.min, engagement.scale.max, len(engagement.items)) == (0, 4, 12)
    wai = found["wai-o-s"]
    assert [len(wai.items_of(s)) for s in ("task", "bond", "goal")] == [4, 4, 4]
    assert wai.scale.anchors[4] == "no evidence" and [i.id for i in wai.items if i.reverse] == ["4", "10"]
    ruptures = found["rupture-markers"]
    assert ruptures.rating_unit == "segment" and ruptures.segment_minutes == 5
    assert {m.kind for m in ruptures.markers} == {"withdrawal", "confrontation", "resolution"}
    assert (ruptures.salience.min, ruptures.salience.max) == (1, 5)
    # what `coder instruments show` prints reads back as the same definition
    for inst in found.values():
        assert parse(yaml.safe_load(yaml.safe_dump(to_data(inst)))) == inst


@pytest.mark.parametrize("change, expected", [
    ({"items": [{"id": "1", "label": "one", "subscale": "tsk"}]},
     "items[0].subscale: unknown subscale 'tsk' (defined: a, b)"),
    ({"items": minimal()["items"] + [{"id": "2", "label": "again", "subscale": "b"}]},
     "items[4].id: duplicate item id '2' (also items[1])"),
    ({"scale": {"min": 0, "max": 4, "anchors": {5: "beyond"}}},
     "scale: anchor 5 is not a point of the scale 0–4 in steps of 1"),
    ({"items": [{"id": "1", "label": "one", "subscale": "a", "anchors": {7: "x"}},
                {"id": "2", "label": "two", "subscale": "b"}]},
     "items[0].anchors.7: anchor outside the scale 0–4 in steps of 1"),
    ({"scale": {"min": 1, "max": 7, "step": 4}}, "scale: step 4 does not divide the range 1–7"),
    ({"scale": {"min": 3, "max": 3}}, "scale: max (3) must be greater than min (3)"),
    ({"rating_unit": "hour"}, "rating_unit: Input should be 'session' or 'segment'"),
    ({"colour": "blue"}, "colour: unknown field (a typo?)"),
    ({"items": [{"id": "1", "subscale": "a"}, {"id": "2", "label": "b", "subscale": "b"}]},
     "items[0].label: missing (required)"),
    ({"subscales": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}, {"id": "c", "name": "C"}]},
     "subscales[2]: subscale 'c' has no items"),
    ({"markers": [{"id": "m", "label": "M", "kind": "withdrawal"}]}, "salience: markers need a salience scale"),
    ({"scoring": {"method": "median"}}, "scoring.method: Input should be 'mean' or 'sum'"),
])
def test_malformed_definitions_name_the_field(change, expected):
    assert expected in problems(minimal(**change))


def test_every_problem_is_reported_at_once():
    found = problems(minimal(items=[{"id": "1", "label": "one", "subscale": "x"},
                                    {"id": "1", "label": "two", "subscale": "a"}]))
    assert "items[0].subscale: unknown subscale 'x' (defined: a, b)" in found
    assert "items[1].id: duplicate item id '1' (also items[0])" in found
    assert "subscales[1]: subscale 'b' has no items" in found


def test_files_that_are_not_definitions(tmp_path):
    (tmp_path / "bad.yaml").write_text("id: x\nitems: [\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(InstrumentError, match=r"bad.yaml: line 3, column 1: not valid YAML"):
        load(tmp_path / "bad.yaml")
    with pytest.raises(InstrumentError, match="a definition is a mapping"):
        load(tmp_path / "list.yaml")
    with pytest.raises(InstrumentError, match="cannot read"):
        load(tmp_path / "missing.yaml")


# --- scoring: hand-computed ------------------------------------------------------------------------------

def test_wai_scores_with_reverse_keys():
    wai = builtin("wai-o-s")
    s = score(wai, WAI)
    # keyed: item 4 = 1 + 7 - 2 = 6, item 10 = 8 - 3 = 5
    assert s.items["4"] == 6 and s.items["10"] == 5
    assert s.subscales == {"task": pytest.approx((5 + 6 + 5 + 6) / 4),   # items 1, 2, 10, 12
                           "bond": pytest.approx((7 + 5 + 6 + 7) / 4),   # items 3, 5, 7, 9
                           "goal": pytest.approx((6 + 4 + 5 + 4) / 4)}   # items 4, 6, 8, 11
    assert s.total == pytest.approx(66 / 12) and s.notes == []


def test_missing_items_within_and_beyond_the_allowance():
    wai = builtin("wai-o-s")
    one_missing = score(wai, {**WAI, "2": None})
    assert one_missing.subscales["task"] == pytest.approx((5 + 5 + 6) / 3)
    assert one_missing.total == pytest.approx(60 / 11) and one_missing.missing["task"] == 1
    two_missing = score(wai, {k: v for k, v in WAI.items() if k not in ("1", "2")})
    assert two_missing.subscales["task"] is None
    assert two_missing.notes == ["task: 2 items missing, at most 1 allowed"]
    assert two_missing.total == pytest.approx(55 / 10)  # the total allows one per subscale: 3
    four_missing = score(wai, {k: v for k, v in WAI.items() if k not in ("1", "2", "3", "4")})
    assert four_missing.total is None and "total: 4 items missing, at most 3 allowed" in four_missing.notes


def test_sums_prorated_or_withheld():
    prorated = parse(minimal(scoring={"method": "sum", "max_missing": 1, "prorate": True}))
    s = score(prorated, {"1": 4, "2": None, "3": 1, "4": 2})
    # a: only item 1 answered -> 4 × 2 items = 8; b: item 3 reversed 0 + 4 - 1 = 3, + 2 = 5
    assert s.subscales == {"a": 8, "b": 5}
    assert s.total == pytest.approx((4 + 3 + 2) / 3 * 4)
    kept = parse(minimal(scoring={"method": "sum", "max_missing": 1, "prorate": False}))
    s = score(kept, {"1": 4, "2": None, "3": 1, "4": 2})
    assert s.subscales == {"a": None, "b": 5} and s.total is None
    assert "a: 1 items missing and sums are not prorated" in s.notes


def test_fractional_allowance():
    inst = parse(minimal(scoring={"method": "mean", "max_missing": 0.5}))
    assert score(inst, {"1": 1, "3": 1, "4": 1}).subscales["a"] == 1  # 1 of 2 missing: 0.5 × 2 = 1 allowed
    assert score(inst, {"3": 1, "4": 1}).subscales["a"] is None


def test_responses_are_checked_before_saving_and_submitting():
    wai = builtin("wai-o-s")
    assert check_responses(wai, WAI) == []
    draft = {"1": 5}
    assert check_responses(wai, draft, submit=False) == []
    assert "2: required" in check_responses(wai, draft)
    bad = {**WAI, "3": 8, "5": 4.5, "6": "often", "99": 1}
    assert check_responses(wai, bad) == [
        "99: no such item in wai-o-s version 1",
        "3: 8 is not on the scale 1–7 in steps of 1",
        "5: 4.5 is not on the scale 1–7 in steps of 1",
        "6: 'often' is not a number",
    ]
    with pytest.raises(ValueError, match="3: 8 is not on the scale"):
        score(wai, bad)


def test_unit_and_session_means_skip_missing_scores():
    assert mean_of([5.5, None, 6.0]) == pytest.approx(5.75)
    assert mean_of([None, None]) is None


# --- command line -----------------------------------------------------------------------------------------

def test_cli_list_show_validate(tmp_path):
    listed = coder("instruments", "list", check=True).stdout
    assert "wai-o-s\tversion 1\tsession\t12 items" in listed
    shown = coder("instruments", "show", "wai-o-s", check=True).stdout
    (tmp_path / "wai.yaml").write_text(shown)
    bad = minimal(items=[{"id": "1", "label": "one", "subscale": "tsk"}, {"id": "2", "label": "b",
                                                                          "subscale": "b"}])
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    proc = coder("instruments", "validate", tmp_path / "wai.yaml", tmp_path / "bad.yaml")
    assert proc.exit_code == 1
    assert f"{tmp_path / 'wai.yaml'}: valid (wai-o-s version 1, 12 items)" in proc.stdout
    assert proc.stderr.splitlines() == [f"{tmp_path / 'bad.yaml'}: invalid",
                                        "  items[0].subscale: unknown subscale 'tsk' (defined: a, b)",
                                        "  subscales[0]: subscale 'a' has no items"]
    missing = coder("instruments", "show", "nope")
    assert missing.exit_code == 1 and "no built-in instrument 'nope'" in missing.stderr


# --- licensed wording and versions in the database --------------------------------------------------------

def wording_csv(tmp_path, rows, header="item,text,reverse"):
    path = tmp_path / "wording.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_import_wording_replaces_labels_and_versions(tmp_path):
    wai = builtin("wai-o-s")
    rows = [f'{i},"Licensed text of item {i}",' for i in range(1, 13)]
    rows[3] = '4,"Licensed text of item 4",no'  # the study's manual says item 4 is not reverse-keyed
    result = import_wording(wai, wording_csv(tmp_path, rows))
    assert result.version == "1-licensed" and result.item("1").label == "Licensed text of item 1"
    assert result.item("4").reverse is False and result.item("10").reverse is True
    assert result.item("1").description == wai.item("1").description  # kept where the file gives none
    assert wai.item("1").label != result.item("1").label  # the base is untouched
    yaml_path = tmp_path / "w.yaml"
    yaml_path.write_text("\n".join(f'"{i}": Text {i}' for i in range(1, 13)))
    assert import_wording(wai, yaml_path, version="2024").item("12").label == "Text 12"


def test_a_bad_wording_file_imports_nothing(tmp_path):
    wai = builtin("wai-o-s")
    rows = [f"{i},Text {i}," for i in range(1, 12)] + ["13,Text 13,", "2,again,", "5,,", "6,x,maybe"]
    with pytest.raises(InstrumentError) as info:
        import_wording(wai, wording_csv(tmp_path, rows))
    assert info.value.problems == [
        "row 13: no item '13' in wai-o-s (items: 1, 10, 11, 12, 2, 3, 4, 5, 6, 7, 8, 9)",
        "row 14: item '2' given twice",
        "row 15: item '5' given twice",
        "row 16: item '6' given twice",
    ]
    with pytest.raises(InstrumentError, match="no text for items 11, 12"):
        import_wording(wai, wording_csv(tmp_path, [f"{i},Text {i}," for i in range(1, 11)]))
    with pytest.raises(InstrumentError, match="the CSV needs the columns item and text"):
        import_wording(wai, wording_csv(tmp_path, ["1,x"], header="number,wording"))
    with pytest.raises(InstrumentError, match=r"row 2: reverse must be true or false, found 'maybe'"):
        import_wording(wai, wording_csv(tmp_path, ["1,Text,maybe"] + [f"{i},T," for i in range(2, 13)]))


def test_changing_a_rated_instrument_makes_a_new_version(database):
    from sqlalchemy import select

    from coder.study.accounts import create_user
    from coder.study.instruments import store, stored
    from coder.study.models import Assignment, Instrument, Rating

    from .support.tree import build_tree

    wai = builtin("wai-o-s")
    with database.session() as db:
        *_, unit, placeholder = build_tree(db)  # holds an empty wai-o-s version 1, not yet rated
        row = store(db, wai)
        assert row.id == placeholder.id and row.definition == to_data(wai)  # no ratings: updated in place
        assert store(db, wai).id == row.id  # the same definition again: nothing new
        renamed = parse({**to_data(wai), "name": "Alliance (renamed)"})
        assert store(db, renamed).id == row.id and row.name == "Alliance (renamed)"
        rater = create_user(db, "r1", "correct horse battery", "rater")
        a = Assignment(rater_id=rater.id, rating_unit_id=unit.id, instrument_id=row.id)
        db.add(a)
        db.flush()
        db.add(Rating(assignment_id=a.id, rater_id=rater.id, responses=WAI))
        db.flush()
        changed = parse({**to_data(wai), "scoring": {"method": "sum", "max_missing": 0}})
        new = store(db, changed)
        assert (new.key, new.version) == ("wai-o-s", "2") and new.id != row.id
        rid = row.id
    with database.session() as db:
        old = db.get(Instrument, rid)
        assert stored(old).scoring.method == "mean"  # the rated version is as it was
        rating = db.scalar(select(Rating))
        assert rating.assignment.instrument.version == "1"
        assert score(stored(rating.assignment.instrument), rating.responses).total == pytest.approx(66 / 12)
        assert sorted(r.version for r in db.scalars(select(Instrument).where(Instrument.key == "wai-o-s"))) == ["1", "2"]


def test_import_and_store_from_the_command_line(tmp_path):
    home = tmp_path / "home"
    coder("--home", home, "init", check=True)
    path = wording_csv(tmp_path, [f"{i},Licensed {i}," for i in range(1, 13)])
    proc = coder("--home", home, "instruments", "import", "wai-o-s", path, "--out", tmp_path / "l.yaml", "--store")
    assert proc.exit_code == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"wrote wai-o-s version 1-licensed to {tmp_path / 'l.yaml'}",
                                        "stored wai-o-s version 1-licensed"]
    assert load(tmp_path / "l.yaml").item("3").label == "Licensed 3"
    bad = wording_csv(tmp_path, ["1,x,"])
    proc = coder("--home", home, "instruments", "import", "wai-o-s", bad, "--store")
    assert proc.exit_code == 1 and proc.stderr.splitlines()[0] == f"error: {bad}: nothing imported"
    stored_ = coder("--home", home, "instruments", "store", "rupture-markers")
    assert stored_.exit_code == 0, stored_.stderr
    assert stored_.stdout.strip() == "stored rupture-markers version 2"


def test_event_markers_with_salience():
    ruptures = builtin("rupture-markers")
    answers = {m.id: "absent" for m in ruptures.markers}
    responses = {"therapist_contribution": 2, "resolution": 4,
                 "markers": {**answers, "minimal_response": 3, "deferential": 2, "complaint_activities": 5}}
    assert check_responses(ruptures, responses) == []
    s = score(ruptures, responses)
    assert s.markers["withdrawal"] == {"count": 2, "salience_sum": 5.0, "salience_max": 3.0, "events": 0}
    assert s.markers["confrontation"] == {"count": 1, "salience_sum": 5.0, "salience_max": 5.0, "events": 0}
    assert s.markers["resolution"] == {"count": 0, "salience_sum": 0.0, "salience_max": 0.0, "events": 0}
    assert s.total is None and s.subscales == {}  # this instrument has no total
    bad = {**responses, "markers": {"shouting": 2, "denial": 6, "control": "seen"}}
    assert check_responses(ruptures, bad) == [
        "markers.shouting: no such marker in rupture-markers version 2",
        "markers.denial: salience 6 is not on the scale 1–5 (or 'absent')",
        "markers.control: salience 'seen' is not on the scale 1–5 (or 'absent')"]


def test_every_marker_is_answered_before_submit_where_the_instrument_says_so():
    """The 3RS built-in: "not seen" is an answer of its own, so that it can be told from "not rated"."""
    ruptures = builtin("rupture-markers")
    assert ruptures.marker_answers == "required" and ruptures.events.tolerance_s == 5
    items = {"therapist_contribution": 1, "resolution": 1}
    some = {**items, "markers": {"denial": 2, "control": "absent"}}
    assert check_responses(ruptures, some, submit=False) == []  # a draft may be incomplete
    missing = check_responses(ruptures, some)
    assert len(missing) == len(ruptures.markers) - 2
    assert missing[0] == "markers.minimal_response: required (present with a salience, or absent)"
    events = [{"id": f"e{i}", "code": m.id, "start": 1.0, "end": None, "salience": 1, "note": ""}
              for i, m in enumerate(ruptures.markers) if m.id not in ("denial", "control")]
    assert check_responses(ruptures, {**some, "events": events}) == []  # a placed marker is an answer
    optional = parse({**to_data(ruptures), "marker_answers": "optional"})
    assert check_responses(optional, some) == []
    assert marker_answers(optional, some)["minimal_response"] is None  # unanswered: not seen, under optional


def test_events_in_time_are_checked_against_the_instrument_and_the_unit():
    ruptures = builtin("rupture-markers")
    answered = {"therapist_contribution": 1, "resolution": 1, "markers": {m.id: "absent" for m in ruptures.markers}}
    good = [{"id": "b", "code": "denial", "start": 40.0, "end": 45.5, "salience": 4, "note": "shrugs it off"},
            {"id": "a", "code": "denial", "start": 12.0, "end": None, "salience": 2, "note": ""},
            {"id": "c", "code": "clarify", "start": 50.0, "end": None, "salience": 3}]
    markers = {**answered["markers"], "denial": "absent"}
    refused = check_responses(ruptures, {**answered, "markers": markers, "events": good}, duration=60)
    assert refused == ["markers.denial: answered absent, but 2 events of it are placed",
                       "markers.clarify: answered absent, but 1 event of it is placed"]
    markers = {k: v for k, v in answered["markers"].items() if k not in ("denial", "clarify")}
    responses = {**answered, "markers": {**markers, "denial": 3}, "events": good}
    assert check_responses(ruptures, responses, duration=60) == []
    assert [e["id"] for e in events_of(responses)] == ["a", "b", "c"]
    answers = marker_answers(ruptures, responses)
    assert answers["denial"] == 4  # the highest of the unit-level answer (3) and its events (2, 4)
    assert answers["clarify"] == 3 and answers["control"] == "absent"
    s = score(ruptures, responses)
    assert s.markers["withdrawal"] == {"count": 1, "salience_sum": 4.0, "salience_max": 4.0, "events": 2}
    assert s.markers["resolution"] == {"count": 1, "salience_sum": 3.0, "salience_max": 3.0, "events": 1}
    bad = [{"id": "a", "code": "shouting", "start": -1, "end": None, "salience": 9},
           {"id": "a", "code": "denial", "start": 30, "end": 20, "salience": 1, "extra": 1},
           {"code": "denial", "start": 59, "end": 75, "salience": 1, "note": 5},
           "an event"]
    assert check_responses(ruptures, {**answered, "events": bad}, submit=False, duration=60) == [
        "events[0].code: no such marker 'shouting' in rupture-markers version 2",
        "events[0].start: -1 is not a time in seconds from the unit's start (≥ 0 and at most the unit's length 60 s)",
        "events[0].salience: 9 is not on the scale 1–5",
        "events[1]: unknown field 'extra'",
        "events[1].id: duplicate id 'a'",
        "events[1].end: 20 is not a time at or after the start within the unit",
        "events[2].id: expected a text id of 1–40 characters",
        "events[2].end: 75 is not a time at or after the start within the unit",
        "events[2].note: expected text of at most 2000 characters",
        "events[3]: expected an object with code, start, end, salience and note"]
    moments = parse({**to_data(ruptures), "events": {"spans": False}})
    assert check_responses(moments, {"events": good[:1]}, submit=False) == [
        "events[0].end: rupture-markers codes moments, not spans"]
    wai = builtin("wai-o-s")
    assert check_responses(wai, {"events": []}, submit=False) == [
        "events: wai-o-s version 1 does not code events in time"]
    assert check_responses(ruptures, {"events": {"a": 1}}, submit=False) == ["events: expected a list of events"]


def test_event_coding_needs_markers():
    with pytest.raises(InstrumentError) as err:
        parse({"id": "x", "name": "X", "version": 1, "rating_unit": "session", "scale": {"min": 1, "max": 3},
               "items": [{"id": "a", "label": "A"}], "events": {"tolerance_s": 2}, "marker_answers": "required"})
    assert err.value.problems == ["events: events place markers in time: define the markers",
                                  "marker_answers: there are no markers to answer"]
    with pytest.raises(InstrumentError) as err:
        parse({**to_data(builtin("rupture-markers")), "events": {"tolerance_s": 0, "moments": True}})
    assert err.value.problems == ["events.tolerance_s: Input should be greater than 0",
                                  "events.moments: unknown field (a typo?)"]
