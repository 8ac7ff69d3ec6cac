"""The ``ponder`` command line. A thin shell: every command is a few calls of the Python API,
each in a module of its own (``solve``, ``evaluate``: eval, report and plan; ``serve``;
``tune``), registered on one app (``ponder.cli.common``)."""

from __future__ import annotations

import sys

from ponder.cli import evaluate, serve, solve, tune
from ponder.cli.common import app

__all__ = ["app", "main", "evaluate", "serve", "solve", "tune"]


def main() -> None:
    """Entry point of the ``ponder`` script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
