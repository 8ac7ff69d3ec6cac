"""The ``ponder`` command line. A thin shell: every command is a few calls of the Python API.

Heavy modules (llama.cpp, math-verify) are imported inside the commands, so ``ponder --help``
answers at once.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="ponder",
    help="Test-time scaling for language models: spend inference compute, measure what it buys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_strategy_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"self_consistency:n=8,temperature=0.7"`` -> ``("self_consistency", {...})``."""
    from ponder.errors import ConfigError

    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"strategy option {item!r} in {spec!r} is not of the form key=value")
        options[key.strip()] = _parse_value(value.strip())
    return name.strip(), options


@app.callback()
def _root() -> None:
    """ponder: better answers for more inference compute, measured honestly."""


@app.command()
def solve(
    question: Annotated[str, typer.Argument(help="The question to solve.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="A GGUF path, an OpenAI-compatible URL (append #MODEL to pick one), or "
            "BACKEND:SPEC. Default: the bundled SmolLM2-135M-Instruct.",
        ),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option("--strategy", "-s", help="Strategy name, optionally NAME:key=value,..."),
    ] = "self_consistency",
    n: Annotated[int | None, typer.Option("-n", help="Number of samples.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Most tokens per sample.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    seed: Annotated[int | None, typer.Option(help="Base seed (sample i uses seed + i).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Solve one question with a test-time scaling strategy."""
    from ponder.api import solve as api_solve
    from ponder.errors import PonderError, UserError

    try:
        name, options = parse_strategy_spec(strategy)
        given = {"n": n, "max_tokens": max_tokens, "temperature": temperature, "seed": seed}
        options.update({k: v for k, v in given.items() if v is not None})
        result = api_solve(question, strategy=name, backend=model, **options)
    except PonderError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2 if isinstance(exc, UserError) else 1) from None
    if as_json:
        typer.echo(json.dumps({"model": model or "default", **result.as_dict()}, indent=2))
        return
    _print_human(result)


def _print_human(result: Any) -> None:
    usage = result.usage
    typer.echo(f"answer:  {result.answer if result.answer is not None else '(none found)'}")
    votes = result.details.get("votes")
    if votes:
        parts = [f"{_short(v['answer'])} x{v['votes']}" for v in votes]
        abstained = result.details.get("abstained", 0)
        if abstained:
            parts.append(f"(no answer) x{abstained}")
        typer.echo(f"votes:   {' | '.join(parts)}")
    if len(result.candidates) == 1:
        typer.echo(f"reply:   {result.text.strip()[:500]}")
    typer.echo(
        f"cost:    {len(result.candidates)} sample(s), prompt {usage.prompt_tokens} "
        f"(cached {usage.cached_prompt_tokens}) + completion {usage.completion_tokens} = "
        f"{usage.total_tokens} tokens, {result.ledger['wall_seconds']:.2f} s"
    )


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def main() -> None:
    """Entry point of the ``ponder`` script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
