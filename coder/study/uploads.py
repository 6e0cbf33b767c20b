"""Recordings uploaded through the browser: streamed to disk with their SHA-256, checked, registered.

The upload is written to a temporary name under the recordings folder while it is hashed and its size
held to the limit; what it is comes from its first bytes, never from its name (``audio.sniff``: a PDF
called session.wav is refused, and a WAV called session.mp3 is stored as .wav); it is decoded once in a
child process with time and memory limits (``audio.probe_isolated``: corrupt, truncated, empty and silent
files are refused with the reason, and a file that crashes the decoder cannot crash the web app); compared
with the SHA-256 the browser computed where it sent one (a mismatch means a damaged transfer), checked
against every registered recording (the same audio twice is refused, naming the first), and only then
renamed to ``recordings/<sha256>.<ext>`` and registered in its session. The name the file came with is
kept only as a label, cleaned of folder parts and odd characters (``safe_name``).

A manifest CSV sent with the files (the columns of ``coder ingest``) is read into rows for the upload form
(``manifest_rows``); it registers nothing.
"""
from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coder.pipeline import audio
from coder.study.audit import audit
from coder.study.ingest import ManifestError, parse_row, read_manifest
from coder.study.models import Dyad, Recording, Study, User
from coder.study.tree import StudyError, get_or_create_session

EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac", ".webm", ".aiff", ".aif"}
MAX_BYTES = 4 << 30  # the default upload limit (CODER_MAX_UPLOAD_BYTES)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class UploadError(ValueError):
    """The upload was refused; nothing of it is kept. The message says why."""


def safe_name(filename: str) -> str:
    """The file's own name, without any folder part or characters a path could misuse."""
    name = Path(filename.replace("\\", "/")).name
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip(" .")
    return name[:200] or "recording"


def store(db: Session, recordings_dir: Path, stream: IO[bytes], filename: str, dyad: Dyad, number: int,
          actor: User | None, time_point: str | None = None, treatment_arm: str | None = None,
          date: dt.date | None = None, client_sha256: str | None = None, max_bytes: int = MAX_BYTES) -> Recording:
    name = safe_name(filename)
    if number < 0:
        raise UploadError(f"{name}: the session number must be 0 or more")
    incoming = recordings_dir / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    part = incoming / f"{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        try:
            with open(part, "wb") as out:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    size += len(block)
                    if size > max_bytes:
                        raise UploadError(f"{name}: larger than the upload limit of {max_bytes / 1e9:.1f} GB")
                    if len(head) < audio.SNIFF_BYTES:
                        head += block[:audio.SNIFF_BYTES - len(head)]
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise UploadError(f"{name}: no space left on the disk for recordings; nothing of the file was "
                                  "kept (free space, then upload it again)") from None
            raise UploadError(f"{name}: could not be stored ({exc.strerror or exc})") from None
        if size == 0:
            raise UploadError(f"{name}: the file is empty")
        kind = audio.sniff(head)
        if kind is None:
            raise UploadError(f"{name}: not an audio file (its content is {audio.describe(head)}); upload WAV, "
                              "FLAC, Ogg, MP3, M4A/MP4, AAC, WebM or AIFF recordings")
        ext = kind[1]
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
            info = audio.probe_isolated(part)
        except audio.AudioError as exc:
            raise UploadError(f"{name}: {exc}") from None
        try:
            session = get_or_create_session(db, dyad, number, date, time_point, treatment_arm)
        except StudyError as exc:
            raise UploadError(f"{name}: {exc}") from None
        final = recordings_dir / f"{sha}{ext}"
        if final.resolve().parent != recordings_dir.resolve():  # the name is ours, but make sure
            raise UploadError(f"{name}: refused storage path")
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


def manifest_rows(stream: IO[bytes], filename: str, study: Study) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of an uploaded manifest CSV for the study's upload form, and why each row that cannot be read
    was left out; ManifestError (naming the file by ``filename``) when the file as a whole cannot be read."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.csv"
        with open(path, "wb") as out:
            shutil.copyfileobj(stream, out)
        try:
            raw = read_manifest(path)
        except ManifestError as exc:
            raise ManifestError(str(exc).replace(str(path), filename or "manifest")) from None
    rows, errors = [], []
    for i, row in enumerate(raw, start=2):  # row 1 is the header
        try:
            meta = parse_row(row, study.name)
            if meta["study"] != study.name:
                raise ValueError(f"names study {meta['study']}, not {study.name}")
            rows.append({"row": i, "file": safe_name(row["file"]), "therapist": meta["therapist"],
                         "client": meta["client"], "dyad": meta["dyad"] or "", "session": meta["number"],
                         "time_point": meta["time_point"] or "", "arm": meta["arm"] or "",
                         "date": meta["date"].isoformat() if meta["date"] else ""})
        except ValueError as exc:
            errors.append(f"row {i} ({row.get('file', '')}): {exc}")
    return rows, errors
