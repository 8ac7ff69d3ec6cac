"""``evaluate``: the evaluation harness as a library call (``ponder eval`` is a thin shell).

::

    from ponder.eval import evaluate
    from ponder.tasks import make_task

    outcome = evaluate(
        [make_task("products", {"max_digits": 1})],
        ["greedy", "self_consistency:n=1|4|16"],
        out="results/products",
        limit=20,
    )
    print(outcome.table)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ponder.api import open_models
from ponder.backends.base import Backend, resolve_backend
from ponder.core.problem import DEFAULT_MODEL, Problem
from ponder.core.registry import Registry, default_registry
from ponder.core.types import ModelShape
from ponder.errors import ConfigError, PonderError
from ponder.eval.html import problem_views
from ponder.eval.kinetics import DEFAULT_HARDWARE
from ponder.eval.progress import Progress
from ponder.eval.records import ProblemRecord
from ponder.eval.render import format_table, write_report
from ponder.eval.runner import (
    BatchJob,
    Job,
    check_batch,
    pending_batches,
    pending_jobs,
    run_batch,
    run_jobs,
    solve_problem,
)
from ponder.eval.scope import Plan, Setting, TaskPlan, make_settings, model_id
from ponder.eval.store import Store
from ponder.eval.summary import summarize
from ponder.tasks.base import Task

#: problems in flight at once when not told otherwise. A problem holds its samples' slots until
#: its slowest sample ends, so with 8 problems of n=8 the embedded engine's 32 slots ran ~18
#: full on average; with 32 in flight they stay full until the run's last problems.
DEFAULT_CONCURRENCY = 32


@dataclasses.dataclass(frozen=True)
class EvalOutcome:
    summary: dict[str, Any]
    table: str
    files: list[Path]
    ran: int  # problems run in this call (the rest were already stored)
    notes: list[str]


async def aevaluate(
    tasks: Sequence[Task],
    strategies: Sequence[str],
    *,
    out: str | Path,
    backend: Backend | str | None = None,
    seed: int = 0,
    limit: int | None = None,
    concurrency: int | None = None,
    progress: TextIO | None = None,
    ray_address: str | None = None,
    ray_workers: int = 1,
    model_shape: ModelShape | None = None,
    registry: Registry | None = None,
    command: str | None = None,
    named_models: Mapping[str, Backend | str] | None = None,
    backend_options: Mapping[str, Any] | None = None,
) -> EvalOutcome:
    """Run every strategy setting on every task's problems, store, and report.

    Everything that can be wrong with the request is checked before the model loads.
    Problems already stored under ``out`` for the same (task, setting, model, seed) are not
    run again. ``progress``: a stream for the progress bar (None: silent). ``named_models``
    adds models for strategies that use several (name -> backend or spec); they become part
    of the results' model key. ``backend_options`` configure the main model's backend (in
    every Ray worker too); they are not part of the key.
    """
    registry = registry or default_registry()
    settings = make_settings(strategies, registry)
    _check_request(tasks, limit, ray_address, backend, named_models)
    problems = {task.key: list(task.problems(limit)) for task in tasks}
    store = Store(out)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(store.close)
        backends = await stack.enter_async_context(
            open_models(backend, named_models, registry, backend_options)
        )
        return await _run(
            tasks,
            settings,
            problems,
            store,
            backends,
            seed=seed,
            limit=limit,
            concurrency=concurrency,
            progress=progress,
            ray_address=ray_address,
            ray_workers=ray_workers,
            model_shape=model_shape,
            registry=registry,
            command=command,
            backend_spec=backend if isinstance(backend, str) else None,
            backend_options=dict(backend_options or {}),
        )


async def _run(
    tasks: Sequence[Task],
    settings: list[Setting],
    problems: dict[str, list[Problem]],
    store: Store,
    backends: dict[str, Backend],
    *,
    seed: int,
    limit: int | None,
    concurrency: int | None,
    progress: TextIO | None,
    ray_address: str | None,
    ray_workers: int,
    model_shape: ModelShape | None,
    registry: Registry,
    command: str | None,
    backend_spec: str | None,
    backend_options: dict[str, Any],
) -> EvalOutcome:
    instance = backends[DEFAULT_MODEL]
    labels = _unique([t.label for t in tasks])
    plan = Plan(
        tasks=[
            TaskPlan(t.key, label, t.kind, t.args, [p.id or "" for p in problems[t.key]])
            for t, label in zip(tasks, labels, strict=True)
        ],
        settings=settings,
        model=await model_id(instance)
        + "".join(
            [f" +{k}={await model_id(b)}" for k, b in backends.items() if k != DEFAULT_MODEL]
        ),
        seed=seed,
        limit=limit,
        model_shape=model_shape or instance.model_shape,
        command=command,
        environment=instance.environment(),
    )
    notes = _side_by_side(store, plan)
    by_key = {t.key: t for t in tasks}
    jobs = pending_jobs(plan, by_key, problems, store)
    batches = pending_batches(plan, by_key, problems, store)
    for batch in batches:
        check_batch(batch, registry)
    run_id = store.start_run(plan.as_dict())
    started = time.time()
    bar = Progress(len(jobs) + sum(len(b.problems) for b in batches), stream=progress)
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    ran: list[int] = []

    def claim(job: Job) -> bool:
        """Whether this run takes the job (another ``ponder eval`` on the store may have)."""
        key = (job.task.key, job.problem.id or "", job.setting.key, plan.model, seed)
        if store.claim(*key, owner):
            return True
        bar.skip()
        return False

    def on_record(job: Job, record: ProblemRecord) -> None:
        store.put(job.task.key, job.problem.id or "", job.setting.key, plan.model, seed, record)
        ran.append(1)
        bar.update(record)

    def on_batch(batch: BatchJob, records: list[ProblemRecord]) -> None:
        store.put_many(batch.task.key, batch.setting.key, plan.model, seed, records)
        for record in records:
            ran.append(1)
            bar.update(record)

    try:
        if ray_address is not None:
            from ponder.eval.distributed import run_on_ray

            await run_on_ray(
                ray_address,
                [job for job in jobs if claim(job)],
                functools.partial(resolve_backend, backend_spec, **backend_options),
                on_record,
                seed=seed,
                model_shape=plan.model_shape,
                workers=ray_workers,
                concurrency=concurrency or DEFAULT_CONCURRENCY,
            )
        else:
            await run_jobs(
                jobs,
                _local_solver(backends, seed, registry, plan.model_shape),
                on_record,
                concurrency=concurrency or DEFAULT_CONCURRENCY,
                claim=claim,
            )
        for batch in batches:  # batch strategies (whole-task allocations), in this process
            mine = [p for p in batch.problems if claim(Job(batch.task, p, batch.setting))]
            if not mine:
                continue
            records = await run_batch(
                dataclasses.replace(batch, problems=mine),
                backends,
                seed=seed,
                registry=registry,
                model_shape=plan.model_shape,
            )
            on_batch(batch, records)
    except PonderError as exc:
        exc.add_note(
            f"{store.count()} result(s) are stored in {store.path}; run the same command "
            "again to resume (nothing stored is run twice)"
        )
        raise
    finally:
        bar.close()
        store.release(owner)
    others = store.claimed_by_others(owner)
    if others:
        notes.append(
            f"{others} problem(s) are being solved by another `ponder eval` on {store.directory} "
            "right now; they join the store when it finishes (`ponder report "
            f"{store.directory}` redraws the report then)"
        )
    store.finish_run(run_id)
    summary = summarize(plan, store, elapsed=time.time() - started, started=started)
    files = write_report(summary, store.directory, problem_views(plan, store))
    notes += cut_off_notes(summary)
    return EvalOutcome(summary, format_table(summary), files, len(ran), notes)


#: the share of a setting's samples cut off at max_tokens past which eval and solve warn
CUT_OFF_WARNING = 0.10


def cut_off_notes(summary: dict[str, Any]) -> list[str]:
    """A warning for each run setting that had more than ``CUT_OFF_WARNING`` of its samples
    cut off at ``max_tokens`` (they abstain), naming the option to raise."""
    notes = []
    for row in summary["results"]:
        share = row.get("cut_off_share")
        if row.get("estimated") or share is None or share <= CUT_OFF_WARNING:
            continue
        limit = row["options"].get("max_tokens")
        raise_it = f"max_tokens={2 * limit}" if isinstance(limit, int) else "max_tokens"
        notes.append(
            f"{row['strategy']} on {row['task']}: {share:.0%} of its samples were cut off at "
            f"max_tokens={limit} and abstain; raise it ({row['name']}:...,{raise_it}), or let "
            "`ponder tune` choose it for this model"
        )
    return notes


def _check_request(
    tasks: Sequence[Task],
    limit: int | None,
    ray_address: str | None,
    backend: object,
    named_models: Mapping[str, object] | None,
) -> None:
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if not tasks:
        raise ConfigError("give at least one --task")
    if len({t.key for t in tasks}) != len(tasks):
        raise ConfigError("a task is given twice with the same arguments")
    if ray_address is not None:
        from ponder.eval.distributed import require_ray

        require_ray()
        if backend is not None and not isinstance(backend, str):
            raise ConfigError("with Ray, give the model as a spec (path or URL), not an object")
        if named_models:
            raise ConfigError(
                "--extra-model is not supported with --ray yet: run without --ray, or give "
                "strategies that use one model"
            )


def _unique(labels: list[str]) -> list[str]:
    """Labels made unique by numbering repeats (two settings of one dataset, say)."""
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}-{seen[label]}")
    return unique


def _local_solver(
    backend: Mapping[str, Backend], seed: int, registry: Registry, shape: ModelShape | None
) -> Callable[[Job], Any]:
    async def solve(job: Job) -> ProblemRecord:
        return await solve_problem(
            job.task,
            job.problem,
            job.setting,
            backend,
            seed=seed,
            registry=registry,
            model_shape=shape,
        )

    return solve


def _side_by_side(store: Store, plan: Plan) -> list[str]:
    """Say when the directory holds results this run will not use (kept side by side)."""
    notes = []
    others = sorted(store.models() - {plan.model})
    if others:
        notes.append(
            f"{store.directory} also holds results of model(s) {', '.join(others)}; they are kept "
            "side by side (results are keyed by model) and left out of this report"
        )
    wanted = {(t.key, s.key, plan.model, plan.seed) for t in plan.tasks for s in plan.run_settings}
    foreign = store.settings() - wanted
    foreign = {f for f in foreign if f[2] == plan.model}
    if foreign:
        notes.append(
            f"{store.directory} also holds {len(foreign)} other (task, setting, seed) "
            "combination(s) of this model; kept side by side and left out of this report"
        )
    return notes


def evaluate(tasks: Sequence[Task], strategies: Sequence[str], **kwargs: Any) -> EvalOutcome:
    """Synchronous ``aevaluate``."""
    return asyncio.run(aevaluate(tasks, strategies, **kwargs))


def report(
    directory: str | Path,
    run_id: int | None = None,
    *,
    compare: Sequence[tuple[str, str]] = (),
    hardware: str | float = DEFAULT_HARDWARE,
) -> EvalOutcome:
    """Redraw the report of a stored run (the latest by default) without running anything;
    ``compare``: pairs of setting labels to compare on their shared problems; ``hardware``:
    whose arithmetic intensity weighs the Kinetics cost (``ponder.eval.kinetics``)."""
    path = Path(directory)
    if not (path / "results.sqlite").is_file():
        raise ConfigError(
            f"{path} holds no results store (results.sqlite); run `ponder eval` first"
        )
    with Store(path) as store:
        _, data, started, finished = store.run(run_id)
        plan = Plan.from_dict(data)
        elapsed = (finished - started) if finished else None
        summary = summarize(
            plan, store, elapsed=elapsed, started=started, compare=compare, hardware=hardware
        )
        notes = _side_by_side(store, plan)
        problems = problem_views(plan, store)
    files = write_report(summary, path, problems)
    return EvalOutcome(summary, format_table(summary), files, 0, notes)


__all__ = ["EvalOutcome", "aevaluate", "evaluate", "report"]
