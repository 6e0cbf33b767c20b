"""A study's processing options (``study.settings["processing"]``: engine, model, diarizer, speakers,
language), used by the jobs of coder.jobs.queue: checked (``check_options``) and stored, audited, when they
change (``save_options``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from coder.pipeline.asr import DEFAULT_ENGINE, ENGINES, KNOWN_MODELS
from coder.pipeline.diarize import DEFAULT_SPEAKERS, DIARIZERS
from coder.pipeline.modelstore import list_models
from coder.study.audit import audit
from coder.study.models import Study, User

DEFAULT_OPTIONS: dict[str, Any] = {"engine": DEFAULT_ENGINE, "model": None, "diarizer": "builtin",
                                   "num_speakers": DEFAULT_SPEAKERS, "language": None}


class JobError(ValueError):
    pass


def options_of(study) -> dict[str, Any]:
    return {**DEFAULT_OPTIONS, **((study.settings or {}).get("processing") or {})}


def check_options(engine: str, model: str | None, diarizer: str, num_speakers: int | None,
                  language: str | None, models_dir: Path | None = None) -> dict[str, Any]:
    """The options, checked. The model is one of the model store (``models_dir``, by its name) or a model name
    the engine knows, never a path: the options come from a web form, and a path would let it load any of the
    server's files."""
    if engine not in ENGINES:
        raise JobError(f"unknown engine {engine}; choose one of {', '.join(ENGINES)}")
    if model:
        check_model_choice(engine, model, models_dir)
    if diarizer not in DIARIZERS:
        raise JobError(f"unknown diarizer {diarizer}; choose one of {', '.join(DIARIZERS)}")
    if num_speakers is not None and not 1 <= num_speakers <= 10:
        raise JobError("the number of speakers must lie between 1 and 10")
    return {"engine": engine, "model": model or None, "diarizer": diarizer, "num_speakers": num_speakers,
            "language": language or None}


def check_model_choice(engine: str, model: str, models_dir: Path | None) -> None:
    """JobError unless ``model`` names a model of ``engine`` in the store or is a model name the engines know."""
    stored = {m.name: m.engine for m in list_models(models_dir)} if models_dir is not None else {}
    if model in stored:
        if stored[model] != engine:
            raise JobError(f"model {model} of the model store is a {stored[model]} model, not one for {engine}")
        return
    if model not in KNOWN_MODELS:
        mine = ", ".join(name for name, kind in stored.items() if kind == engine) or "none"
        raise JobError(f"unknown model {model!r}: choose one of the model store (coder models: {mine}) or a model "
                       f"name ({', '.join(KNOWN_MODELS)}); paths are not accepted here")


def save_options(db: Session, study: Study, options: dict[str, Any], actor: User | None) -> None:
    """Store checked options (``check_options``) as the study's, audited, where they differ from its current
    ones."""
    if options != options_of(study):
        audit(db, "settings", study, actor, processing=options)
        study.settings = {**(study.settings or {}), "processing": options}
