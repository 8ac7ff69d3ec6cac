"""``--model`` and ``-B KEY=VALUE`` as every engine benchmark takes them."""

from __future__ import annotations

import argparse


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model PATH.gguf`` and repeatable ``-B KEY=VALUE`` (a backend option:
    ``chat_template=completion`` for a base model without a chat template)."""
    parser.add_argument("--model", default=None, help="a GGUF (default: the embedded model)")
    parser.add_argument(
        "-B",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a backend option (chat_template=completion for a base model); repeatable",
    )


def backend_options(pairs: list[str]) -> dict[str, object]:
    """``-B`` pairs as backend keyword arguments: digits as ints, ``\\n`` as a newline."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        options[key] = int(value) if value.isdigit() else value.replace("\\n", "\n")
    return options
