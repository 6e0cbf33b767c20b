"""The local model store: Whisper weights kept on disk for machines with no model hub.

openai-whisper checkpoints are ``.pt`` files; faster-whisper models are
CTranslate2 directories (``model.bin``, ``config.json`` and a vocabulary).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path


class ModelStoreError(Exception):
    pass


def store_with(*files: Path) -> Path:
    """The first model store holding all ``files`` (paths inside a store): the configured one, the checkout's
    models/ (tests and jobs that point ``CODER_MODELS_DIR`` at a store of Whisper weights alone still find the
    diarisation weights), the offline provisioning tool's default; else the configured one."""
    from coder.config import SOURCE_ROOT, load_settings

    store = load_settings().models_dir
    for candidate in (store, SOURCE_ROOT / "models", Path("~/.cache/offline-diarization").expanduser()):
        if all((candidate / f).is_file() for f in files):
            return candidate
    return store


@dataclass(frozen=True)
class StoredModel:
    name: str
    engine: str
    path: Path
    size_bytes: int


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def list_models(store: Path) -> list[StoredModel]:
    if not store.is_dir():
        return []
    found = []
    for path in sorted(store.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix == ".pt":
            found.append(StoredModel(path.name, "openai-whisper", path, _size(path)))
        elif path.is_dir() and (path / "model.bin").is_file():
            found.append(StoredModel(path.name, "faster-whisper", path, _size(path)))
    return found


def check_model(path: Path) -> str:
    """The engine that ``path`` is a model for; ModelStoreError if it is neither kind."""
    if path.is_file():
        if path.suffix != ".pt":
            raise ModelStoreError(f"{path}: not a .pt checkpoint or a CTranslate2 directory")
        import torch

        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelStoreError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__})") from None
        if not isinstance(checkpoint, dict) or not {"dims", "model_state_dict"} <= set(checkpoint):
            raise ModelStoreError(f"{path}: a PyTorch file, but not an openai-whisper checkpoint "
                                  "(needs 'dims' and 'model_state_dict')")
        return "openai-whisper"
    if path.is_dir():
        missing = [name for name in ("model.bin", "config.json") if not (path / name).is_file()]
        if not any((path / name).is_file() for name in ("tokenizer.json", "vocabulary.txt", "vocabulary.json")):
            missing.append("tokenizer.json or vocabulary.txt")
        if missing:
            raise ModelStoreError(f"{path}: not a CTranslate2 model directory (missing {', '.join(missing)})")
        return "faster-whisper"
    raise ModelStoreError(f"{path}: not found")


def import_model(source: Path, store: Path, name: str | None = None, force: bool = False) -> StoredModel:
    """Copy a model into the store (under a temporary name, then renamed into place)."""
    source = source.expanduser().resolve()
    engine = check_model(source)
    name = name or source.name
    if engine == "openai-whisper" and not name.endswith(".pt"):
        name += ".pt"
    target = store / name
    if target.exists():
        if not force:
            raise ModelStoreError(f"{target} already exists; pass --force to replace it")
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    store.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=store))
    try:
        staged = tmp / name
        shutil.copytree(source, staged) if source.is_dir() else shutil.copy2(source, staged)
        staged.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return StoredModel(name, engine, target, _size(target))
