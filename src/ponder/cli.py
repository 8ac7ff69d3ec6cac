"""The ``ponder`` command line. A thin shell: every command is a few calls of the Python API.

Heavy modules (llama.cpp, math-verify) are imported inside the commands, so ``ponder --help``
answers at once.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from ponder.core.spec import parse_assignment, parse_assignments, parse_spec

app = typer.Typer(
    name="ponder",
    help="Test-time scaling for language models: spend inference compute, measure what it buys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


#: --backend-option of solve and eval
BackendOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--backend-option",
        "-B",
        help="KEY=VALUE for the model's backend. Embedded: n_ctx (most prompt + completion "
        "tokens a request can use, default 2048), kv_memory (KV cache budget, e.g. 4GiB; "
        "default half the free memory, at most 8GiB), cache_type_k/cache_type_v (f16, q8_0, "
        "q4_0, ...), n_parallel, n_prompt_slots, n_threads, flash_attn, kv_unified "
        "(unset sizes are fitted to kv_memory), chat_template (chatml, gemma, llama3, "
        "completion or a Jinja file, for a GGUF without one), stop (more stop strings). "
        "Server: api_key, timeout "
        "(one deadline per call), max_retries, "
        "max_retry_wait, max_body_bytes, stream_idle_timeout, chat_continuation, "
        "priority_scheduling (vLLM with --scheduling-policy priority). Repeatable.",
    ),
]


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
            **options,
        )
    except PonderError as exc:
        raise _fail(exc) from None
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


def _fail(exc: Exception) -> typer.Exit:
    from ponder.errors import UserError

    typer.echo(f"error: {exc}", err=True)
    for note in getattr(exc, "__notes__", []):
        typer.echo(f"note: {note}", err=True)
    return typer.Exit(2 if isinstance(exc, UserError) else 1)


def _extra_models(pairs: list[str]) -> dict[str, str]:
    """``NAME=SPEC`` pairs of --extra-model."""
    example = "NAME=SPEC (e.g. second=/models/qwen.gguf or judge=http://localhost:8000/v1)"
    return parse_assignments(pairs, "--extra-model", example, typed=False)


def _backend_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs of --backend-option (values as in strategy specs: 8, true, 0.5)."""
    return parse_assignments(pairs, "--backend-option", "KEY=VALUE (e.g. n_ctx=8192)")


