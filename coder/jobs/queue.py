"""Transcription and diarisation as jobs on a Huey queue.

The queue carries messages ("transcribe recording 12"); the study database holds the truth about each job.
A worker first *claims* the recording with one conditional UPDATE (queued or retrying → transcribing, with
its name, a heartbeat and the attempt count), so a message delivered twice, or to two workers, runs once.
While it works, a heartbeat thread renews the claim every few seconds and notices a cancellation. A
worker killed mid-job (kill -9) stops renewing; the reaper, which every worker runs, finds the stale
claim, marks the recording ``retrying`` and queues it again, until ``CODER_JOB_ATTEMPTS`` attempts have
been used and it is marked ``failed`` with the reason. The transcript is stored in one transaction that
replaces any earlier one of the same engine and model, and exports are written to a temporary name and
renamed, so a retried job leaves no duplicate and no half-written file. A transcribed recording then gets a
``measures`` job (its session process measures, stored by ``coder.study.measures``); a failing one records its
reason beside the measures and leaves the transcript as it is.

Backends (``CODER_QUEUE_URL``):

* unset: the embedded backend, Huey's SQLite storage in ``$CODER_HOME/queue.db``: no server; every worker
  on the machine shares the file;
* ``redis://HOST:PORT/DB``: Huey's Redis storage, for workers on many machines (each with the same
  ``DATABASE_URL`` and access to the recordings' paths).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from huey import RedisHuey, SqliteHuey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from coder.config import Settings, load_settings
from coder.db import Database
from coder.jobs.options import options_of
from coder.jobs.processing import measure_one, process_one
from coder.pipeline import audio
from coder.pipeline.asr import load_engine
from coder.study.audit import audit
from coder.study.models import ProcessMeasures, Recording, User, utcnow

log = logging.getLogger(__name__)
HEARTBEAT_S = float(os.environ.get("CODER_JOB_HEARTBEAT_S", 5))
STALE_S = float(os.environ.get("CODER_JOB_STALE_S", 60))
MAX_ATTEMPTS = int(os.environ.get("CODER_JOB_ATTEMPTS", 3))
WAITING = ("queued", "retrying")
ACTIVE = ("queued", "transcribing", "retrying")
UNPROCESSED = ("registered", "failed", "cancelled")  # what "process all" takes up


class Stopping(Exception):
    """The worker is being stopped: the job ends where it is, and the reaper queues it again."""


class Cancelled(Exception):
    """The coordinator cancelled the job while it ran."""


def queue_url(settings: Settings) -> str:
    return os.environ.get("CODER_QUEUE_URL") or f"sqlite:///{settings.home / 'queue.db'}"


def make_huey(settings: Settings):
    """The Huey instance of this installation, with the transcription task registered on it."""
    url = queue_url(settings)
    if url.startswith(("redis://", "rediss://", "unix://")):
        huey = RedisHuey("coder", url=url, results=False)
    elif url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        huey = SqliteHuey("coder", filename=path, results=False, timeout=30)
    else:
        raise ValueError(f"CODER_QUEUE_URL must be redis://… or sqlite:///…, not {url!r}")

    @huey.task(name="transcribe")
    def transcribe(recording_id: int) -> None:
        run_job(recording_id)

    @huey.task(name="measures")
    def measures(recording_id: int) -> None:
        run_measures_job(recording_id)

    huey.coder_transcribe = transcribe  # the tasks, for enqueue() and enqueue_measures()
    huey.coder_measures = measures
    return huey


# One database and one Huey per process, from the environment (workers are started with the same settings).
_state: dict[str, Any] = {}
_lock = threading.Lock()
# Set while an embedded worker stops: a running job leaves at its next progress report, so that no thread is
# still inside the speech model when the process exits (its native threads abort the process if one is).
_stopping = threading.Event()


def _settings() -> Settings:
    with _lock:
        if "settings" not in _state:
            _state["settings"] = load_settings()
        return _state["settings"]


def configure(settings: Settings, database: Database | None = None) -> None:
    """Use these settings (and database) in this process, instead of those of the environment."""
    with _lock:
        _state.clear()
        _state["settings"] = settings
        if database is not None:
            _state["database"] = database


def _database() -> Database:
    settings = _settings()
    with _lock:
        if "database" not in _state:
            _state["database"] = Database(settings.database_url)
        return _state["database"]


def huey():
    settings = _settings()
    with _lock:
        if "huey" not in _state:
            _state["huey"] = make_huey(settings)
        return _state["huey"]


def worker_name() -> str:
    with _lock:
        if "worker" not in _state:
            _state["worker"] = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        return _state["worker"]


# --- submitting, cancelling -------------------------------------------------------------------------------

def enqueue(recording_ids: list[int], instance=None) -> None:
    """Send the jobs to the queue (``instance``: a Huey from make_huey; default this process's)."""
    task = (instance or huey()).coder_transcribe
    for rid in recording_ids:
        task(rid)


def enqueue_measures(recording_ids: list[int], instance=None) -> None:
    """Queue the measures jobs of these (transcribed) recordings."""
    task = (instance or huey()).coder_measures
    for rid in recording_ids:
        task(rid)


def unprocessed(recordings: list[Recording]) -> list[Recording]:
    """The recordings never processed, or whose processing failed or was cancelled."""
    return [rec for rec in recordings if rec.status in UNPROCESSED]


def submit(db: Session, recordings: list[Recording], actor: User | None, reason: str = "") -> list[int]:
    """Mark recordings queued (those already queued or running are left alone); enqueue after the commit."""
    queued = []
    for rec in recordings:
        if not rec.live or rec.status in ACTIVE:
            continue
        rec.status, rec.queued_at, rec.progress_s, rec.error = "queued", utcnow(), 0.0, None
        rec.attempts, rec.heartbeat_at, rec.worker = 0, None, None
        queued.append(rec.id)
    if queued:
        audit(db, "queue_processing", "recordings", actor, recordings=queued, reason=reason)
    db.flush()
    return queued


def cancel(db: Session, recordings: list[Recording], actor: User | None, reason: str = "") -> list[int]:
    """Cancel queued, retrying and running jobs; a running one stops at its next progress report."""
    done = []
    for rec in recordings:
        if rec.status in ACTIVE:
            rec.status, rec.error = "cancelled", f"cancelled{': ' + reason if reason else ''}"
            done.append(rec.id)
    if done:
        audit(db, "cancel_processing", "recordings", actor, recordings=done, reason=reason)
    db.flush()
    return done


class TimeLeft:
    """Estimates of a running job's time left, from its progress over the time this process has watched it:
    the rate of audio transcribed since the job was first seen running, applied to the audio still to go.

    The database keeps the progress (``Recording.progress_s``) but not when the job started, so the watch begins
    at the first look (a page or a poll); there is no estimate until the progress has moved since then."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._seen: dict[int, tuple[tuple, float, float]] = {}  # recording id -> (claim, when, progress)
        self._lock = threading.Lock()

    def estimate(self, rec: Recording) -> float | None:
        """Seconds left for ``rec``'s running job, or None (not running, or no progress seen yet)."""
        with self._lock:
            if rec.status != "transcribing":
                self._seen.pop(rec.id, None)
                return None
            now, done, claim = self._clock(), rec.progress_s or 0.0, (rec.attempts, rec.worker)
            first = self._seen.get(rec.id)
            if first is None or first[0] != claim or done < first[2]:
                self._seen[rec.id] = (claim, now, done)
                return None
            _claim, since, at_first = first
            if done <= at_first or now <= since:
                return None
            rate = (done - at_first) / (now - since)  # audio seconds per second
            return max(0.0, (rec.duration_s - done) / rate)


time_left = TimeLeft()  # the web app's watch over running jobs


def percent_done(rec: Recording) -> int:
    """How much of ``rec`` its job has transcribed, in whole percent."""
    return int(min(100.0, 100.0 * (rec.progress_s or 0.0) / rec.duration_s)) if rec.duration_s > 0 else 0


# --- running a job ---------------------------------------------------------------------------------------------

def claim(database: Database, recording_id: int, worker: str) -> bool:
    with database.session() as db:
        result = db.execute(
            update(Recording)
            .where(Recording.id == recording_id, Recording.status.in_(WAITING), Recording.live)
            .values(status="transcribing", worker=worker, heartbeat_at=utcnow(), progress_s=0.0,
                    attempts=Recording.attempts + 1, error=None)
            .execution_options(synchronize_session=False))
        return result.rowcount == 1


class _Heartbeat(threading.Thread):
    """Renews the claim while the job runs, and notices a cancellation or a lost claim."""

    def __init__(self, database: Database, recording_id: int, worker: str):
        super().__init__(daemon=True, name=f"heartbeat-{recording_id}")
        self.database, self.recording_id, self.worker = database, recording_id, worker
        self.finished = threading.Event()
        self.cancelled = False
        self.progress_s: float | None = None

    def beat(self) -> None:
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if self.progress_s is not None:
            values["progress_s"] = self.progress_s
        with self.database.session() as db:
            owned = db.execute(update(Recording).where(Recording.id == self.recording_id,
                                                       Recording.worker == self.worker,
                                                       Recording.status == "transcribing")
                               .values(**values).execution_options(synchronize_session=False)).rowcount
        if not owned:
            self.cancelled = True  # cancelled, or taken over after this worker was presumed dead

    def run(self) -> None:
        while not self.finished.wait(HEARTBEAT_S):
            try:
                self.beat()
            except Exception:  # a database hiccup: the next beat tries again
                log.exception("heartbeat of recording %s", self.recording_id)


def _engine(options: dict[str, Any]):
    settings = _settings()
    model = options.get("model") or settings.whisper_model
    key = ("engine", options["engine"], model)
    with _lock:
        if key not in _state:
            _state[key] = load_engine(options["engine"], model, settings.models_dir,
                                      device=os.environ.get("CODER_DEVICE") or None)
        return _state[key]


def run_job(recording_id: int) -> str:
    """Claim and process one recording; returns what happened (transcribed, failed, retrying, cancelled,
    skipped)."""
    database = _database()
    worker = worker_name()
    if not claim(database, recording_id, worker):
        return "skipped"
    heart = _Heartbeat(database, recording_id, worker)
    heart.start()

    last_check = [time.monotonic()]

    def progress(seconds: float) -> None:
        heart.progress_s = float(seconds)
        if time.monotonic() - last_check[0] > 0.5:  # a cancellation is noticed within half a second of work
            last_check[0] = time.monotonic()
            heart.beat()
        if heart.cancelled:
            raise Cancelled()
        if _stopping.is_set():
            raise Stopping()

    try:
        with database.session() as db:
            rec = db.get(Recording, recording_id)
            options = options_of(rec.session.dyad.study)
        try:
            engine = _engine(options)
        except Exception as exc:
            return _finish(database, recording_id, worker, "failed", f"model not loaded: {exc}")
        settings = _settings()
        name, error, _warnings = process_one(
            database, recording_id, engine, settings.transcripts_dir, diarizer=options["diarizer"],
            num_speakers=options["num_speakers"], language=options["language"],
            playback_dir=settings.playback_dir, progress=progress, raise_on=(Cancelled, Stopping), job=True)
        if error is None:
            try:
                enqueue_measures([recording_id])  # a job of its own: the transcript is already stored
            except Exception:  # the queue refused it: the transcript stands, the analysis page offers the job
                log.exception("recording %s: measures job not queued", recording_id)
            return "transcribed"
        permanent = isinstance(error, audio.AudioError)
        return _finish(database, recording_id, worker, "failed" if permanent else "retry", str(error))
    except Cancelled:
        return "cancelled"
    except Stopping:
        return "stopped"  # still claimed: the reaper queues it again once the claim goes stale
    finally:
        heart.finished.set()


def run_measures_job(recording_id: int) -> str:
    """Compute and store one recording's process measures; returns ``measured`` or ``failed`` (the reason is
    stored beside the measures and logged; the transcript is untouched)."""
    error = measure_one(_database(), recording_id)
    if error:
        log.warning("recording %s: %s", recording_id, error)
        return "failed"
    return "measured"


def _finish(database: Database, recording_id: int, worker: str, outcome: str, error: str) -> str:
    """A failed attempt: retried while attempts remain (unless the failure is in the input), else failed."""
    error = " ".join(error.split())[:1000]
    with database.session() as db:
        rec = db.get(Recording, recording_id)
        if rec is None or rec.worker != worker or rec.status != "transcribing":
            return "cancelled"
        if outcome == "retry" and rec.attempts < MAX_ATTEMPTS:
            rec.status, rec.error = "retrying", f"attempt {rec.attempts} failed: {error}"
            retry = True
        else:
            rec.status, rec.error = "failed", error if rec.attempts <= 1 else \
                f"failed {rec.attempts} times; last: {error}"
            retry = False
    if retry:
        enqueue([recording_id])
        return "retrying"
    return "failed"


# --- the reaper ---------------------------------------------------------------------------------------------------

def reap(database: Database | None = None, stale_s: float | None = None) -> tuple[list[int], list[int]]:
    """Jobs whose worker stopped renewing its claim: queued again while attempts remain, else failed.
    Returns (requeued, failed) recording ids."""
    database = database or _database()
    cutoff_at = utcnow() - dt.timedelta(seconds=STALE_S if stale_s is None else stale_s)
    requeued, failed = [], []
    with database.session() as db:
        stale = db.scalars(select(Recording).where(Recording.status == "transcribing",
                                                   Recording.heartbeat_at < cutoff_at)).all()
        for rec in stale:
            lost = f"worker {rec.worker} stopped responding during attempt {rec.attempts}"
            # conditional, so that two reapers (or a worker waking up) cannot both act on it
            target = ("retrying", f"{lost}; retrying") if rec.attempts < MAX_ATTEMPTS else \
                ("failed", f"{lost}; failed after {rec.attempts} attempts")
            n = db.execute(update(Recording).where(Recording.id == rec.id, Recording.status == "transcribing",
                                                   Recording.heartbeat_at == rec.heartbeat_at)
                           .values(status=target[0], error=target[1], worker=None)
                           .execution_options(synchronize_session=False)).rowcount
            if n:
                (requeued if target[0] == "retrying" else failed).append(rec.id)
    if requeued:
        enqueue(requeued)
    for rid in requeued + failed:
        log.warning("recording %s: worker lost; %s", rid, "requeued" if rid in requeued else "failed")
    return requeued, failed


class Reaper(threading.Thread):
    def __init__(self, interval: float | None = None):
        super().__init__(daemon=True, name="coder-reaper")
        self.interval = interval or max(1.0, min(30.0, STALE_S / 2))
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                reap()
            except Exception:
                log.exception("reaper")


# --- workers ----------------------------------------------------------------------------------------------------

@dataclass
class Worker:
    consumer: Any
    reaper: Reaper

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop taking jobs, end the running one at its next progress report, and wait for the threads."""
        _stopping.set()
        try:
            self.reaper.stopped.set()
            self.consumer.stop(graceful=False)
            deadline = time.monotonic() + timeout_s
            for _, thread in self.consumer.worker_threads:
                if thread.is_alive():
                    thread.join(max(0.0, deadline - time.monotonic()))
        finally:
            _stopping.clear()


def start_embedded(settings: Settings, database: Database | None = None, workers: int = 1) -> Worker:
    """A worker inside this process (threads), for ``coder serve``, ``coder demo`` and tests. Huey's
    consumer sets signal handlers for a process of its own; the server's handlers are put back."""
    configure(settings, database)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer = huey().create_consumer(workers=workers, worker_type="thread", periodic=False, initial_delay=0.1,
                                      max_delay=1.0, check_worker_health=False)
    if threading.current_thread() is threading.main_thread():
        consumer.start()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    else:  # signal handlers can only be set from the main thread; start the parts directly
        consumer.scheduler.start()
        for _, thread in consumer.worker_threads:
            thread.start()
    reaper = Reaper()
    reaper.start()
    return Worker(consumer, reaper)


def run_worker(workers: int = 1, worker_type: str = "thread") -> None:
    """A worker process of its own (``coder worker``): runs until interrupted."""
    reaper = Reaper()
    reaper.start()
    consumer = huey().create_consumer(workers=workers, worker_type=worker_type, periodic=False,
                                      initial_delay=0.1, max_delay=2.0)
    try:
        consumer.run()
    finally:
        reaper.stopped.set()


def wait_measured(database: Database, recording_ids: list[int], timeout: float = 600) -> None:
    """Block until each recording has measures stored or a failure recorded (after its measures job)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with database.session() as db:
            done = set(db.scalars(select(ProcessMeasures.recording_id)
                                  .where(ProcessMeasures.recording_id.in_(recording_ids))))
        if done >= set(recording_ids):
            return
        time.sleep(0.3)
    raise TimeoutError("measures still being computed")


def wait_idle(database: Database, recording_ids: list[int] | None = None, timeout: float = 600) -> None:
    """Block until none of the recordings (default: all) is queued, running or retrying."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with database.session() as db:
            stmt = select(Recording.id).where(Recording.status.in_(ACTIVE))
            if recording_ids is not None:
                stmt = stmt.where(Recording.id.in_(recording_ids))
            if db.scalar(stmt.limit(1)) is None:
                return
        time.sleep(0.3)
    raise TimeoutError("recordings still being processed")
