"""The two ways to start the command line, each in a process of its own: the installed ``coder`` script and
``python -m coder.cli``. Everything else drives the commands in this process (tests/support/cli.py)."""
import os
import subprocess
import sys
from pathlib import Path

from coder import __version__

from .support.prerequisites import need


def environment(home: Path) -> dict:
    env = {**os.environ, "CODER_HOME": str(home)}
    env.pop("DATABASE_URL", None)
    return env


def test_the_installed_coder_script(tmp_path):
    script = Path(sys.executable).parent / "coder"
    need(script.is_file(), f"the coder script is not installed next to {sys.executable} (pip install -e .)")
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.strip() == f"coder, version {__version__}", version.stderr
    # a command's exit status and its message reach the shell
    refused = subprocess.run([str(script), "ingest", "x.csv"], capture_output=True, text=True, timeout=120,
                             env=environment(tmp_path / "home"))
    assert refused.returncode == 1 and "run 'coder init' first" in refused.stderr


def test_python_m_coder_cli(tmp_path):
    home = tmp_path / "home"
    done = subprocess.run([sys.executable, "-m", "coder.cli", "init"], capture_output=True, text=True, timeout=120,
                          env=environment(home))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"database ready at sqlite:///{home.resolve() / 'coder.db'}")
    assert (home / "coder.db").is_file() and (home / "secret_key").is_file()
