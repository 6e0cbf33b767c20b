"""Speakers of stored transcripts: role corrections, therapist voiceprints, user-supplied turns (RTTM), exports.

A coordinator's role correction is stored on the speaker (``role_source =
"manual"``), written to the audit trail, rewritten into the transcript's
export files, and enrols the therapist's voice from that session so that
role assignment in the therapist's other sessions can recognise it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from coder.pipeline import audio, formats, interchange, vad
from coder.pipeline.diarize import Diarization, Turn, embeddings
from coder.pipeline.rttm import MAX_LABEL_CHARS
from coder.pipeline.roles import ROLES, assign_roles
from coder.pipeline.spans import merged, overlap_seconds
from coder.pipeline.words import attribute_words
from coder.study import transcripts as review
from coder.study.audit import audit
from coder.study.models import Dyad, Recording, Speaker, Therapist, TherapySession, Transcript, User, Voiceprint


log = logging.getLogger(__name__)


class RoleError(ValueError):
    pass


def speaking_time(segments: list[dict[str, Any]], label: str) -> float:
    """Seconds of transcript segments attributed to the speaker ``label``."""
    return sum(seg["end"] - seg["start"] for seg in segments if seg.get("speaker") == label)


def therapist_of(db: Session, recording: Recording) -> Therapist | None:
    return db.scalar(select(Therapist).join(Dyad, Dyad.therapist_id == Therapist.id)
                     .join(TherapySession, TherapySession.dyad_id == Dyad.id)
                     .where(TherapySession.id == recording.session_id))


def therapist_voiceprint(db: Session, therapist: Therapist | None) -> np.ndarray | None:
    """The mean of the therapist's enrolled voiceprints, unit length; None when none is enrolled.

    Voiceprints made by another network than today's (Resemblyzer, before CAM++) are recomputed from their
    session's audio where it is stored (``upgrade_voiceprints``); those that cannot be are left out, never
    compared, and a warning says to re-enrol.
    """
    if therapist is None:
        return None
    upgrade_voiceprints(db, therapist)
    prints = db.scalars(select(Voiceprint.embedding).where(Voiceprint.therapist_id == therapist.id)).all()
    current = [p for p in prints if embeddings.model_of(p) == embeddings.MODEL]
    if len(current) < len(prints):
        log.warning("therapist %s: %d voiceprint(s) made by %s are not compared with %s voices; re-enrol them "
                    "(coder therapists enrol)", therapist.id, len(prints) - len(current),
                    ", ".join(sorted({embeddings.model_of(p) for p in prints} - {embeddings.MODEL})),
                    embeddings.MODEL)
    if not current:
        return None
    mean = np.mean(np.asarray(current, dtype=float), axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-8)


def upgrade_voiceprints(db: Session, therapist: Therapist) -> int:
    """Recompute, with today's network, the therapist's session voiceprints made by an older one, from the
    session's audio and its therapist's turns; how many were recomputed."""
    done = 0
    for vp in db.scalars(select(Voiceprint).where(Voiceprint.therapist_id == therapist.id,
                                                  Voiceprint.source == "session")):
        if embeddings.model_of(vp.embedding) == embeddings.MODEL or not vp.detail.startswith("transcript "):
            continue
        transcript = db.get(Transcript, int(vp.detail.split()[1])) if vp.detail.split()[1].isdigit() else None
        speaker = next((s for s in transcript.speakers if s.role == "therapist"), None) if transcript else None
        vector = _session_voice(transcript, speaker.label) if speaker else None
        if vector is not None:
            old = embeddings.model_of(vp.embedding)
            vp.embedding = [round(float(x), 6) for x in vector]
            audit(db, "enrol_voice", therapist, None, source="session", transcript_id=transcript.id,
                  recomputed_from=old)
            done += 1
    if done:
        db.flush()
    return done


def _session_voice(transcript: Transcript, label: str) -> np.ndarray | None:
    """The voiceprint of ``label``'s turns in the transcript's recording, if its audio and turns are there."""
    turns = [Turn(float(a), float(b), str(c)) for a, b, c in ((transcript.notes or {}).get("diarization") or {})
             .get("turns", [])]
    if not any(t.speaker == label for t in turns):
        return None
    try:
        samples = audio.load(transcript.recording.path)
        return embeddings.turn_embeddings(samples, turns).get(label)
    except (audio.AudioError, embeddings.EncoderUnavailable, OSError) as exc:
        log.warning("transcript %s: the voiceprint could not be recomputed: %s", transcript.id, exc)
        return None


def voice_sample(audio_path: str | Path, start: float | None = None, end: float | None = None,
                 min_speech_s: float = 3.0) -> tuple[np.ndarray, float]:
    """(voiceprint, seconds of speech) of a recording of one person alone, or of its [start, end] stretch."""
    try:
        samples = audio.load(audio_path)
    except audio.AudioError as exc:
        raise ValueError(f"{audio_path}: {exc}") from None
    a = int((start or 0.0) * audio.SAMPLE_RATE)
    b = int(end * audio.SAMPLE_RATE) if end is not None else len(samples)
    clip = samples[a:b]
    regions = vad.speech_stamps(clip, audio.SAMPLE_RATE, 0.5, 0.25, 0.3)
    speech = sum(e - s for s, e in regions)
    if speech < min_speech_s:
        raise ValueError(f"{audio_path}: only {speech:.1f} s of speech; a voice sample needs at least "
                         f"{min_speech_s:.0f} s")
    return embeddings.voiceprint(clip, regions), speech


def enrol_sample(db: Session, therapist: Therapist, audio_path: str | Path, start: float | None = None,
                 end: float | None = None, actor: User | None = None) -> Voiceprint:
    """Enrol a therapist's voice from a recording of them alone (or the [start, end] stretch of one)."""
    vector, speech = voice_sample(audio_path, start, end)
    vp = Voiceprint(therapist_id=therapist.id, embedding=[round(float(x), 6) for x in vector],
                    source="sample", detail=str(Path(audio_path).name)[:500], speech_s=round(speech, 2))
    db.add(vp)
    audit(db, "enrol_voice", therapist, actor, source="sample", file=str(audio_path), speech_s=round(speech, 2))
    db.flush()
    return vp


