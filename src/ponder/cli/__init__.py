"""The ``ponder`` command line. A thin shell: every command is a few calls of the Python API,
each in a module of its own (``solve``, ``evaluate``: eval, report and plan; ``serve``;
``tune``), registered on one app (``ponder.cli.common``).

``app`` (and typer, which costs more to import than the rest of ``ponder --help``) loads on
first use; ``ponder --help`` itself prints the root help kept in ``ponder.cli.roothelp``
(a test checks that it is what typer renders)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer import Typer

__all__ = ["app", "main"]


def _app() -> Typer:
    from ponder.cli import evaluate, serve, solve, tune  # noqa: F401  (they register commands)
    from ponder.cli.common import app

    return app


def __getattr__(name: str) -> Any:  # PEP 562
    if name == "app":
        return _app()
    raise AttributeError(f"module 'ponder.cli' has no attribute {name!r}")


def main() -> None:
    """Entry point of the ``ponder`` script."""
    if sys.argv[1:] == ["--help"]:
        from ponder.cli.roothelp import ROOT_HELP

        sys.stdout.write(ROOT_HELP)
        return
    app = _app()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
