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


#: which module registers each command
COMMANDS = {
    "solve": "solve",
    "eval": "evaluate",
    "report": "evaluate",
    "plan": "evaluate",
    "serve": "serve",
    "tune": "tune",
}


def _app(command: str | None = None) -> Typer:
    """The app with every command, or with ``command``'s alone where the line names one (the
    others' modules, the eval harness's above all, are not imported for a ``solve``: the
    root callback keeps the app a group, so the command's usage, help and errors are the
    same)."""
    import importlib

    from ponder.cli.common import app

    modules = [COMMANDS[command]] if command in COMMANDS else sorted(set(COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"ponder.cli.{module}")  # registers its commands
    return app


def __getattr__(name: str) -> Any:  # PEP 562
    if name == "app":
        return _app()
    raise AttributeError(f"module 'ponder.cli' has no attribute {name!r}")


def _preload(args: list[str]) -> None:
    """For a command that will load a local model (``solve``, ``eval``), begin loading it on
    a thread now, while the command's modules are imported (``ponder.backends.llamacpp.
    loading``). A hint only: the command parses its arguments itself, and a model begun here
    that it does not use costs memory, not correctness."""
    if not args or args[0] not in ("solve", "eval") or "--help" in args:
        return
    model = None
    for i, arg in enumerate(args[:-1]):
        if arg in ("--model", "-m"):
            model = args[i + 1]
    for arg in args:
        if arg.startswith("--model="):
            model = arg.partition("=")[2]
    if model is not None and not model.endswith(".gguf"):
        return  # a server, a named backend, or not a model file
    try:
        from ponder.backends.llamacpp.loading import default_model_path, preload

        preload(model if model is not None else default_model_path())
    except Exception:  # the command itself reports what is wrong with the model
        return


def main() -> None:
    """Entry point of the ``ponder`` script."""
    if sys.argv[1:] == ["--help"]:
        from ponder.cli.roothelp import ROOT_HELP

        sys.stdout.write(ROOT_HELP)
        return
    _preload(sys.argv[1:])
    app = _app(sys.argv[1] if len(sys.argv) > 1 else None)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
