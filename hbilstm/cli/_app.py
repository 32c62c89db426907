"""The Typer app and the one place where errors become messages and exit codes."""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import typer
from rich.console import Console

from .. import __version__
from ..errors import EXIT_USAGE, HbilstmError

app = typer.Typer(
    name="hbilstm",
    help="Tweet sentiment classification with a deep stack of Highway BiLSTM layers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
EXIT_INTERRUPTED = 130
EXIT_FAILED = 1

F = TypeVar("F", bound=Callable)


def stdout() -> Console:
    return Console(highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` on one line to stderr and return the Exit to raise."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def user_errors(command: F) -> F:
    """Turn the library's user-facing errors into one line on stderr and an exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from ..train import TrainingDiverged, TrainingInterrupted

        try:
            return command(*args, **kwargs)
        except TrainingInterrupted as exc:
            print(str(exc), file=sys.stderr, flush=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except TrainingDiverged as exc:
            raise fail(str(exc), EXIT_FAILED) from None
        except HbilstmError as exc:
            raise fail(str(exc)) from None
        except BrokenPipeError:
            # `hbilstm predict ... | head`: the reader left; that is not an error.
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        print(f"hbilstm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Train, evaluate and run Highway BiLSTM tweet sentiment models."""


def main() -> None:
    app()
