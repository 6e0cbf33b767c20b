"""Processing jobs with real worker processes (`coder worker`) on both queue backends: the embedded SQLite
queue, and a real Redis server. Two workers, five recordings, one worker killed (SIGKILL) during a job:
every recording ends transcribed exactly once. Plus the job protocol itself: exclusive claims, the reaper,
retries, and cancellation."""
from __future__ import annotations

import datetime as dt
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from coder.jobs import queue as tasks
from coder.config import load_settings
from coder.db import Database
from coder.study.models import AuditEvent, ProcessMeasures, Recording, Transcript
from coder.study.tree import get_or_create_dyad, get_or_create_session, get_or_create_study

from .support.audio import excerpt
from .support.cli import child_environment, coder
from .support.network import free_port
from .support.prerequisites import need


def _register(database: Database, files: list[Path], model: str) -> list[int]:
    from coder.pipeline.audio import probe, sha256_file

    ids = []
    with database.session() as db:
        study = get_or_create_study(db, "Trial Q")
        study.settings = {"processing": {"engine": "openai-whisper", "model": model, "diarizer": "builtin",
                                         "num_speakers": 2}}
        dyad = get_or_create_dyad(db, study, "T1", "C1", "D1")
        for n, path in enumerate(files, start=1):
            info = probe(path)
            rec = Recording(session_id=get_or_create_session(db, dyad, n).id, path=str(path),
                            original_name=path.name, sha256=sha256_file(path), size_bytes=path.stat().st_size,
                            duration_s=info.duration_s, sample_rate=info.sample_rate, channels=info.channels)
            db.add(rec)
            db.flush()
            ids.append(rec.id)
    return ids


@pytest.fixture
def redis_url(tmp_path):
    binary = shutil.which("redis-server")
    need(binary is not None, "redis-server not installed (Debian package redis-server)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.kill()
    proc.wait()


def _settings(tmp_path, database_url, queue_url=None) -> dict:
    """The installation's environment: for the commands run here and the workers' processes (no queue URL: the
    embedded queue)."""
    return {"CODER_HOME": str(tmp_path / "home"), "DATABASE_URL": database_url, "CODER_JOB_HEARTBEAT_S": "0.5",
            "CODER_JOB_STALE_S": "4", "CODER_JOB_ATTEMPTS": "3", "CODER_QUEUE_URL": queue_url or None}


@pytest.mark.parametrize("backend", ["embedded", "redis"])
def test_two_workers_one_killed_mid_job_every_recording_transcribed_once(backend, tmp_path, tiny_whisper,
                                                                          request):
    if backend == "redis":  # Redis for the queue, PostgreSQL for the study: the setting of many machines
        queue_url, database_url = request.getfixturevalue("redis_url"), request.getfixturevalue("postgres_url")
    else:
        queue_url, database_url = None, f"sqlite:///{tmp_path / 'coder.db'}"
    database = Database(database_url)
    database.migrate()
    files = [excerpt(tmp_path, 25, f"s{n}.wav", offset=20 * n) for n in range(5)]
    ids = _register(database, files, str(tiny_whisper))
    settings = _settings(tmp_path, database_url, queue_url)
    out = coder("jobs", "submit", "--all", "--reason", "test", env=settings, timeout=300)
    assert out.exit_code == 0 and "5 recording(s) queued" in out.stdout, out.stderr
    env = child_environment(settings)  # for the workers
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]
    workers = [subprocess.Popen([sys.executable, "-m", "coder.cli", "worker"], env=env, stdout=log,
                                stderr=subprocess.STDOUT) for log in logs]
    killed = None
    try:
        # kill -9 the worker of the first job seen running for half a second
        deadline = time.monotonic() + 300
        seen: dict[tuple[int, str], float] = {}
        while killed is None and time.monotonic() < deadline:
            with database.session() as db:
                for rec in db.scalars(select(Recording).where(Recording.status == "transcribing")):
                    first = seen.setdefault((rec.id, rec.worker), time.monotonic())
                    if time.monotonic() - first > 0.5:
                        pid = int(rec.worker.split(":")[1])
                        victim = next(w for w in workers if w.pid == pid)
                        victim.send_signal(signal.SIGKILL)
                        victim.wait()
                        killed = rec.id
                        break
            time.sleep(0.05)
        assert killed is not None, "no job was seen running"
        tasks.wait_idle(database, timeout=600)
        tasks.wait_measured(database, ids, timeout=300)  # each transcription queued a measures job
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGINT)
        for w in workers:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
        for log in logs:
            log.close()
    with database.session() as db:
        recs = {r.id: r for r in db.scalars(select(Recording))}
        assert {rid: recs[rid].status for rid in ids} == {rid: "transcribed" for rid in ids}, \
            {rid: (recs[rid].status, recs[rid].error) for rid in ids}
        counts = dict(db.execute(select(Transcript.recording_id, func.count()).group_by(Transcript.recording_id)).all())
        assert counts == {rid: 1 for rid in ids}  # exactly one transcript each
        assert recs[killed].attempts == 2 and recs[killed].error is None
        assert all(recs[rid].attempts == 1 for rid in ids if rid != killed)
        measured = {m.recording_id: m for m in db.scalars(select(ProcessMeasures))}
        assert sorted(measured) == sorted(ids) and all(m.voice and m.error is None for m in measured.values()), \
            {rid: m.error for rid, m in measured.items()}
    # every export complete, no temporary file left behind
    out_dir = tmp_path / "home" / "transcripts"
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"recording-{rid}.{fmt}" for rid in ids for fmt in ("json", "rttm", "vtt", "txt"))
    jobs = coder("jobs", env=settings, timeout=300)
    assert jobs.exit_code == 0 and jobs.stdout.count("\ttranscribed\t100 %") == 5, jobs.stdout
    database.dispose()


