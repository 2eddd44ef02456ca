"""What every command shares: consoles, error rendering and exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import NoReturn

import typer
from rich.console import Console

from reelforge.core.errors import (
    ConfigError,
    EndpointGoneError,
    InvalidSpecError,
    ProviderError,
    ReelforgeError,
)

__all__ = ["ExitCode", "err_console", "fail", "out_console", "print_json", "reelforge_errors"]

out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class ExitCode(IntEnum):
    """Exit codes shared by every command."""

    OK = 0
    """Everything asked for is done."""
    FAILED = 1
    """A job failed, or the provider could not be used."""
    BAD_INPUT = 2
    """Invalid arguments or files: nothing was sent."""
    INTERRUPTED = 130
    """Stopped by Ctrl+C; everything is resumable."""


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(int(code))


def print_json(data: object) -> None:
    """Write ``data`` as JSON to stdout (nothing else goes to stdout with ``--json``)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@contextmanager
def reelforge_errors() -> Iterator[None]:
    """Turn library errors into clean messages and exit codes (2: bad input, 1: failure)."""
    try:
        yield
    except (InvalidSpecError, ConfigError) as exc:
        fail(_escape(str(exc)), ExitCode.BAD_INPUT)
    except EndpointGoneError as exc:
        fail(_escape(str(exc)), ExitCode.FAILED)
    except ProviderError as exc:
        fail(_escape(f"{exc} [{exc.category.value}]"), ExitCode.FAILED)
    except ReelforgeError as exc:
        fail(_escape(str(exc)), ExitCode.FAILED)
    except KeyboardInterrupt:
        err_console.print("interrupted", style="yellow")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def _escape(text: str) -> str:
    from rich.markup import escape  # noqa: PLC0415  # only needed on the error path

    return escape(text)
