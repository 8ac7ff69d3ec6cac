"""``ponder tune``: one command from a model and a sample of tasks to the plan ``auto`` runs
for that model (``ponder.eval.tuning``)."""

from __future__ import annotations

from typing import Annotated

import typer

from ponder.cli.common import (
    BackendOptions,
    DataOption,
    _backend_options,
    _fail,
    _task_args,
    _with_data,
    app,
)


@app.command("tune")
def tune_command(
    task: Annotated[
        list[str],
        typer.Option(
            "--task",
            "-t",
            help="A task like the problems you will ask (repeatable).",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="A GGUF path, an OpenAI-compatible URL, or BACKEND:SPEC."
        ),
    ] = None,
    task_arg: Annotated[
        list[str] | None,
        typer.Option("--task-arg", "-a", help="key=value (every task) or TASK.key=value."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Problems of each task measured.")] = 20,
    seed: Annotated[int, typer.Option(help="Seeds the task data and the samples.")] = 0,
    out: Annotated[
        str | None,
        typer.Option(help="Where the sweep is stored (default results/tune/<task names>)."),
    ] = None,
    temperature: Annotated[
        list[float] | None,
        typer.Option(help="A sampling temperature to pool (repeatable; default 0.4 and 0.8)."),
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="max_tokens to start from.")] = 256,
    max_tokens_limit: Annotated[
        int, typer.Option(help="The most max_tokens tune may raise it to.")
    ] = 2048,
    budget: Annotated[
        list[float] | None,
        typer.Option(help="A budget (tokens a problem) to show auto's choice for. Repeatable."),
    ] = None,
    plan_out: Annotated[
        str | None, typer.Option("--plan-out", help="Also write the plan file here.")
    ] = None,
    backend_option: BackendOptions = None,
    data: DataOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Measure a model once and write the plan `-s auto:budget=N` then uses for it."""
    import asyncio
    import sys

    from ponder.errors import PonderError
    from ponder.eval.tuning import atune
    from ponder.tasks import make_task

    try:
        tasks = [
            make_task(name, _with_data(name, _task_args(name, task_arg or []), data), seed=seed)
            for name in task
        ]
        where = out or "results/tune/" + "+".join(t.replace("/", "_") for t in task)[:80]
        outcome = asyncio.run(
            atune(
                tasks,
                backend=model,
                out=where,
                seed=seed,
                limit=limit,
                temperatures=tuple(temperature or (0.4, 0.8)),
                max_tokens=max_tokens,
                max_tokens_limit=max_tokens_limit,
                budgets=tuple(budget or ()),
                progress=None if quiet else sys.stderr,
                backend_options=_backend_options(backend_option or []),
                plan_out=plan_out,
            )
        )
    except PonderError as exc:
        raise _fail(exc) from None
    typer.echo(outcome.text)