def transcript_document(transcript: Transcript) -> dict[str, Any]:
    """The transcribe contract's document for a stored transcript, with its current (possibly corrected) roles."""
    recording = transcript.recording
    notes = transcript.notes or {}
    return {
        "audio": recording.path,
        "sha256": recording.sha256,
        "duration": transcript.duration_s,
        "engine": transcript.engine,
        "model": transcript.model,
        "language": transcript.language,
        "channels": notes.get("channels"),
        "no_speech": notes.get("no_speech", not transcript.segments),
        "speakers": {s.label: {"role": s.role, "confidence": s.role_confidence, "role_source": s.role_source,
                               **({"name": s.name} if s.name else {})}
                     for s in transcript.speakers},
        "review": {"status": transcript.status, "revision": transcript.revision},
        "segments": transcript.segments,
        "processing": notes.get("processing", {}),
        "diarization": notes.get("diarization"),
        "timings": transcript.timings,
    }


def export_stem(transcript: Transcript) -> str:
    return f"recording-{transcript.recording_id}"


def write_exports(transcript: Transcript, out_dir: Path, fmts: tuple[str, ...] = formats.FORMATS) -> dict[str, Path]:
    """The transcript's current revision as OUT_DIR/recording-ID.EXT in ``fmts`` (``interchange.EXPORTS``)."""
    return interchange.write(transcript_document(transcript), out_dir, export_stem(transcript), fmts,
                             title=transcript.recording.original_name)


def refresh_exports(transcript: Transcript, transcripts_dir: Path | None) -> None:
    """Rewrite the transcript's files where processing wrote them, so no export keeps an old role."""
    if transcripts_dir is not None and (Path(transcripts_dir) / f"{export_stem(transcript)}.json").exists():
        write_exports(transcript, Path(transcripts_dir))


def set_roles(db: Session, transcript: Transcript, roles: dict[str, str | None], actor: User | None = None,
              reason: str = "", transcripts_dir: Path | None = None) -> None:
    """Set speakers' roles by hand. ``roles`` maps labels to "therapist", "client" or None; speakers not
    named keep their role. At most one therapist and one client per transcript."""
    by_label = {s.label: s for s in transcript.speakers}
    unknown = sorted(set(roles) - set(by_label))
    if unknown:
        raise RoleError(f"no speaker {', '.join(unknown)} in this transcript (speakers: {', '.join(sorted(by_label))})")
    bad = sorted({r for r in roles.values() if r is not None and r not in ROLES})
    if bad:
        raise RoleError(f"unknown role {', '.join(bad)}; use therapist, client or none")
    after = {label: roles.get(label, s.role) for label, s in by_label.items()}
    for role in ROLES:
        holders = [label for label, r in after.items() if r == role]
        if len(holders) > 1:
            raise RoleError(f"{' and '.join(holders)} would both be the {role}; a transcript has one {role}")
    before = {label: s.role for label, s in by_label.items()}
    for label, role in roles.items():
        speaker = by_label[label]
        speaker.role, speaker.role_source = role, "manual"
        speaker.role_confidence = 1.0 if role else None
    audit(db, "set_roles", transcript, actor, before=before, after=after, reason=reason)
    _enrol_from_session(db, transcript, actor)
    db.flush()
    refresh_exports(transcript, transcripts_dir)


def swap_roles(db: Session, transcript: Transcript, actor: User | None = None, reason: str = "",
               transcripts_dir: Path | None = None) -> None:
    other = {"therapist": "client", "client": "therapist"}
    roles = {s.label: other[s.role] for s in transcript.speakers if s.role in other}
    if not roles:
        raise RoleError("no therapist or client in this transcript to swap")
    set_roles(db, transcript, roles, actor, reason or "swap", transcripts_dir)


