"""The de-identification review screen of a transcript, for the coordinators of its study: the candidate
identifiers in the words with the recording beside them, a person's decisions (accept, reject, add missed
words), the dyad's lists of people, applying the pseudonyms, the de-identified version, its exports and the
anonymisation log (``coder.study.deidentification``; docs/deidentification.md).

Coordinators only: the screen shows the original names, the lists and the log, which identify people. Each
change is one JSON request that answers with the screen's new state, or with why not (422; 409 with the
pending candidates' ids when applying is refused while any is pending).
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user

from coder.pipeline import interchange
from coder.pipeline.deidentify import ENTITIES
from coder.study import deidentification as deid, transcripts
from coder.study.models import Transcript
from coder.web import jsonapi
from coder.web.database import db_session
from coder.web.guards import coordinated_row, coordinator_required

bp = Blueprint("deidentification", __name__)

TYPES = (("PERSON", "person"), ("TOWN", "town, city or country"), ("LOCATION", "other place"),
         ("ORGANIZATION", "organisation"), ("NRP", "nationality, religious or political group"),
         ("DATE_TIME", "date or time"), ("PHONE_NUMBER", "phone number"), ("EMAIL_ADDRESS", "e-mail address"))
assert {t for t, _ in TYPES} == {*ENTITIES, deid.TOWN}
EXPORT_LABELS = (("docx", "Word"), ("eaf", "ELAN"), ("textgrid", "Praat TextGrid"), ("vtt", "WebVTT"),
                 ("txt", "text"), ("rttm", "RTTM"), ("json", "JSON"))


def _transcript(transcript_id: int) -> Transcript:
    transcript, _study = coordinated_row(Transcript, transcript_id)
    return transcript


def _segments_view(transcript: Transcript) -> list[dict[str, Any]]:
    """The current revision's turns: times, speaker and every word as [start, end, text] (candidates and
    selections refer to these words by their index in the turn)."""
    return [{"s": seg["start"], "e": seg["end"], "speaker": seg.get("speaker"),
             "w": [[w["start"], w["end"], str(w.get("text", "")).strip()] for w in seg.get("words") or []],
             "text": seg.get("text", "")} for seg in transcript.segments or []]


def _deidentified_view(transcript: Transcript) -> list[dict[str, Any]] | None:
    """The applied de-identified version's turns (speakers by role, as raters and the exports have them)."""
    row = deid.deidentification_of(db_session(), transcript)
    if row is None or row.segments is None or row.applied_revision is None:
        return None
    roles = {s.label: (s.role.capitalize() if s.role else s.label) for s in transcript.speakers}
    return [{"s": seg["start"], "speaker": roles.get(seg.get("speaker"), seg.get("speaker")),
             "text": seg.get("text", "")} for seg in row.segments]


def _lists_text(people: dict[str, list[str]]) -> str:
    return "\n".join(f"{role}: {'; '.join(names)}" for role, names in people.items())


def parse_lists(text: str) -> dict[str, list[str]]:
    """The lists as the screen's box writes them, one role a line: ``Client: Maria; Maria Lopez`` (forms of the
    client's name), ``Sister: Anna; Beth|Bethany`` (one person per entry, ``|`` between forms of one name). A
    role given on two lines gets the names of both."""
    out: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        role, sep, names = line.partition(":")
        if not sep or not role.strip():
            raise deid.DeidError(f"line {n}: write the role, a colon and the names, e.g. \"Client: Maria; Maria "
                                 f"Lopez\", not {line.strip()!r}")
        out.setdefault(role.strip(), []).extend(x.strip() for x in names.split(";") if x.strip())
    return out


def _state(transcript: Transcript) -> dict[str, Any]:
    db = db_session()
    state = deid.state(db, transcript)
    state["segments"] = _segments_view(transcript)
    state["speakers"] = transcripts.speaker_names(transcript)
    state["deidentified"] = _deidentified_view(transcript)
    state["lists_text"] = _lists_text(state["people"])
    return state


def _refused(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"ok": False, "error": message}), status


def _saved(transcript: Transcript, action: Callable[[Any], Any]) -> tuple[Response, int] | Response:
    """Run a step holding the database's write turn; the screen's new state, or why not (with the pending ids
    when applying is refused)."""
    try:
        jsonapi.written(action)
    except deid.DeidError as exc:
        body: dict[str, Any] = {"ok": False, "error": str(exc)}
        if isinstance(exc, deid.Pending):
            body["pending"] = exc.ids
        return jsonify(body), exc.status
    return jsonify({"ok": True, **_state(transcript)})


@bp.route("/transcripts/<int:transcript_id>/deidentify")
@coordinator_required
def page(transcript_id: int):
    transcript, study = coordinated_row(Transcript, transcript_id)
    urls = {name: url_for(f"deidentification.{name}", transcript_id=transcript.id)
            for name in ("state", "detect", "decide", "add", "apply", "people")}
    data = {"transcript": transcript.id, "duration": transcript.duration_s, "types": TYPES, "urls": urls,
            **_state(transcript)}
    dyad = transcript.recording.session.dyad
    return render_template("deidentify.html", transcript=transcript, recording=transcript.recording, study=study,
                           dyad=dyad, data=data, exports=EXPORT_LABELS)


