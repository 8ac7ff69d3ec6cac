"""``ponder solve``: one question, one strategy, the answer and what it cost."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ponder.cli.common import (
    BackendOptions,
    _backend_options,
    _extra_models,
    _fail,
    _short,
    app,
)
from ponder.core.spec import parse_spec


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
    seed: Annotated[int | None, typer.Option(help="Base seed (sample 0 draws from it).")] = None,
    extra_model: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-model",
            help="NAME=SPEC: one more model for strategies that use several (model_switch, "
            "multi_verifier, judge(model=NAME)). Repeatable.",
        ),
    ] = None,
    backend_option: BackendOptions = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    tree: Annotated[
        bool,
        typer.Option("--tree", help="Print a step-level search's tree (beam_search, mcts, ...)."),
    ] = False,
) -> None:
    """Solve one question with a test-time scaling strategy."""
    from ponder.api import solve as api_solve
    from ponder.errors import PonderError

    try:
        name, options = parse_spec(strategy)
        given = {"n": n, "max_tokens": max_tokens, "temperature": temperature, "seed": seed}
        options.update({k: v for k, v in given.items() if v is not None})
        named = _extra_models(extra_model or [])
        result = api_solve(
            question,
            strategy=name,
            backend=model,
            named_models=named,
            backend_options=_backend_options(backend_option or []),
            options=options,
        )
    except PonderError as exc:
        raise _fail(exc) from None
    cut = [c for c in result.candidates if c.finish_reason == "length"]
    if result.candidates and len(cut) / len(result.candidates) > 0.10:
        typer.echo(
            f"warning: {len(cut)} of {len(result.candidates)} samples were cut off at "
            "max_tokens and abstain: raise it (--max-tokens, or max_tokens= in the spec), or "
            "let `ponder tune` choose it for this model",
            err=True,
        )
    if as_json:
        typer.echo(json.dumps({"model": model or "default", **result.as_dict()}, indent=2))
        return
    if tree:
        _print_tree(result, strategy_name=name)
    _print_human(result)


def _print_tree(result: Any, *, strategy_name: str) -> None:
    """The search tree, one line per node: its step, score, how it ended, why it was
    pruned; the chosen solution's path in bold."""
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    nodes = result.details.get("tree")
    if not nodes:
        typer.echo(f"(strategy {strategy_name!r} builds no tree; --tree shows step searches')")
        return
    chosen = result.details.get("chosen")
    on_path = set()
    while chosen is not None:
        on_path.add(chosen)
        chosen = nodes[chosen]["parent"]
    branches = {0: Tree(f"[bold]{escape(strategy_name)}[/bold] ({len(nodes) - 1} nodes)")}
    for node in nodes[1:]:
        step = escape(_short(" ".join(node["text"].split()), 60)) or "(empty)"
        score = "-" if node["score"] is None else f"{node['score']:.2f}"
        notes = [f"score {score}" + (" (inherited)" if node["scored"] == "inherited" else "")]
        notes.append(node["ended"])
        if node.get("rollout"):
            notes.append("rollout")
        if node.get("visits"):
            notes.append(f"{node['visits']} visits")
        if node.get("pruned"):
            notes.append(f"pruned: {node['pruned']}")
        label = f"{step}  [dim]{escape('; '.join(notes))}[/dim]"
        if node["id"] in on_path:
            label = f"[bold green]{label}[/bold green]"
        branches[node["id"]] = branches[node["parent"]].add(label)
    Console(soft_wrap=True).print(branches[0])


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
