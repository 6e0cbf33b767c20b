"""Fuzzing the parsers users feed (hypothesis): manifest and outcome CSVs, instrument YAML, RTTM and audio
files. Whatever the input, each either succeeds or raises its own error with a message; anything else (an
IndexError, a KeyError, a crash) fails the test.

The examples are derived from a fixed seed so that CI runs the same ones every time; set
CODER_FUZZ_EXAMPLES (default 300) and CODER_FUZZ_RANDOM=1 for longer, random runs.
"""
from __future__ import annotations

import io
import os
import random
import resource
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coder.pipeline import audio, rttm
from coder.study import instruments
from coder.reports import outcomes
from coder.study.ingest import REQUIRED, ManifestError, parse_row, read_manifest

EXAMPLES = int(os.environ.get("CODER_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("CODER_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(FUZZ, max_examples=max(20, EXAMPLES // 3))

# Text that looks like the format often enough to get past the first checks.
CELLS = st.one_of(st.text(max_size=12), st.sampled_from(["", "1", "-3", "2026-02-30", "2026-03-02", "NA", "nan",
                                                         "inf", "1e309", "0x10", " 7 ", '"', "\x00", "é", "C1"]))


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    import csv

    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _message(exc: Exception) -> None:
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


@FUZZ
@given(raw=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode),
                     st.builds(_csv, st.lists(st.sampled_from([*REQUIRED, "date", "study", "time_point", "dyad",
                                                               "extra", ""]), max_size=9),
                               st.lists(st.lists(CELLS, max_size=10), max_size=6)).map(str.encode)))
def test_manifest_csv(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.csv"
        path.write_bytes(raw)
        try:
            rows = read_manifest(path)
        except ManifestError as exc:
            _message(exc)
            return
    for row in rows:
        try:
            parsed = parse_row(row, None)
        except ValueError as exc:
            _message(exc)
            continue
        assert parsed["number"] >= 0 and parsed["study"]


@FUZZ
@given(text=st.one_of(st.text(max_size=400),
                      st.builds(_csv, st.lists(st.sampled_from(["client", "Client", "hads_pre", "age", "sex", "",
                                                                 "hads_pre", "x" * 70]), max_size=6),
                                st.lists(st.lists(CELLS, max_size=7), max_size=8))))
def test_outcome_csv(text):
    try:
        rows, kinds = outcomes.parse(text, "outcomes.csv", {"C1", "C2", "é"}, text_columns=("sex",),
                                     ranges={"age": (18, 99)})
    except outcomes.OutcomeError as exc:
        _message(exc)
        return
    assert set(rows) <= {"C1", "C2", "é"} and all(set(v) <= set(kinds) for v in rows.values())


# instrument definitions: arbitrary YAML text, and the built-in definitions with parts changed
YAML_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=True),
                                     st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)


@FUZZ
@given(text=st.one_of(st.text(max_size=300), st.sampled_from(["id: [", "{", "- - -", "items: !!python/object:os.system",
                                                                 "a: *b", "\t- x", "\ufeffid: x"])))
def test_instrument_yaml_text(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "instrument.yaml"
        path.write_bytes(text.encode("utf-8", errors="replace"))
        try:
            instruments.load(path)
        except instruments.InstrumentError as exc:
            _message(exc)


@FUZZ
@given(which=st.sampled_from(sorted(instruments.builtin())), data=st.data())
def test_instrument_definitions_with_parts_changed(which, data):
    definition = yaml.safe_load(instruments.builtin_paths()[which].read_text())
    target = definition
    # walk to a random place in the definition and put a random value there
    for _ in range(data.draw(st.integers(0, 3))):
        if isinstance(target, dict) and target:
            key = data.draw(st.sampled_from(sorted(target, key=str)))
            if isinstance(target[key], (dict, list)) and target[key]:
                target = target[key]
        elif isinstance(target, list) and target:
            index = data.draw(st.integers(0, len(target) - 1))
            if isinstance(target[index], (dict, list)) and target[index]:
                target = target[index]
    if isinstance(target, dict):
        key = data.draw(st.one_of(st.sampled_from(sorted(target, key=str)) if target else st.just("x"),
                                  st.text(max_size=6)))
        target[key] = data.draw(YAML_VALUES)
    elif isinstance(target, list):
        target[data.draw(st.integers(0, len(target) - 1))] = data.draw(YAML_VALUES)
    try:
        parsed = instruments.parse(definition, which)
    except instruments.InstrumentError as exc:
        _message(exc)
        return
    # what parses is usable: scoring a full set of lowest answers works
    responses = {item.id: parsed.scale_of(item).min for item in parsed.items}
    instruments.score(parsed, responses)


@FUZZ
@given(text=st.one_of(
    st.text(max_size=300),
    st.lists(st.builds(lambda fields: " ".join(fields),
                       st.lists(st.one_of(st.just("SPEAKER"), CELLS.map(lambda c: c.replace(" ", "") or "x")),
                                min_size=1, max_size=10)), max_size=8).map("\n".join)))
def test_rttm(text):
    try:
        turns = rttm.parse(text)
    except rttm.RTTMError as exc:
        _message(exc)
        return
    for items in turns.values():
        assert all(t.end > t.start >= 0 for t in items)


def _encoded(fmt: str) -> bytes:
    rng = np.random.default_rng(1)
    t = np.arange(8000) / 16000
    signal = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, signal, 16000, format=fmt, subtype={"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS"}[fmt])
    return buffer.getvalue()


VALID = {fmt: _encoded(fmt) for fmt in ("WAV", "FLAC", "OGG")}


@SLOW
@given(fmt=st.sampled_from(sorted(VALID)), data=st.data())
def test_audio_with_damaged_headers(fmt, data):
    """Bytes changed in the first 256 (the headers), or the file cut short, or junk appended."""
    raw = bytearray(VALID[fmt])
    how = data.draw(st.sampled_from(["flip", "cut", "append"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, 255))] = data.draw(st.integers(0, 255))
    elif how == "cut":
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    else:
        raw += data.draw(st.binary(min_size=1, max_size=64))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzzed.{fmt.lower()}"
        path.write_bytes(bytes(raw))
        try:
            info = audio.probe(path)
        except audio.AudioError as exc:
            _message(exc)
            return
        assert info.duration_s > 0 and info.sample_rate > 0


@FUZZ
@given(head=st.binary(max_size=80))
def test_sniffing_any_bytes(head):
    kind = audio.sniff(head)
    assert kind is None or kind[1].startswith(".")
    assert audio.describe(head)


def _probed(probe, path: Path):
    """What ``probe`` makes of ``path``: its AudioInfo, or the AudioError's message (which must say something)."""
    try:
        return probe(path)
    except audio.AudioError as exc:
        _message(exc)
        return f"AudioError: {exc}"


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # of the child processes this one has waited for
    return usage.ru_utime + usage.ru_stime


def test_the_fuzzed_decoder_runs_apart_from_the_web_app(tmp_path):
    """A sample of damaged files through probe_isolated, as uploads use it: each is decoded in a child process
    (the time of this process's children grows with every file; this process's own memory limit stays as it
    was), and the child's answer is the decoder's, as probe gives it here: the same AudioInfo for a file that
    still decodes, an AudioError with the same message for one that does not."""
    rng = random.Random(7)
    memory_limit = resource.getrlimit(resource.RLIMIT_AS)
    answers = []
    for k in range(12):
        raw = bytearray(VALID[("WAV", "FLAC", "OGG")[k % 3]])
        for _ in range(6):
            raw[rng.randrange(0, 256)] = rng.randrange(0, 256)
        path = tmp_path / f"f{k}.bin"
        path.write_bytes(bytes(raw))
        here = _probed(audio.probe, path)
        before = _children_cpu_s()
        isolated = _probed(audio.probe_isolated, path)
        assert _children_cpu_s() > before, f"{path.name} was not decoded in a child process"
        assert isolated == here, path.name
        answers.append(isolated)
    assert resource.getrlimit(resource.RLIMIT_AS) == memory_limit
    # the sample holds both kinds: damaged files that still decode and files the decoder refuses
    assert {type(a) for a in answers} == {audio.AudioInfo, str}
