"""The smallest study tree: one study, dyad, session, recording, whole-session unit and instrument."""
from __future__ import annotations

from coder.study import tree as svc
from coder.study.models import Instrument, RatingUnit, Recording


def build_tree(db, name="Trial A", sha="a" * 64):
    """Study ``name`` with dyad T1–C1, session 1 (pre, CBT), a 60-s recording s1.wav (checksum ``sha``), its
    whole-session unit and an instrument row (wai-o-s version 1); flushed, returned in that order."""
    s = svc.get_or_create_study(db, name)
    dyad = svc.get_or_create_dyad(db, s, "T1", "C1")
    session = svc.get_or_create_session(db, dyad, 1, time_point="pre", treatment_arm="CBT")
    rec = Recording(session_id=session.id, path="/data/s1.wav", original_name="s1.wav", sha256=sha, size_bytes=10,
                    duration_s=60.0, sample_rate=16000, channels=1)
    db.add(rec)
    db.flush()
    unit = RatingUnit(session_id=rec.session_id, recording_id=rec.id, kind="whole_session", start_s=0, end_s=60)
    instrument = Instrument(key="wai-o-s", version="1", name="WAI-O-S")
    db.add_all([unit, instrument])
    db.flush()
    return s, dyad, session, rec, unit, instrument
