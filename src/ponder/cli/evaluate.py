"""``ponder eval``, ``ponder report`` and ``ponder plan``: accuracy against compute, stored,
reported and turned into the plan ``auto`` runs."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ponder.cli.common import (
    BackendOptions,
    DataOption,
    _backend_options,
    _extra_models,
    _fail,
    _model_shape,
    _task_args,
    _with_data,
    app,
)


@app.command("eval")
def eval_command(
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task",
            "-t",
            help="A task: a reasoning-gym dataset (products), humaneval, or a .jsonl file. "
            "Repeatable. Default: the development suite (3 reasoning-gym tasks, 20 problems).",
        ),
    ] = None,
    task_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--task-arg",
            "-a",
            help="A task argument key=value (every task) or TASK.key=value. Repeatable.",
        ),
    ] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            "-s",
            help="NAME[:key=value,...]; key=a|b|c gives one setting per value. Repeatable. "
            "Default: greedy and self_consistency:n=1|2|4|8. "
            "allocate:tokens_per_problem=N runs each task under one budget of N x its problems.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="A GGUF path, an OpenAI-compatible URL, or BACKEND:SPEC."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="The first N problems of each task.")] = None,
    seed: Annotated[
        int,
        typer.Option(
            help="Seeds the task data and the samples (runs with different seeds share no "
            "reasoning-gym problem; -a seed=N gives a dataset its own seed as is)."
        ),
    ] = 0,
    out: Annotated[str, typer.Option(help="Output directory (results store and report).")] = (
        "results/eval"
    ),
    concurrency: Annotated[
        int | None, typer.Option(help="Problems in flight at once (default 32).")
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option("--ray", help="Fan problems out over a Ray cluster: ADDRESS, auto, or local."),
    ] = None,
    ray_workers: Annotated[int, typer.Option(help="Ray workers (one model each).")] = 1,
    model_shape: Annotated[
        str | None,
        typer.Option(help="params=N,layers=L,d_model=D for FLOP estimates on HTTP backends."),
    ] = None,
    extra_model: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-model",
            help="NAME=SPEC: one more model for strategies that use several. Repeatable; "
            "part of the results' model key.",
        ),
    ] = None,
    backend_option: BackendOptions = None,
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json to stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Evaluate strategies on tasks: accuracy, tokens, time and FLOPs, with a report."""
    from ponder.errors import PonderError
    from ponder.eval import evaluate
    from ponder.tasks import make_task
    from ponder.tasks.suite import DEV_LIMIT, DEV_STRATEGIES, DEV_SUITE

    try:
        if task:
            specs = [
                (name, _with_data(name, _task_args(name, task_arg or []), data)) for name in task
            ]
        else:
            extra = _task_args("", task_arg or [])
            specs = [(name, {**args, **extra}) for name, args in DEV_SUITE]
            limit = limit if limit is not None else DEV_LIMIT
        tasks = [make_task(name, args, seed=seed) for name, args in specs]
        outcome = evaluate(
            tasks,
            list(strategy or DEV_STRATEGIES),
            out=out,
            backend=model,
            seed=seed,
            limit=limit,
            concurrency=concurrency,
            progress=None if quiet else sys.stderr,
            ray_address=ray,
            ray_workers=ray_workers,
            model_shape=_model_shape(model_shape),
            command=" ".join(["ponder", *sys.argv[1:]]),
            named_models=_extra_models(extra_model or []),
            backend_options=_backend_options(backend_option or []),
        )
    except PonderError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        typer.echo(f"\ninterrupted: {_stored(out)}; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    for note in outcome.notes:
        typer.echo(f"note: {note}", err=True)
    if as_json:
        typer.echo(json.dumps(outcome.summary, indent=2))
        return
    typer.echo(outcome.table)
    typer.echo(f"\n{outcome.ran} problem(s) run; report: {out}/report.md", err=True)


def _stored(out: str) -> str:
    """How many results the store under ``out`` holds, in words."""
    from pathlib import Path

    from ponder.eval.store import FILENAME, Store

    if not (Path(out) / FILENAME).is_file():
        return "no results were stored yet"
    with Store(out) as store:
        return f"{store.count()} result(s) are stored in {store.path} (nothing stored runs twice)"


@app.command("report")
def report_command(
    directory: Annotated[str, typer.Argument(help="An output directory of `ponder eval`.")],
    run: Annotated[
        int | None, typer.Option(help="Which recorded run (default: the latest).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json to stdout.")] = False,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            help="Two settings (as the table names them) to compare on the problems both ran: "
            "paired difference with a bootstrap interval, McNemar's exact test.",
        ),
    ] = None,
    hardware: Annotated[
        str,
        typer.Option(
            help="Whose arithmetic intensity weighs the Kinetics cost (eFLOPs): b200, h100, "
            "h200, a100, l4, cpu, or a number (peak FLOPs per byte of bandwidth).",
        ),
    ] = "b200",
) -> None:
    """Redraw the report (table, report.md, summary.json, plots) from the results store."""
    from ponder.errors import PonderError
    from ponder.eval import report

    try:
        outcome = report(directory, run, compare=[compare] if compare else [], hardware=hardware)
    except PonderError as exc:
        raise _fail(exc) from None
    for note in outcome.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(json.dumps(outcome.summary, indent=2) if as_json else outcome.table)


@app.command("plan")
def plan_command(
    directories: Annotated[
        list[str], typer.Argument(help="Output directories of `ponder eval` (one model).")
    ],
    budget: Annotated[
        str | None,
        typer.Option(help="Per problem: tokens (300), seconds (2.5s) or eFLOPs (3e13eflops)."),
    ] = None,
    out: Annotated[
        str | None, typer.Option(help="Write the plan file `auto` loads (-s auto:plan=FILE).")
    ] = None,
    hardware: Annotated[
        str, typer.Option(help="Whose arithmetic intensity weighs eFLOPs (see report).")
    ] = "b200",
) -> None:
    """What should I run? Accuracy against cost of every stored setting, by difficulty."""
    from pathlib import Path

    from ponder.errors import PonderError
    from ponder.eval.planner import build, describe, measure, parse_budget

    try:
        wanted = parse_budget(budget) if budget else None
        measured = measure(directories, hardware)
        plan = build(measured)
        typer.echo(describe(measured, plan, wanted))
        if out:
            Path(out).write_text(plan.model_dump_json(indent=2) + "\n")
            typer.echo(f"\nwrote {out}: use it with -s auto:budget=N,plan={out}")
    except PonderError as exc:
        raise _fail(exc) from None
