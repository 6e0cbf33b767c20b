"""Serving the web app: ``coder serve`` for the configured database, ``coder demo`` for a demo study it sets up
first."""
from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path

import click

from coder.cli.common import fail, open_database, settings
from coder.config import load_settings
from coder.pipeline.asr import DEFAULT_ENGINE, ENGINES, ModelUnavailable, engine_for

NO_WORKER = click.option("--no-worker", is_flag=True,
                         help="Do not process queued recordings in this process (run `coder worker` instead).")
# A login waits for its turn to hash the password (coder.study.accounts.PasswordHashing) on a thread of its own, so
# the threads must outnumber the logins that arrive together, or page requests queue behind them.
DEFAULT_THREADS = 32
DEMO_THREADS = 8
# A save holds SQLite's write turn across several round trips to the database, and after each the saving thread
# needs the interpreter lock back: with other threads busy rendering pages it waited up to the default switch
# interval (5 ms) every time, and every save queued behind it waited too. 1 ms hands the lock over sooner.
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """The interpreter's settings for serving many threads (SWITCH_INTERVAL_S)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def port_problem(host: str, port: int, again: str) -> str | None:
    """Why the app could not listen on ``host``:``port``, in one line, or None when it can: checked before a
    command does anything else, so that no work is done (and no password issued) for a server that cannot
    start. ``again`` says how to choose another port. Like waitress, it binds every address the host resolves to,
    with SO_REUSEADDR (a port left in TIME_WAIT by a stopped server is free)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, OverflowError) as exc:
        return f"cannot serve on {host}:{port}: {getattr(exc, 'strerror', None) or exc}"
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return f"port {port} on {host} is in use: {again} or stop what uses it"
                return f"cannot serve on {host}:{port}: {exc.strerror or exc}"
    return None


def _check_port(host: str, port: int, again: str) -> None:
    problem = port_problem(host, port, again)
    if problem:
        fail(problem)


def _serve(app, host: str, port: int, worker: bool = True, threads: int = DEMO_THREADS) -> None:
    from waitress import serve as waitress_serve

    from coder.jobs import queue

    tune_interpreter()
    embedded = None
    if worker:  # an embedded worker for the recordings queued in the browser (coder worker adds more)
        embedded = queue.start_embedded(app.extensions["coder.settings"], app.extensions["coder.db"])
        click.echo(f"Processing jobs from {queue.queue_url(app.extensions['coder.settings'])} in this process "
                   "(--no-worker to leave them to `coder worker`)")
    click.echo(f"Serving coder on http://{host}:{port}  (Ctrl+C to stop)")
    try:
        # waitress refuses bodies over 1 GiB by default; the app's own limit (CODER_MAX_UPLOAD_BYTES) governs
        waitress_serve(app, host=host, port=port, threads=threads, ident="coder",
                       max_request_body_size=app.config["MAX_CONTENT_LENGTH"])
    finally:
        if embedded is not None:
            embedded.stop()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", type=click.IntRange(1, 1024), default=DEFAULT_THREADS, show_default=True,
              envvar="CODER_THREADS", help="Requests served at once; more than the raters who may log in together. "
                                           "Env: CODER_THREADS.")
@NO_WORKER
@click.pass_context
def serve(ctx, host, port, threads, no_worker):
    """Serve the web app for the configured database (SQLite by default, PostgreSQL via DATABASE_URL)."""
    from coder.web.app import create_app

    _check_port(host, port, f"choose another with --port (coder serve --port {port + 1})")
    database = open_database(ctx, connections=threads)  # a connection for every thread
    _serve(create_app(settings(ctx), database), host, port, worker=not no_worker, threads=threads)


@click.command()
@click.option("--engine", type=click.Choice(ENGINES),
              help=f"Default: {DEFAULT_ENGINE}, or openai-whisper when --model is a .pt checkpoint.")
@click.option("--model", help="Whisper model name or local path. Env: CODER_WHISPER_MODEL.")
@click.option("--sample-dir", type=click.Path(file_okay=False), help="Folder with the demo manifest.csv.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Set up the demo and exit without serving.")
@NO_WORKER
@click.pass_context
def demo(ctx, engine, model, sample_dir, host, port, no_serve, no_worker):
    """Set up a demo study from sample_audio/, transcribe it, create accounts and serve the app."""
    from coder.ops.demo import DemoError, prepare_demo
    from coder.web.app import create_app

    if not no_serve:
        _check_port(host, port, f"set PORT=… (make demo PORT={port + 1}, coder demo --port {port + 1})")
    home = Path(ctx.obj.get("home") or load_settings().home) / "demo"
    try:
        result = prepare_demo(home, sample_dir=sample_dir, engine=engine or engine_for(model), model=model,
                              echo=click.echo,
                              bar_file=sys.stdout if sys.stdout.isatty() else None)
    except ModelUnavailable as exc:
        fail(str(exc), code=2)
    except DemoError as exc:
        fail(f"demo: {exc}")
    click.echo(f"Demo study ready in {home}")
    click.echo("Demo accounts (new passwords each run):")
    for username, role, password in result.credentials:
        click.echo(f"  {role:<12} user {username:<12} password {password}")
    if not no_serve:
        _serve(create_app(result.settings, result.database), host, port, worker=not no_worker)


COMMANDS = (serve, demo)