@bp.route("/transcripts/<int:transcript_id>/deidentify/state")
@coordinator_required
def state(transcript_id: int):
    return jsonify({"ok": True, **_state(_transcript(transcript_id))})


@bp.route("/transcripts/<int:transcript_id>/deidentify/detect", methods=["POST"])
@coordinator_required
def detect(transcript_id: int):
    """Find the candidates in the current revision (again), keeping the decisions made."""
    transcript = _transcript(transcript_id)
    return _saved(transcript, lambda db: deid.detect(db, transcript, current_user))


@bp.route("/transcripts/<int:transcript_id>/deidentify/decide", methods=["POST"])
@coordinator_required
def decide(transcript_id: int):
    """``{"id": 3, "accepted": true}``: one candidate; ``{"all": true, "accepted": false}``: every pending one."""
    transcript = _transcript(transcript_id)
    body = jsonapi.body()
    accepted = jsonapi.flag(body, "accepted")
    if body.get("all") is True:
        return _saved(transcript, lambda db: deid.decide_all(db, transcript, accepted, current_user))
    ident = jsonapi.whole_number(body, "id")
    return _saved(transcript, lambda db: deid.decide(db, transcript, ident, accepted, current_user))


@bp.route("/transcripts/<int:transcript_id>/deidentify/add", methods=["POST"])
@coordinator_required
def add(transcript_id: int):
    """Words a person selected: ``{"turn": 3, "first": 4, "last": 5, "entity": "PERSON", "person": "Anna"}``
    (``person``, optional: a listed name or another candidate's text, whose pseudonym these words get)."""
    transcript = _transcript(transcript_id)
    body = jsonapi.body()
    turn, first, last = jsonapi.whole_number(body, "turn"), jsonapi.whole_number(body, "first"), jsonapi.whole_number(body, "last")
    entity, person = body.get("entity"), body.get("person") or None
    if not isinstance(entity, str):
        return _refused("choose the type of the identifier")
    if person is not None and not isinstance(person, str):
        return _refused("person must be a name")
    return _saved(transcript, lambda db: deid.add(db, transcript, turn, first, last, entity, current_user,
                                                  person=person))


@bp.route("/transcripts/<int:transcript_id>/deidentify/apply", methods=["POST"])
@coordinator_required
def apply(transcript_id: int):
    """Make the de-identified version (refused with 409 and the pending ids while any is pending)."""
    transcript = _transcript(transcript_id)
    return _saved(transcript, lambda db: deid.apply(db, transcript, current_user))


@bp.route("/transcripts/<int:transcript_id>/deidentify/people", methods=["POST"])
@coordinator_required
def people(transcript_id: int):
    """The lists of the transcript's dyad: ``{"text": "Client: Maria; Maria Lopez\\nSister: Anna"}`` (one role a
    line) or ``{"people": {"Client": ["Maria"]}}``. Detection uses them from its next run."""
    transcript = _transcript(transcript_id)
    body = jsonapi.body()
    dyad = transcript.recording.session.dyad
    if "people" in body:
        lists = body["people"]
    elif isinstance(body.get("text"), str):
        try:
            lists = parse_lists(body["text"])
        except deid.DeidError as exc:
            return _refused(str(exc), exc.status)
    else:
        return _refused('send the lists as "text" (one role a line) or "people"')
    return _saved(transcript, lambda db: deid.set_identifiers(db, dyad, lists, current_user))


@bp.route("/transcripts/<int:transcript_id>/deidentify/log.csv")
@coordinator_required
def log(transcript_id: int):
    """The anonymisation log: the original words beside their pseudonyms. It identifies people: keep it with the
    originals, never with the de-identified exports."""
    transcript = _transcript(transcript_id)
    return jsonapi.attachment(deid.log_csv(db_session(), transcript), "text/csv",
                              f"recording-{transcript.recording_id}.anonymisation-log.csv")


@bp.route("/transcripts/<int:transcript_id>/deidentify/export/<fmt>")
@coordinator_required
def export(transcript_id: int, fmt: str):
    """The de-identified version as a file (json, rttm, vtt, txt, docx, eaf or textgrid): the pseudonyms, the
    speakers by role; never the log."""
    transcript = _transcript(transcript_id)
    if fmt not in interchange.EXPORTS:
        abort(404)
    try:
        return jsonapi.download(lambda folder: deid.write_exports(transcript, folder, (fmt,))[fmt])
    except deid.DeidError as exc:
        flash(f"Nothing to download: {exc}", "error")
        return redirect(url_for("deidentification.page", transcript_id=transcript.id))