def _enrol_from_session(db: Session, transcript: Transcript, actor: User | None) -> None:
    """The confirmed therapist speaker's voice becomes (replaces) this session's voiceprint for the therapist."""
    therapist = therapist_of(db, transcript.recording)
    if therapist is None:
        return
    detail = f"transcript {transcript.id}"
    for old in db.scalars(select(Voiceprint).where(Voiceprint.therapist_id == therapist.id,
                                                   Voiceprint.source == "session", Voiceprint.detail == detail)):
        db.delete(old)
    speaker = next((s for s in transcript.speakers if s.role == "therapist"), None)
    if speaker is None:
        return
    vector = speaker.embedding
    if not vector or embeddings.model_of(vector) != embeddings.MODEL:
        # a transcript from before CAM++ (or without voices): today's voiceprint from its audio, else none
        fresh = _session_voice(transcript, speaker.label)
        if fresh is None:
            return
        vector = speaker.embedding = [round(float(x), 6) for x in fresh]
    speech = speaking_time(transcript.segments, speaker.label)
    db.add(Voiceprint(therapist_id=therapist.id, embedding=vector, source="session", detail=detail,
                      speech_s=round(speech, 2)))
    audit(db, "enrol_voice", therapist, actor, source="session", transcript_id=transcript.id)


# the least share of a transcript's speech that imported turns must cover (less: refused unless forced)
MIN_COVERAGE = 0.8


def speech_covered(segments: list[dict[str, Any]], turns: list[Turn]) -> tuple[float, float]:
    """Seconds of the transcript's speech (its words, or segments without words) that ``turns`` cover, and the
    seconds of speech in all."""
    speech = merged([(float(w["start"]), float(w["end"])) for s in segments for w in (s.get("words") or [s])])
    covered = overlap_seconds(speech, merged([(t.start, t.end) for t in turns]))
    return covered, sum(end - start for start, end in speech)


def coverage(recording: Recording, turns: list[Turn]) -> float | None:
    """The least share of any of the recording's transcripts' speech that ``turns`` cover; None without a
    transcript (or speech)."""
    shares = [covered / total for covered, total in (speech_covered(t.segments or [], turns)
                                                     for t in recording.transcripts) if total > 0]
    return min(shares) if shares else None


def import_turns(db: Session, recording: Recording, turns: list[Turn], source: str, actor: User | None = None,
                 transcripts_dir: Path | None = None, force: bool = False) -> int:
    """Store user-supplied turns for a recording and re-attribute the words of its transcripts to them.

    Returns how many transcripts were updated. Later processing of the
    recording uses these turns instead of automatic diarisation. Roles are
    decided afresh (the speaker labels are the file's), keeping none of the
    old automatic or manual ones. A transcript a person has corrected gets
    the re-attributed words as a new revision, so the corrected one can be
    restored.

    Turns that cover less than ``MIN_COVERAGE`` of a transcript's speech are refused unless ``force``: the
    words outside them would all go to the speakers of the nearest turns, and the roles would be decided on
    them.
    """
    if not turns:
        raise ValueError(f"{source}: no turns for recording {recording.id}")
    long = next((t.speaker for t in turns if len(t.speaker) > MAX_LABEL_CHARS), None)
    if long is not None:
        raise ValueError(f"{source}: the speaker label {long[:20]!r}… is {len(long)} characters long; at most "
                         f"{MAX_LABEL_CHARS} are kept")
    if recording.duration_s and max(t.end for t in turns) > recording.duration_s + 1.0:
        raise ValueError(f"{source}: turns run to {max(t.end for t in turns):.1f} s but the recording is "
                         f"{recording.duration_s:.1f} s long")
    share = coverage(recording, turns)
    if share is not None and share < MIN_COVERAGE and not force:
        raise ValueError(f"{source}: the turns cover {share:.0%} of the speech in recording {recording.id}'s "
                         f"transcript; at least {MIN_COVERAGE:.0%} is needed (the words outside them would go to "
                         "the nearest turn's speaker). Use --force to import them anyway")
    recording.speaker_turns = [[round(t.start, 3), round(t.end, 3), t.speaker] for t in turns]
    recording.speaker_turns_source = str(source)[:500]
    audit(db, "import_rttm", recording, actor, source=str(source), turns=len(turns),
          speakers=sorted({t.speaker for t in turns}))
    voice = therapist_voiceprint(db, therapist_of(db, recording))
    for transcript in recording.transcripts:
        segments = attribute_words(transcript.segments, turns)
        speakers = assign_roles(segments, sorted({t.speaker for t in turns}), None, voice)
        if transcript.revision > 0:  # corrected by a person: the import is a revision, the corrections restorable
            review.save(db, transcript, transcript.revision, segments, actor,
                        note=f"speaker turns from {Path(str(source)).name}")
        else:
            transcript.segments = segments
        transcript.speakers.clear()
        db.flush()  # the old labels go before the new ones (which may reuse them) arrive
        transcript.speakers = [Speaker(label=label, role=info["role"], role_confidence=info["confidence"],
                                       role_source="auto") for label, info in speakers.items()]
        notes = dict(transcript.notes or {})
        notes["diarization"] = {**Diarization(turns, source="rttm").record("rttm", None), "source": str(source)}
        transcript.notes = notes
        db.flush()
        refresh_exports(transcript, transcripts_dir)
    return len(recording.transcripts)
