"""Rating units: whole session, fixed windows snapped to pauses, ranges found in the transcript."""
import pytest

from sqlalchemy import select

from coder.db import Database
from coder.study import instruments, units as u
from coder.study.accounts import create_user
from coder.study.models import Assignment, AuditEvent, Rating, Recording, Speaker, Transcript, User

from .support.cli import coder
from .support.tree import build_tree


def seg(start, end, speaker, text):
    return {"start": start, "end": end, "speaker": speaker, "text": text, "words": []}


# A 17-minute session: turns with pauses at 296.0–297.0 (near 5:00), 603.0–603.4 (near 10:00) and a long
# turn running from 895 to 910 (across 15:00, no pause within 5 s).
SEGMENTS = [seg(0, 296.0, "A", "Hello, how was your week?"), seg(297.0, 603.0, "B", "Busy."),
            seg(603.4, 895.0, "A", "Let us look at the homework you did."), seg(895.0, 910.0, "B", "I did not."),
            seg(911.0, 1010.0, "A", "Homework for next week then.")]


def test_whole_session():
    assert u.whole_session(1010.0) == [u.UnitSpan("whole_session", 0.0, 1010.0, "Whole session")]
    with pytest.raises(ValueError):
        u.whole_session(0)


def test_windows_snap_to_pauses_nearby_and_stay_put_otherwise():
    spans = u.fixed_windows(1010.0, 5, SEGMENTS)
    # 300 -> the pause at 296.5 (3.5 s away); the next target, 296.5 + 300 = 596.5, has no pause within 5 s
    # (603.2 is 6.7 s away) and stays; 896.5 -> the pause at 895.0. The last window, 895.0-1010.0 (115 s),
    # is under half a window and joins the one before.
    assert [(s.start_s, s.end_s) for s in spans] == [(0.0, 296.5), (296.5, 596.5), (596.5, 1010.0)]
    assert spans[0].label == "0:00–4:56 (5-minute window 1)"
    no_snap = u.fixed_windows(1010.0, 5, SEGMENTS, snap_s=0)
    assert [s.end_s for s in no_snap] == [300.0, 600.0, 1010.0]
    assert [s.end_s for s in u.fixed_windows(1010.0, 5, SEGMENTS, min_last_s=60)] == [296.5, 596.5, 895.0, 1010.0]


def test_a_short_last_window_joins_the_one_before():
    spans = u.fixed_windows(640.0, 5)
    assert [(s.start_s, s.end_s) for s in spans] == [(0.0, 300.0), (300.0, 640.0)]
    assert [(s.start_s, s.end_s) for s in u.fixed_windows(800.0, 5)] == [(0.0, 300.0), (300.0, 600.0),
                                                                          (600.0, 800.0)]
    assert [(s.start_s, s.end_s) for s in u.fixed_windows(200.0, 15)] == [(0.0, 200.0)]


def test_custom_ranges_are_checked():
    assert u.custom(603.4, 895.0, 1010.0, "homework review").label == "homework review"
    with pytest.raises(ValueError, match="0 ≤ start < end"):
        u.custom(50, 40, 1010.0)
    with pytest.raises(ValueError, match="ends at 2000 s but the recording is 1010 s long"):
        u.custom(0, 2000, 1010.0)


def test_find_merges_nearby_mentions():
    found = u.find(SEGMENTS, "homework", context_s=60)
    assert found == [(603.4, 1010.0, "Let us look at the homework you did.")]  # 911 < 895 + 60: merged
    assert u.find(SEGMENTS, "homework", context_s=10) == [(603.4, 905.0, "Let us look at the homework you did."),
                                                          (911.0, 1010.0, "Homework for next week then.")]
    assert u.find(SEGMENTS, "relapse") == []
    assert u.find(SEGMENTS, "your week", context_s=0) == [(0.0, 296.0, "Hello, how was your week?")]
    assert u.find(SEGMENTS, "(homework") == []  # not a valid expression: searched as plain text


def test_excerpt_takes_segments_mostly_inside():
    part = u.excerpt(SEGMENTS, 296.5, 895.0, {"A": "therapist", "B": "client"})
    assert [(p["text"], p["role"]) for p in part] == [("Busy.", "client"),
                                                     ("Let us look at the homework you did.", "therapist")]


