"""Run strategy settings on a task's problems, storing every completed problem at once.

The plan: each task's problems (the first ``limit``), crossed with each strategy setting.
Settings of a strategy that declares ``pool_estimate`` and that differ only in ``n`` share one
pool: only the largest n is run, and the smaller ones are estimated from its samples with the
unbiased maj@k estimator (``ponder.eval.estimators``), so they are compute-matched, on the same
samples, and cost nothing more.

Problems run concurrently (``concurrency`` at a time) so that the backend's batch stays full.
Sample seeds are fixed per problem: problem p of a run with seed s uses ``problem_seed(s, p)``
(sample i then uses that plus i), unless the setting fixes its own seed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from ponder.answers import majority_vote
from ponder.api import expand_strategy_spec, make_strategy
from ponder.backends.base import Backend
from ponder.errors import ConfigError
from ponder.eval.allocation import ALLOCATE, AllocateConfig, BatchJob
from ponder.eval.flops import estimate_flops
from ponder.eval.store import Store
from ponder.registry import Registry
from ponder.runtime import Context
from ponder.strategies.base import Problem, Result, validate_options
from ponder.tasks.base import Score, Task
from ponder.types import ModelShape


@dataclasses.dataclass(frozen=True)
class Setting:
    """One strategy setting as run (or estimated) by the harness."""

    label: str  # as given on the command line: "self_consistency:n=4"
    name: str
    config: dict[str, Any]  # the validated options, defaults filled in
    key: str  # canonical identity: name and config
    pool: str | None = None  # the key of the run setting this one is estimated from
    k: int | None = None  # the n it stands for, when estimated
    batch: bool = False  # one run over a task's problems together (``allocate``), not each

    @property
    def estimated(self) -> bool:
        return self.pool is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Setting:
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class TaskPlan:
    key: str
    name: str  # as reports show it (unique within a plan)
    kind: str
    args: dict[str, Any]
    problems: list[str]


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one ``ponder eval`` run covers; stored with the run so reports can be redrawn."""

    tasks: list[TaskPlan]
    settings: list[Setting]
    model: str
    seed: int
    limit: int | None
    model_shape: ModelShape | None = None
    command: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        shape = data.get("model_shape")
        return cls(
            tasks=[TaskPlan(**t) for t in data["tasks"]],
            settings=[Setting.from_dict(s) for s in data["settings"]],
            model=data["model"],
            seed=data["seed"],
            limit=data["limit"],
            model_shape=ModelShape(**shape) if shape else None,
            command=data.get("command"),
        )

    @property
    def run_settings(self) -> list[Setting]:
        return [s for s in self.settings if not s.estimated]


def make_settings(specs: Sequence[str], registry: Registry) -> list[Setting]:
    """Settings from strategy specs (``NAME:k=v|v2,...``), validated, pools marked."""
    settings: list[Setting] = []
    seen: set[str] = set()
    for spec in specs:
        for label, name, options in expand_strategy_spec(spec):
            batch = name == ALLOCATE
            if batch:
                config = validate_options(AllocateConfig, options, ALLOCATE).model_dump(mode="json")
            else:
                strategy = make_strategy(name, registry=registry, **options)
                config = strategy.config.model_dump(mode="json")
            key = f"{name}:{json.dumps(config, sort_keys=True, separators=(',', ':'))}"
            if key in seen:
                raise ConfigError(f"strategy setting {label!r} is given twice")
            seen.add(key)
            settings.append(Setting(label, name, config, key, batch=batch))
    if not settings:
        raise ConfigError("give at least one --strategy")
    return _mark_pools(settings, registry)


def _mark_pools(settings: list[Setting], registry: Registry) -> list[Setting]:
    groups: dict[str, list[Setting]] = {}
    for s in settings:
        if s.batch:
            continue
        cls = registry.get("strategy", s.name)
        if cls.pool_estimate and "n" in s.config:
            rest = {k: v for k, v in s.config.items() if k != "n"}
            groups.setdefault(f"{s.name}:{json.dumps(rest, sort_keys=True)}", []).append(s)
    marked = {}
    for members in groups.values():
        largest = max(members, key=lambda s: s.config["n"])
        for s in members:
            if s is not largest:
                marked[s.key] = dataclasses.replace(s, pool=largest.key, k=s.config["n"])
    return [marked.get(s.key, s) for s in settings]


def problem_seed(seed: int, problem_id: str) -> int:
    """The base sample seed of one problem in a run with ``seed``."""
    return (seed * 1_000_003 + zlib.crc32(problem_id.encode())) % (2**31 - 1)


def model_id(backend: Backend) -> str:
    """How results name the model: the backend kind and its model."""
    return f"{backend.name}:{backend.model_name}"


async def solve_problem(
    task: Task,
    problem: Problem,
    setting: Setting,
    backend: Backend | Mapping[str, Backend],
    *,
    seed: int,
    registry: Registry,
    model_shape: ModelShape | None,
) -> dict[str, Any]:
    """Run one setting on one problem and score it: the record the store keeps.
    ``backend``: the model, or the Context's named models (``default`` among them)."""
    options = dict(setting.config)
    if "seed" in options and options["seed"] is None:
        options["seed"] = problem_seed(seed, problem.id or "")
    strategy = make_strategy(setting.name, registry=registry, **options)
    ctx = Context(backend)
    start = time.perf_counter()
    result = await strategy.run(problem, ctx)
    wall = time.perf_counter() - start
    calls = sum(role.calls for role in ctx.ledger.roles.values())
    return await make_record(task, problem, result, wall, calls, model_shape)


