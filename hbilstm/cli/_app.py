"""The Typer app and the one place where errors become messages and exit codes."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from typing import Callable, TypeVar

import typer
from rich.console import Console

from .. import __version__
from ..errors import EXIT_USAGE, HbilstmError, TrainingDiverged, TrainingInterrupted

app = typer.Typer(
    name="hbilstm",
    help="Tweet sentiment classification with a deep stack of Highway BiLSTM layers.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
EXIT_INTERRUPTED = 130
EXIT_FAILED = 1

F = TypeVar("F", bound=Callable)


def stdout() -> Console:
    """Standard output; lines are never wrapped when it is a pipe or a file."""
    console = Console(highlight=False)
    console.soft_wrap = not console.is_terminal
    return console


def stderr() -> Console:
    console = Console(stderr=True, highlight=False)
    console.soft_wrap = not console.is_terminal
    return console


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` on one line to stderr and return the Exit to raise."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def user_errors(command: F) -> F:
    """Turn the library's user-facing errors into one line on stderr and an exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with _sigterm_as_interrupt():
                return command(*args, **kwargs)
        except KeyboardInterrupt:
            # Files being written are temporary until complete, so nothing half-written stays.
            print("interrupted; no partial output was kept", file=sys.stderr, flush=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except HbilstmError as exc:
            code = (EXIT_INTERRUPTED if isinstance(exc, TrainingInterrupted)
                    else EXIT_FAILED if isinstance(exc, TrainingDiverged) else EXIT_USAGE)
            if exc.reported_by_rank0:  # the same error, printed by rank 0 of a torchrun job
                raise typer.Exit(code) from None
            if isinstance(exc, TrainingInterrupted):
                print(str(exc), file=sys.stderr, flush=True)
                raise typer.Exit(code) from None
            raise fail(str(exc), code) from None
        except BrokenPipeError:
            # `hbilstm predict ... | head`: the reader left; that is not an error.
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Treat SIGTERM like Ctrl-C, so that cleanup (removing temporary files) runs for both.
    Training installs its own handler inside, which stops at the next batch instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _version(value: bool) -> None:
    if value:
        print(f"hbilstm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True,
        help="Show the version and exit."),
) -> None:
    """Train, evaluate and run Highway BiLSTM tweet sentiment models."""


def main() -> None:
    if not _torchrun_worker():
        app()
        return
    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code
    _leave_now(code)


def _torchrun_worker() -> bool:
    """Whether this process is one rank of a ``torchrun`` job of several (the environment
    torchrun gives its workers; read here without importing torch)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False  # the command itself reports the bad value


def _leave_now(code: int | str | None) -> None:
    """End a torchrun worker with ``code`` without the interpreter's shutdown.

    Its work is done by then (outputs renamed into place, the process group destroyed), but
    gloo's threads can still hold tensors whose release, during interpreter finalization,
    aborts the process (SIGABRT, "terminate called without an active exception"; see
    pytorch/pytorch#190489): torchrun would then report a finished run as failed. Leaving
    with ``os._exit`` after flushing the output skips that shutdown.
    """
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = EXIT_FAILED
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