def test_units_from_the_command_line(tmp_path):
    home = tmp_path / "home"
    coder("--home", home, "init", check=True)
    database = Database(f"sqlite:///{home / 'coder.db'}")
    with database.session() as db:
        *_, rec, _unit, instrument = build_tree(db)
        instrument_id = instrument.id
        rec.duration_s = 1010.0
        t = Transcript(recording_id=rec.id, engine="e", model="m", language="en", duration_s=1010.0,
                       segments=SEGMENTS, timings={}, notes={})
        t.speakers = [Speaker(label="A", role="therapist"), Speaker(label="B", role="client")]
        db.add(t)

    def units(*args, ok=True):
        proc = coder("--home", home, "units", *args)
        assert (proc.exit_code == 0) == ok, proc.stderr
        return proc

    markers = ("--instrument", "rupture-markers")
    assert "instrument rupture-markers is not stored" in units("add", "1", "--whole", *markers, ok=False).stderr
    with database.session() as db:
        instruments.store(db, instruments.builtin("rupture-markers"))
    out = units("add", "s1.wav", "--window", "5", *markers).stdout.splitlines()
    assert len(out) == 3 and out[0].split("\t")[1:3] == ["fixed_window", "0.0–296.5 s"]
    found = units("add", "s1", "--find", "homework", "--context", "60", *markers).stdout
    assert "custom\t603.4–1010.0 s\t'homework' at 10:03: Let us look at the homework you did." in found
    assert "0 ≤ start < end" in units("add", "1", "--range", "9", "3", *markers, ok=False).stderr
    assert "choose one of" in units("add", "1", *markers, ok=False).stderr
    assert "never mentions 'relapse'" in units("add", "1", "--find", "relapse", *markers, ok=False).stderr
    # units are for named instruments, and fit them
    assert "Missing option '--instrument'" in units("add", "1", "--whole", ok=False).stderr
    assert "rupture-markers is rated on 5-minute segments: cut 5-minute windows" in \
        units("add", "1", "--whole", *markers, ok=False).stderr
    assert "not 10-minute windows" in units("add", "1", "--window", "10", *markers, ok=False).stderr
    listed = units("list", "1").stdout.splitlines()
    assert len(listed) == 1 + 3 + 1  # the tree's whole-session unit, three windows, the homework stretch
    assert any("1 segments\tClient: Busy." in line for line in listed)
    assert sum("\tfor rupture-markers" in line for line in listed) == 4
    with database.session() as db:
        assert len(db.get(Recording, 1).rating_units) == 5
        window = db.get(Recording, 1).rating_units[1]
        rated = db.get(Recording, 1).rating_units[0]
        db.add(Assignment(rater_id=create_user(db, "ana", "a long enough password", "rater").id,
                          rating_unit_id=window.id, instrument_id=instruments.find(db, "rupture-markers").id))
        db.flush()
        rater = db.scalar(select(User.id))
        assignment = Assignment(rater_id=rater, rating_unit_id=rated.id, instrument_id=instrument_id)
        db.add(assignment)
        db.flush()
        db.add(Rating(assignment_id=assignment.id, rater_id=rater, responses={}, status="draft"))
        window_id, rated_id = window.id, rated.id

    # deleting: refused whole when one unit has a rating; an unrated unit goes, its assignment withdrawn
    refused = units("delete", str(window_id), str(rated_id), ok=False).stderr
    assert f"unit {rated_id} has ratings and cannot be deleted" in refused and "nothing deleted" in refused
    assert len(units("list", "1").stdout.splitlines()) == 5
    assert units("delete", str(window_id), "--reason", "wrong length").stdout == \
        f"unit {window_id} deleted (1 unrated assignment(s) withdrawn)\n"
    assert len(units("list", "1").stdout.splitlines()) == 4
    assert f"no rating unit {window_id}" in units("delete", str(window_id), ok=False).stderr
    with database.session() as db:
        trail = db.scalars(select(AuditEvent).where(AuditEvent.entity == "rating_units",
                                                    AuditEvent.action == "delete")).all()
        assert [(e.entity_id, e.detail["reason"]) for e in trail] == [(window_id, "wrong length")]
