"""The ``reelforge`` command line: parses arguments, calls the library, renders results."""

from reelforge.cli.main import app, main

__all__ = ["app", "main"]
