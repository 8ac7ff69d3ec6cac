"""A whole task under one budget: ``--strategy allocate:tokens_per_problem=N,...``.

``allocate`` is not a per-problem strategy: it spends one budget of completion tokens,
``tokens_per_problem`` x the number of problems, across all of a task's problems at once,
handing samples in rounds to the problems whose votes are least settled
(``ponder.allocate``). The harness runs it once per task, after the per-problem settings,
and stores one record per problem in the same store and format as any strategy, so the
report puts it beside ``self_consistency`` at its real tokens per problem.

An allocation is one unit of work: its records are stored together in one transaction once
it ends, so a run killed during it stores none of them, and running the same command again
starts it over. Problems already stored for the setting are not run again; problems that are
missing (a run with a larger ``--limit``, say) are allocated together as a batch of their own,
with ``tokens_per_problem`` x their number as its budget.

Each problem's samples are seeded from ``problem_seed(seed, problem)`` (its k-th sample uses
that + k), so an allocation is reproducible up to the batch-composition effects every batched
backend has. Under ``--ray`` the allocation runs in the calling process (it needs all of a
task's problems in one Context).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from ponder.answers import majority_vote
from ponder.errors import ConfigError
from ponder.runtime import Budget, Context
from ponder.strategies.base import Problem, Result, SamplingConfig, outcome_of
from ponder.strategies.pool import straggler_error
from ponder.types import ModelShape

if TYPE_CHECKING:
    from ponder.backends.base import Backend
    from ponder.eval.runner import Setting
    from ponder.tasks.base import Task

ALLOCATE = "allocate"


class AllocateConfig(SamplingConfig):
    """``allocate`` in ``ponder eval``: its budget and ``ponder.allocate``'s knobs."""

    #: the task's completion-token budget is this times the number of its problems
    tokens_per_problem: int = Field(ge=1)
    #: samples every problem gets first (one request each)
    initial: int = Field(2, ge=1, le=4096)
    #: samples per request in the later rounds
    step: int = Field(1, ge=1, le=4096)
    #: most samples one problem may get
    max_per_problem: int = Field(16, ge=1, le=4096)
    #: a problem whose leader is the majority with this probability gets no more samples
    #: (see ``ponder.allocate`` for how the default was chosen)
    settled: float = Field(0.8, gt=0.0, le=1.0)
    #: a sample may run to this times the median length of its problem's (or, before it has
    #: three, its task's) finished samples; 0 turns the cut off
    straggler: float = Field(3.0, ge=0.0)

    @model_validator(mode="after")
    def _sizes_fit(self) -> AllocateConfig:
        if self.max_per_problem < self.initial:
            raise ValueError(
                f"max_per_problem ({self.max_per_problem}) is smaller than initial ({self.initial})"
            )
        if error := straggler_error(self.straggler):
            raise ValueError(error)
        return self


@dataclasses.dataclass(frozen=True)
class BatchJob:
    """One allocation: a setting over the problems of a task not yet stored for it."""

    task: Task
    problems: list[Problem]
    setting: Setting


def check_budget(job: BatchJob) -> None:
    """Refuse, before anything runs, an allocation whose budget cannot pay for even one
    problem's first request (reservations are worst case: initial x max_tokens)."""
    config = AllocateConfig.model_validate(job.setting.config)
    budget = config.tokens_per_problem * len(job.problems)
    first = config.initial * config.max_tokens
    if budget < first:
        raise ConfigError(
            f"{job.setting.label} gives {job.task.label} a budget of {budget} completion tokens "
            f"({config.tokens_per_problem} x {len(job.problems)} problems), less than one "
            f"problem's first request may generate (initial={config.initial} x max_tokens="
            f"{config.max_tokens} = {first}); raise tokens_per_problem or lower initial or "
            "max_tokens"
        )


async def run_allocation(
    job: BatchJob,
    backend: Backend | Mapping[str, Backend],
    *,
    seed: int,
    model_shape: ModelShape | None,
) -> list[dict[str, Any]]:
    """Allocate the job's budget over its problems; one store record per problem."""
    from ponder.allocate import allocate
    from ponder.eval.runner import make_record, problem_seed

    config = AllocateConfig.model_validate(job.setting.config)
    sampling = SamplingConfig.model_validate(
        config.model_dump(include=set(SamplingConfig.model_fields))
    )
    budget = config.tokens_per_problem * len(job.problems)
    ctx = Context(backend, budget=Budget(completion_tokens=budget))

    def seed_of(problem: Problem) -> int:
        return config.seed if config.seed is not None else problem_seed(seed, problem.id or "")

    start = time.perf_counter()
    shares = await allocate(
        job.problems,
        ctx,
        sampling=sampling,
        initial=config.initial,
        step=config.step,
        max_per_problem=config.max_per_problem,
        settled=config.settled,
        straggler=config.straggler,
        seed_of=seed_of,
    )
    wall = time.perf_counter() - start
    spent = ctx.ledger.total()
    batch = {
        "problems": len(job.problems),
        "budget_completion_tokens": budget,
        "completion_tokens": spent.completion_tokens,
        "prompt_tokens": spent.prompt_tokens,
        "wall_seconds": round(wall, 4),
        "samples_per_problem": [len(s.candidates) for s in shares],
        "stragglers_cut": sum(s.cut for s in shares),
    }
    records = []
    for share in shares:
        candidates = tuple(share.candidates)
        vote = majority_vote([c.answer for c in candidates])
        details = {"allocation": share.as_dict(), "batch": batch}
        if candidates:
            outcome = outcome_of(vote, candidates, details)
            answer, text = outcome.answer, outcome.text
            details = outcome.details
        else:  # the budget ran out before this problem's first request
            answer, text = None, ""
        generate = {**share.usage.as_dict(), "calls": share.requests}
        result = Result(
            strategy=ALLOCATE,
            answer=answer,
            text=text,
            candidates=candidates,
            usage=share.usage,
            ledger={**share.usage.as_dict(), "by_role": {"generate": generate}},
            details=details,
        )
        # the batch's wall time, shared out so a setting's summed wall time is the batch's
        records.append(
            await make_record(
                job.task, share.problem, result, wall / len(shares), share.requests, model_shape
            )
        )
    return records


__all__ = ["ALLOCATE", "AllocateConfig", "BatchJob", "check_budget", "run_allocation"]