@pytest.fixture
def job_db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'coder.db'}")
    database.migrate()
    settings = load_settings(home=tmp_path / "home", database_url=database.url)
    tasks.configure(settings, database)
    yield database
    database.dispose()


def _queued(database, ids):
    with database.session() as db:
        recs = db.scalars(select(Recording).where(Recording.id.in_(ids))).all()
        tasks.submit(db, recs, None)


def test_a_recording_is_claimed_once(job_db, tmp_path, tiny_whisper):
    ids = _register(job_db, [excerpt(tmp_path, 3, "a.wav")], str(tiny_whisper))
    _queued(job_db, ids)
    assert tasks.claim(job_db, ids[0], "w1") is True
    assert tasks.claim(job_db, ids[0], "w2") is False
    assert tasks.run_job(ids[0]) == "skipped"  # a second delivery of the message does nothing
    with job_db.session() as db:
        rec = db.get(Recording, ids[0])
        assert (rec.status, rec.worker, rec.attempts) == ("transcribing", "w1", 1)


def test_the_reaper_requeues_stale_claims_then_gives_up(job_db, tmp_path, tiny_whisper):
    ids = _register(job_db, [excerpt(tmp_path, 3, "a.wav")], str(tiny_whisper))
    _queued(job_db, ids)
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    for attempt in range(1, 4):
        assert tasks.claim(job_db, ids[0], f"w{attempt}")
        with job_db.session() as db:
            db.execute(update(Recording).values(heartbeat_at=long_ago))
        assert tasks.reap(job_db, stale_s=60) == (([ids[0]], []) if attempt < 3 else ([], [ids[0]]))
    with job_db.session() as db:
        rec = db.get(Recording, ids[0])
        assert rec.status == "failed"
        assert rec.error == "worker w3 stopped responding during attempt 3; failed after 3 attempts"
    # a fresh heartbeat is left alone
    _queued(job_db, ids)
    assert tasks.claim(job_db, ids[0], "w4")
    assert tasks.reap(job_db, stale_s=60) == ([], [])


def test_input_errors_fail_at_once_and_a_job_runs_in_process(job_db, tmp_path, tiny_whisper, corrupt_file):
    good = excerpt(tmp_path, 4, "good.wav")
    ids = _register(job_db, [good], str(tiny_whisper))
    with job_db.session() as db:
        db.get(Recording, ids[0]).path = str(corrupt_file)  # the file went bad after registration
    _queued(job_db, ids)
    assert tasks.run_job(ids[0]) == "failed"
    with job_db.session() as db:
        rec = db.get(Recording, ids[0])
        assert (rec.status, rec.attempts) == ("failed", 1) and rec.error  # not retried: the input is bad
        rec.path = str(good)
    _queued(job_db, ids)
    assert tasks.run_job(ids[0]) == "transcribed"
    with job_db.session() as db:
        rec = db.get(Recording, ids[0])
        assert rec.status == "transcribed" and rec.progress_s == rec.duration_s and rec.transcript is not None
    # the transcription queued the recording's measures job
    assert [(t.name, t.args) for t in tasks.huey().pending()][-1] == ("measures", (ids[0],))
    assert tasks.run_measures_job(ids[0]) == "measured"
    with job_db.session() as db:
        assert db.scalar(select(ProcessMeasures)).voice


