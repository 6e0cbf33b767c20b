"""Configuration from the environment.

CODER_HOME           data directory (database, recordings, outputs, secret key);
                     default ~/.local/share/coder
DATABASE_URL         SQLAlchemy URL; default sqlite:///$CODER_HOME/coder.db
CODER_WHISPER_MODEL  Whisper model name or local path (.pt / CTranslate2 dir)
CODER_MODELS_DIR     local model store; default models/ of a source checkout,
                     else $CODER_HOME/models
CODER_SPACY_MODEL    spaCy pipeline for de-identification: an installed
                     pipeline package or a pipeline's folder; default the
                     packaged en_core_web_sm (docs/deidentification.md)
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "coder"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    models_dir: Path
    whisper_model: str | None

    @property
    def recordings_dir(self) -> Path:
        return self.home / "recordings"

    @property
    def transcripts_dir(self) -> Path:
        return self.home / "transcripts"

    @property
    def playback_dir(self) -> Path:
        """Listening copies and waveforms for the rating page (see coder.playback)."""
        return self.home / "playback"

    def secret_key(self) -> str:
        """The app's signing key: generated on first use, kept outside the repository."""
        path = self.home / "secret_key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip()


def load_settings(home: str | os.PathLike | None = None, database_url: str | None = None) -> Settings:
    home_path = Path(home or os.environ.get("CODER_HOME") or default_home()).expanduser().resolve()
    url = database_url or os.environ.get("DATABASE_URL") or f"sqlite:///{home_path / 'coder.db'}"
    if os.environ.get("CODER_MODELS_DIR"):
        models = Path(os.environ["CODER_MODELS_DIR"]).expanduser()
    elif (SOURCE_ROOT / "models" / "README.md").exists():
        models = SOURCE_ROOT / "models"
    else:
        models = home_path / "models"
    return Settings(home=home_path, database_url=url, models_dir=models,
                    whisper_model=os.environ.get("CODER_WHISPER_MODEL") or None)