def _task_args(task: str, pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs for every task, ``TASK.k=v`` for the task named TASK only."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, value = parse_assignment(pair, "--task-arg", "key=value or TASK.key=value")
        scope, dot, name = key.rpartition(".")
        if dot and scope != task and scope != task.rpartition(":")[2]:
            continue
        args[name if dot else key] = value
    return args


def _model_shape(spec: str | None) -> Any:
    if spec is None:
        return None
    from ponder.core.spec import parse_options
    from ponder.core.types import ModelShape
    from ponder.errors import ConfigError

    example = "params=N,layers=L,d_model=D (e.g. params=7.6e9,layers=28,d_model=3584)"
    try:
        fields = parse_options(spec, "--model-shape field")
        return ModelShape(
            int(float(fields["params"])), int(fields["layers"]), int(fields["d_model"])
        )
    except (KeyError, ValueError, TypeError, ConfigError):
        raise ConfigError(f"--model-shape {spec!r} must read {example}") from None


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
    seed: Annotated[int, typer.Option(help="Seeds the task data and the samples.")] = 0,
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
            specs = [(name, _task_args(name, task_arg or [])) for name in task]
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


@app.command()
def serve(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="A GGUF path, an OpenAI-compatible URL (#MODEL picks one), or BACKEND:SPEC. "
            "Default: the bundled SmolLM2-135M-Instruct.",
        ),
    ] = None,
    extra_model: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-model",
            help="NAME=SPEC: another served model, also reachable by strategies that use "
            "several (model_switch, judge(model=NAME)). Repeatable.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="The id clients use for --model (default: the model's own name)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            help="A key clients must send (Authorization: Bearer KEY). Repeatable; "
            "PONDER_API_KEYS (comma-separated) adds more. None: no check.",
        ),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            "-s",
            help="The strategy of requests that name none (MODEL@SPEC or ponder.strategy).",
        ),
    ] = "self_consistency",
    preset: Annotated[
        list[str] | None,
        typer.Option(help="A strategy spec listed in /v1/models as MODEL@SPEC. Repeatable."),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(help="A strategy or scorer requests may also use ('all': every one)."),
    ] = None,
    deny: Annotated[
        list[str] | None, typer.Option(help="A strategy or scorer requests may not use.")
    ] = None,
    scorer: Annotated[
        list[str] | None,
        typer.Option(
            "--scorer",
            help="NAME=SPEC: a scorer requests name (scorer=NAME), e.g. "
            "rm=reward_model(url=http://gpu:8001/pooling). Repeatable.",
        ),
    ] = None,
    plan_file: Annotated[
        list[str] | None,
        typer.Option("--plan", help="NAME=FILE: a plan requests name (auto:plan=NAME)."),
    ] = None,
    max_n: Annotated[int, typer.Option(help="Most choices (n) per request.")] = 8,
    max_tokens: Annotated[int, typer.Option(help="Most max_tokens per sample.")] = 4096,
    run_tokens: Annotated[
        int, typer.Option(help="Most completion tokens one strategy run may spend.")
    ] = 65536,
    max_concurrent: Annotated[int, typer.Option(help="Requests worked on at once.")] = 16,
    max_queue: Annotated[int, typer.Option(help="Requests waiting beyond those (429).")] = 64,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body.")] = 4 * 1024 * 1024,
    timeout: Annotated[
        float, typer.Option(help="Seconds a request may take before a 504 (0: no limit).")
    ] = 600.0,
    backend_option: BackendOptions = None,
) -> None:
    """Serve an OpenAI-compatible API that thinks harder (POST /v1/chat/completions)."""
    import asyncio
    import os

    from ponder.errors import ConfigError, PonderError
    from ponder.server import ServeConfig
    from ponder.server import serve as run_server

    keys = [*(api_key or []), *os.environ.get("PONDER_API_KEYS", "").split(",")]
    if api_key:
        typer.echo(
            "warning: --api-key shows in the process list (ps) to every user of this machine; "
            "set PONDER_API_KEYS instead",
            err=True,
        )
    try:
        limits = {"--max-n": max_n, "--max-tokens": max_tokens, "--run-tokens": run_tokens}
        limits |= {"--max-concurrent": max_concurrent, "--max-body-bytes": max_body_bytes}
        for flag, value in limits.items():
            if value < 1:
                raise ConfigError(f"{flag} must be at least 1, not {value}")
        if max_queue < 0 or timeout < 0:
            raise ConfigError("--max-queue and --timeout must not be negative")
        config = ServeConfig(
            strategy=strategy,
            presets=tuple(preset or ()),
            api_keys=frozenset(k.strip() for k in keys if k.strip()),
            max_n=max_n,
            max_tokens=max_tokens,
            run_tokens=run_tokens,
            max_concurrent=max_concurrent,
            max_queue=max_queue,
            max_body_bytes=max_body_bytes,
            timeout=timeout or None,
            policy=_policy(allow or [], deny or [], scorer or [], plan_file or []),
        )
        _check_strategies([strategy, *config.presets], config.admission())
        asyncio.run(
            run_server(
                model,
                _extra_models(extra_model or []),
                config,
                host=host,
                port=port,
                name=name,
                backend_options=_backend_options(backend_option or []),
            )
        )
    except PonderError as exc:
        raise _fail(exc) from None


def _policy(allow: list[str], deny: list[str], scorers: list[str], plans: list[str]) -> Any:
    """What requests may reach: ``ponder.server.policy.Policy`` from the flags."""
    from pathlib import Path

    from ponder.errors import ConfigError
    from ponder.scoring.scorers.base import make_scorer, parse_scorer_spec
    from ponder.server.policy import Policy

    named = {}
    for name, spec in parse_assignments(scorers, "--scorer", "NAME=SPEC", typed=False).items():
        scorer_name, options = parse_scorer_spec(spec)
        make_scorer({"name": scorer_name, **options})  # checked now, before serving
        named[name] = {"name": scorer_name, **options}
    files = parse_assignments(plans, "--plan", "NAME=FILE", typed=False)
    for name, path in files.items():
        if not Path(path).is_file():
            raise ConfigError(f"--plan {name}={path}: no such file")
    policy = Policy.default(named_scorers=named, plans=files)
    return policy.widened(allow, deny)


def _check_strategies(specs: list[str], policy: Any = None) -> None:
    """Each spec names a strategy with valid options (before any model is loaded); with the
    server's policy, its named scorers and plans resolved."""
    from ponder.api import make_strategy

    for spec in specs:
        name, options = parse_spec(spec)
        if policy is not None:
            options = policy.admit(name, options, {}, None)
        make_strategy(name, **options)


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