def test_stopping_the_worker_ends_the_running_job_and_the_reaper_queues_it_again(job_db, tmp_path, tiny_whisper):
    """No worker thread is left inside the speech model when the worker stops (the model's native threads abort
    the process at exit if one is); the job keeps its claim, which the reaper takes back."""
    ids = _register(job_db, [excerpt(tmp_path, 60, "long.wav")], str(tiny_whisper))
    _queued(job_db, ids)
    worker = tasks.start_embedded(load_settings(home=tmp_path / "home", database_url=job_db.url), job_db)
    tasks.enqueue(ids)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with job_db.session() as db:
            if db.get(Recording, ids[0]).status == "transcribing":
                break  # claimed: inside the speech model, whose first progress report ends the job
        time.sleep(0.05)
    started = time.monotonic()
    worker.stop()
    assert not any(thread.is_alive() for _, thread in worker.consumer.worker_threads)
    assert time.monotonic() - started < 60
    with job_db.session() as db:
        rec = db.get(Recording, ids[0])
        assert rec.status == "transcribing" and rec.transcript is None and rec.worker
    requeued, failed = tasks.reap(job_db, stale_s=0)
    assert requeued == ids and failed == []


def test_cancelling_a_running_job(job_db, tmp_path, tiny_whisper):
    ids = _register(job_db, [excerpt(tmp_path, 60, "long.wav")], str(tiny_whisper))
    _queued(job_db, ids)
    worker = tasks.start_embedded(load_settings(home=tmp_path / "home", database_url=job_db.url), job_db)
    try:
        tasks.enqueue(ids)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with job_db.session() as db:
                if db.get(Recording, ids[0]).status == "transcribing":
                    break
            time.sleep(0.05)
        with job_db.session() as db:
            assert tasks.cancel(db, [db.get(Recording, ids[0])], None, "wrong file") == ids
        tasks.wait_idle(job_db, timeout=120)
        time.sleep(3)  # the worker stops at its next progress report
    finally:
        worker.stop()
    with job_db.session() as db:
        rec = db.get(Recording, ids[0])
        assert rec.status == "cancelled" and rec.error == "cancelled: wrong file" and rec.transcript is None
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "cancel_processing")).detail["reason"] == \
            "wrong file"


def test_a_job_reports_progress_within_a_batch_and_an_estimate_of_the_time_left(job_db, tmp_path, tiny_whisper):
    """openai-whisper reports each 30-s window it decodes, so a recording shorter than one batch of speech
    (vad.BATCH_S) reports several times before its batch ends, and the watch over the job estimates the time
    left from the first of them on."""
    from coder.jobs.processing import process_one
    from coder.pipeline import vad
    from coder.pipeline.asr import load_engine

    ids = _register(job_db, [excerpt(tmp_path, 65, "long.wav")], str(tiny_whisper))
    with job_db.session() as db:
        duration = db.get(Recording, ids[0]).duration_s
    assert duration < vad.BATCH_S  # one batch
    watching = Recording(id=ids[0], status="transcribing", duration_s=duration, progress_s=0.0, attempts=1,
                         worker="w1")
    watch = tasks.TimeLeft()
    assert watch.estimate(watching) is None  # the first look: nothing to go on yet
    reports, estimates = [], []

    def progress(seconds):
        reports.append(seconds)
        watching.progress_s = seconds
        estimates.append(watch.estimate(watching))

    _name, error, _warnings = process_one(job_db, ids[0], load_engine("openai-whisper", str(tiny_whisper)),
                                          tmp_path / "transcripts", num_speakers=2, progress=progress)
    assert error is None, error
    assert reports == sorted(reports) and reports[-1] == pytest.approx(duration, abs=0.1)  # forwards, to the end
    assert len([s for s in reports if 0 < s < duration - 1]) >= 2  # windows decoded before the batch's end
    assert any(e is not None and e > 0 for e in estimates[:-1])
    watching.status = "transcribed"
    assert watch.estimate(watching) is None
