"""Recordings uploaded through the browser: streamed to disk with their SHA-256, checked, registered.

The upload is written to a temporary name under the recordings folder while it is hashed, then decoded
once (``audio.probe``: corrupt, truncated, empty and silent files are refused with the reason), compared
with the SHA-256 the browser computed where it sent one (a mismatch means a damaged transfer), checked
against every registered recording (the same audio twice is refused, naming the first), and only then
renamed to ``recordings/<sha256>.<ext>`` and registered in its session.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audio
from .models import Dyad, Recording, User
from .study import StudyError, audit, get_or_create_session

EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac", ".webm", ".aiff", ".aif"}


class UploadError(ValueError):
    """The upload was refused; nothing of it is kept. The message says why."""


def safe_name(filename: str) -> str:
    """The file's own name, without any folder part or characters a path could misuse."""
    name = Path(filename.replace("\\", "/")).name
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip(" .")
    return name[:200] or "recording"


def store(db: Session, recordings_dir: Path, stream: IO[bytes], filename: str, dyad: Dyad, number: int,
          actor: User | None, time_point: str | None = None, treatment_arm: str | None = None,
          date: dt.date | None = None, client_sha256: str | None = None) -> Recording:
    name = safe_name(filename)
    ext = Path(name).suffix.lower()
    if ext not in EXTENSIONS:
        raise UploadError(f"{name}: not an audio file this tool reads (use one of {', '.join(sorted(EXTENSIONS))})")
    if number < 0:
        raise UploadError(f"{name}: the session number must be 0 or more")
    incoming = recordings_dir / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    part = incoming / f"{uuid.uuid4().hex}{ext}"
    digest = hashlib.sha256()
    size = 0
    try:
        with open(part, "wb") as out:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
                size += len(block)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        if client_sha256 and client_sha256.lower() != sha:
            raise UploadError(f"{name}: the file arrived damaged (its SHA-256 differs from the browser's); "
                              "upload it again")
        existing = db.scalar(select(Recording).where(Recording.sha256 == sha))
        if existing is not None:
            where = existing.session
            raise UploadError(f"{name}: duplicate of {existing.original_name} (recording {existing.id}, dyad "
                              f"{where.dyad.code}, session {where.number}); the same audio is registered already")
        try:
            info = audio.probe(part)
        except audio.AudioError as exc:
            raise UploadError(f"{name}: {exc}") from None
        try:
            session = get_or_create_session(db, dyad, number, date, time_point, treatment_arm)
        except StudyError as exc:
            raise UploadError(f"{name}: {exc}") from None
        final = recordings_dir / f"{sha}{ext}"
        os.replace(part, final)
        recording = Recording(session_id=session.id, path=str(final), original_name=name, sha256=sha,
                              size_bytes=size, duration_s=info.duration_s, sample_rate=info.sample_rate,
                              channels=info.channels)
        db.add(recording)
        db.flush()
        audit(db, "upload", recording, actor, file=name, sha256=sha, size_bytes=size, dyad=dyad.code, session=number)
        return recording
    finally:
        part.unlink(missing_ok=True)
