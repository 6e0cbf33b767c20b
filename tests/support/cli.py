"""The ``coder`` command line run in this process with click's CliRunner, kept as close to a run from a shell as
it goes: the settings come from the environment (``env`` sets variables for the call, None unsets one; the
working directory is this process's, monkeypatch.chdir where it matters); standard output and error are kept
apart; an exception other than an exit is raised in the test (a user would have seen a traceback); Python's
warnings go to standard error under a fresh interpreter's filters; the databases the command opened are closed
when it returns; and a time limit ends a call that hangs.

``coder("--home", home, "init")`` returns click's Result: ``exit_code``, ``stdout``, ``stderr`` and ``output``
(both streams, in order). Tests of the process itself (the entry points, servers, workers) run a child process.
"""
from __future__ import annotations

import inspect
import os
import signal
import sys
import warnings
import weakref

from click.testing import CliRunner, Result
from sqlalchemy import event
from sqlalchemy.engine import Engine

from coder.cli import main

# click before 8.2 mixes standard error into standard output unless told not to (another environment may have it)
SEPARATE_STREAMS = {"mix_stderr": False} if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters else {}


class TimedOut(BaseException):
    """Raised into a command that runs past its time limit: a BaseException, so that the command's own handling
    of errors (``except Exception``, ``except OSError``) cannot take it for one of them."""


def print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Where a fresh interpreter shows a warning: standard error (the runner's, during a call)."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def coder(*args: str | os.PathLike | int | float, env: dict[str, str | os.PathLike | None] | None = None,
          input: str | None = None, timeout: float = 600, check: bool = False) -> Result:
    """Run ``coder ARGS`` and return its Result; ``check``: fail the test unless it exits with 0; ``timeout``:
    seconds until TimedOut ends the call (as the time limit of a child process would)."""
    argv = [str(a) for a in args]
    environment = {k: None if v is None else str(v) for k, v in (env or {}).items()}
    engines: weakref.WeakSet[Engine] = weakref.WeakSet()

    def opened(connection, *_):
        engines.add(connection.engine)

    def expire(_signum, _frame):
        raise TimedOut(f"coder {' '.join(argv)} still running after {timeout} s")

    event.listen(Engine, "engine_connect", opened)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings():
            warnings.resetwarnings()  # then a fresh interpreter's filters, without -W
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
            warnings.showwarning = print_warning
            result = CliRunner(**SEPARATE_STREAMS).invoke(main, argv, input=input, env=environment,
                                                          catch_exceptions=False, prog_name="coder")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        event.remove(Engine, "engine_connect", opened)
        for engine in list(engines):  # as the end of the process would
            engine.dispose()
    if check:
        assert result.exit_code == 0, f"coder {' '.join(argv)} exited with {result.exit_code}:\n{result.output}"
    return result


def child_environment(settings: dict[str, str | os.PathLike | None]) -> dict[str, str]:
    """This process's environment with ``settings`` applied as ``coder(env=settings)`` applies them (None unsets a
    variable): for a child process of the same installation, a server or a worker."""
    merged = {**os.environ, **{k: None if v is None else str(v) for k, v in settings.items()}}
    return {k: v for k, v in merged.items() if v is not None}