async def make_record(
    task: Task,
    problem: Problem,
    result: Result,
    wall: float,
    calls: int,
    model_shape: ModelShape | None,
) -> dict[str, Any]:
    """The record the store keeps of one solved problem: scored answer, candidates, usage."""
    final, candidate_scores = await asyncio.to_thread(_score_all, task, problem, result)
    answers = [c.answer for c in result.candidates]
    groups = [
        {
            "answer": g.answer,
            "members": list(g.members),
            "score": candidate_scores[g.members[0]].value,
        }
        for g in majority_vote(answers).groups
    ]
    usage = result.usage
    flops = (
        estimate_flops(
            model_shape,
            prompt_tokens=usage.prompt_tokens,
            cached_prompt_tokens=usage.cached_prompt_tokens,
            completion_tokens=usage.completion_tokens,
            calls=calls,
            sample_tokens=[c.completion_tokens for c in result.candidates],
        )
        if model_shape
        else None
    )
    return {
        "problem": problem.id,
        "question": problem.question,
        "reference": problem.metadata.get("reference"),
        "answer": result.answer,
        "text": result.text,
        "score": final.value,
        "correct": final.correct,
        "reason": final.reason,
        "candidates": [
            {**c.as_dict(), "score": s.value, "correct": s.correct, "reason": s.reason}
            for c, s in zip(result.candidates, candidate_scores, strict=True)
        ],
        "groups": groups,
        "abstained": sum(a is None for a in answers),
        "usage": usage.as_dict(),
        "calls": calls,
        "wall_seconds": wall,
        "flops": flops,
        "ledger": result.ledger,
        "details": result.details,
    }


def _score_all(task: Task, problem: Problem, result: Result) -> tuple[Score, list[Score]]:
    """The final answer's score and each candidate's; answers already scored are reused when
    the score depends on the answer alone."""
    cache: dict[str | None, Score] = {}

    def score(text: str, answer: str | None) -> Score:
        if task.kind != "answer":
            return task.score(problem, text, answer)
        if answer not in cache:
            cache[answer] = task.score(problem, text, answer)
        return cache[answer]

    final = score(result.text, result.answer)
    return final, [score(c.text, c.answer) for c in result.candidates]


@dataclasses.dataclass(frozen=True)
class Job:
    task: Task
    problem: Problem
    setting: Setting


def pending_jobs(
    plan: Plan, tasks: dict[str, Task], problems: dict[str, list[Problem]], store: Store
) -> list[Job]:
    """The jobs not yet stored, problem by problem across settings (so that a run cut short
    still compares every setting on the same problems)."""
    jobs = []
    for task_plan in plan.tasks:
        done = {
            s.key: store.done(task_plan.key, s.key, plan.model, plan.seed)
            for s in plan.run_settings
        }
        for problem in problems[task_plan.key]:
            for setting in plan.run_settings:
                if not setting.batch and problem.id not in done[setting.key]:
                    jobs.append(Job(tasks[task_plan.key], problem, setting))
    return jobs


def pending_batches(
    plan: Plan, tasks: dict[str, Task], problems: dict[str, list[Problem]], store: Store
) -> list[BatchJob]:
    """The allocations still to run: per batch setting and task, the problems not stored."""
    batches = []
    for task_plan in plan.tasks:
        for setting in plan.run_settings:
            if not setting.batch:
                continue
            done = store.done(task_plan.key, setting.key, plan.model, plan.seed)
            missing = [p for p in problems[task_plan.key] if p.id not in done]
            if missing:
                batches.append(BatchJob(tasks[task_plan.key], missing, setting))
    return batches


Solver = Callable[[Job], Awaitable[dict[str, Any]]]


async def run_jobs(
    jobs: Iterable[Job],
    solver: Solver,
    on_record: Callable[[Job, dict[str, Any]], None],
    *,
    concurrency: int,
) -> None:
    """Run ``jobs`` with at most ``concurrency`` in flight, handing each record over as it
    completes. The first error cancels the jobs in flight and is raised; records already
    handed over are kept."""
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            record = await solver(job)
            on_record(job, record)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


#: The development suite: three reasoning-gym tasks on which even the embedded 135M model has
#: measurable signal (greedy, one sample, majority and coverage all differ), so that changes
#: to strategies show up in minutes on a laptop CPU.
DEV_SUITE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("products", {"max_digits": 1}),
    (
        "basic_arithmetic",
        {
            "min_terms": 2,
            "max_terms": 2,
            "min_digits": 1,
            "max_digits": 1,
            "operators": ["+", "-"],
            "allow_parentheses": False,
            "allow_negation": False,
        },
    ),
    ("chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2}),
)
DEV_STRATEGIES: tuple[str, ...] = ("greedy", "self_consistency:n=1|2|4|8")
DEV_LIMIT = 20
