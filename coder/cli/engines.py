"""The speech-engine and diariser options that ``coder transcribe`` and ``coder process`` share, and loading the
engine they name."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from coder.cli.common import fail
from coder.pipeline.asr import DEFAULT_ENGINE, ENGINES, Engine, ModelUnavailable, engine_for, load_engine
from coder.pipeline.diarize import DIARIZERS, DiarizerUnavailable, check_available


class SpeakerCount(click.ParamType):
    """A speaker count from 1 to 20, or "auto" to estimate it."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        if str(value).lower() == "auto":
            return "auto"
        try:
            n = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of speakers or 'auto'", param, ctx)
        if not 1 <= n <= 20:
            self.fail(f"{n} is not between 1 and 20", param, ctx)
        return n


OPTIONS = [
    click.option("--engine", type=click.Choice(ENGINES),
                 help=f"Default: {DEFAULT_ENGINE}, or openai-whisper when --model is a .pt checkpoint."),
    click.option("--model", help="Model name or local path (.pt for openai-whisper, CTranslate2 directory for "
                                 "faster-whisper). Env: CODER_WHISPER_MODEL."),
    click.option("--diarizer", type=click.Choice(DIARIZERS), default="builtin", show_default=True),
    click.option("--num-speakers", type=SpeakerCount(), default="2", show_default=True,
                 help="Number of speakers, or 'auto' to estimate it (one voice, or more than asked, gives a "
                      "warning)."),
    click.option("--diarizer-model", help="pyannote pipeline: a local directory (config.yaml) or a hub name (needs "
                                          "HF_TOKEN). Env: CODER_PYANNOTE_MODEL."),
    click.option("--language", help="Language code (e.g. en); detected when omitted."),
    click.option("--no-vad", is_flag=True, help="Hand the engine the whole recording, silences included."),
    click.option("--beam-size", type=click.IntRange(1, 10), help="Beam width (default 5; 1 is greedy and faster)."),
]


def engine_options(f):
    """Decorate a command with OPTIONS."""
    for option in reversed(OPTIONS):
        f = option(f)
    return f


def speaker_count(value: int | str) -> int | None:
    """The number of speakers to ask the diariser for; None lets it estimate."""
    return None if value == "auto" else value


def diarizer_options(diarizer: str, diarizer_model: str | None) -> dict[str, Any] | None:
    return {"model": diarizer_model} if diarizer == "pyannote" and diarizer_model else None


def load(models_dir: Path, engine: str | None, model: str | None, diarizer: str = "none",
         beam_size: int | None = None, diarizer_model: str | None = None) -> Engine:
    """The engine (``engine``, else the one that reads ``model``), once the diariser is known to be usable; exit
    with status 2 saying why when either is not."""
    try:
        check_available(diarizer, **({"model": diarizer_model} if diarizer == "pyannote" else {}))
    except DiarizerUnavailable as exc:
        fail(str(exc), code=2)
    try:
        return load_engine(engine or engine_for(model), model, models_dir, beam_size=beam_size)
    except ModelUnavailable as exc:
        fail(str(exc), code=2)
