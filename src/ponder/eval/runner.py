"""Run strategy settings on a task's problems, one typed record per solved problem.

A problem on which the strategy's verifier fails outright (``VerifierError``: no candidate
could be scored, say) is recorded as unanswered, with the error in its details and what it
had spent, and the run goes on: the same seeds would fail the same way on every resume, so
stopping there would leave the run unfinishable. So is a problem on which a later call of
the strategy outgrows the model's context (``ContextLengthError`` once the strategy has
spent tokens: a judge shown two long programs, say); on the strategy's first call the same
error is the settings' (max_tokens beyond the context) and stops the run, as errors of the
backend or the settings do.

Problems run concurrently (``concurrency`` at a time) so that the backend's batch stays full.
Sample seeds are fixed per problem: problem p of a run with seed s uses ``problem_seed(s, p)``
(sample i then uses that plus i), unless the setting fixes its own seed. A batch strategy's
setting (``allocate``) runs once per task over the problems not yet stored for it; its
records are handed over together, as one unit of work.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

from ponder.api import make_batch_strategy, make_strategy
from ponder.backends.base import Backend
from ponder.core.problem import Problem, Result
from ponder.core.registry import Registry
from ponder.core.types import ModelShape
from ponder.errors import ContextLengthError, VerifierError
from ponder.eval.flops import estimate_flops
from ponder.eval.records import CandidateRecord, GroupRecord, ProblemRecord, UsageRecord
from ponder.eval.scope import Plan, Setting, problem_seed
from ponder.eval.store import Store
from ponder.runtime import Context
from ponder.scoring.answers import majority_vote
from ponder.tasks.base import Score, Task


async def solve_problem(
    task: Task,
    problem: Problem,
    setting: Setting,
    backend: Backend | Mapping[str, Backend],
    *,
    seed: int,
    registry: Registry,
    model_shape: ModelShape | None,
) -> ProblemRecord:
    """Run one setting on one problem and score it: the record the store keeps.
    ``backend``: the model, or the Context's named models (``default`` among them)."""
    options = dict(setting.config)
    if "seed" in options and options["seed"] is None:
        options["seed"] = problem_seed(seed, problem.id or "")
    strategy = make_strategy(setting.name, registry=registry, **options)
    ctx = Context(backend)
    started, start = time.time(), time.perf_counter()
    try:
        result = await strategy.run(problem, ctx)
    except (VerifierError, ContextLengthError) as exc:
        if isinstance(exc, ContextLengthError) and ctx.ledger.total().total_tokens == 0:
            raise  # the first call: the settings ask for more than the context holds
        # this problem's answer could not be chosen: unanswered, at what it cost so far
        result = Result(
            strategy=setting.name,
            answer=None,
            text="",
            candidates=(),
            usage=ctx.ledger.total(),
            ledger=ctx.ledger.as_dict(),
            details={"error": f"{type(exc).__name__}: {exc}"},
        )
    wall = time.perf_counter() - start
    calls = sum(role.calls for role in ctx.ledger.roles.values())
    record = await make_record(task, problem, result, wall, calls, model_shape)
    return record.model_copy(update={"started": started, "finished": started + wall})


async def make_record(
    task: Task,
    problem: Problem,
    result: Result,
    wall: float,
    calls: int,
    model_shape: ModelShape | None,
) -> ProblemRecord:
    """The record the store keeps of one solved problem: scored answer, candidates, usage."""
    final, candidate_scores = await asyncio.to_thread(_score_all, task, problem, result)
    answers = [c.answer for c in result.candidates]
    groups = [  # every member scored itself (members of a code vote may differ)
        GroupRecord(
            answer=g.answer,
            members=list(g.members),
            score=sum(candidate_scores[i].value for i in g.members) / len(g.members),
            correct=sum(candidate_scores[i].correct for i in g.members) / len(g.members),
        )
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
    return ProblemRecord(
        problem=problem.id,
        question=problem.question,
        reference=problem.metadata.get("reference"),
        answer=result.answer,
        text=result.text,
        score=final.value,
        correct=final.correct,
        reason=final.reason,
        candidates=[
            CandidateRecord(**c.as_dict(), score=s.value, correct=s.correct, reason=s.reason)
            for c, s in zip(result.candidates, candidate_scores, strict=True)
        ],
        groups=groups,
        abstained=sum(a is None for a in answers),
        usage=UsageRecord(**usage.as_dict()),
        calls=calls,
        wall_seconds=wall,
        flops=flops,
        ledger=result.ledger,
        details=result.details,
    )


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


@dataclasses.dataclass(frozen=True)
class BatchJob:
    """A batch strategy's setting over the problems of a task not yet stored for it."""

    task: Task
    problems: list[Problem]
    setting: Setting


def pending_batches(
    plan: Plan, tasks: dict[str, Task], problems: dict[str, list[Problem]], store: Store
) -> list[BatchJob]:
    """The batches still to run: per batch setting and task, the problems not stored."""
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


Solver = Callable[[Job], Awaitable[ProblemRecord]]


async def run_jobs(
    jobs: Iterable[Job],
    solver: Solver,
    on_record: Callable[[Job, ProblemRecord], None],
    *,
    concurrency: int,
    claim: Callable[[Job], bool] | None = None,
) -> None:
    """Run ``jobs`` with at most ``concurrency`` in flight, handing each record over as it
    completes; a job ``claim`` refuses (another run is solving it) is skipped. The first error
    cancels the jobs in flight and is raised; records already handed over are kept."""
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if claim is not None and not claim(job):
                continue
            record = await solver(job)
            on_record(job, record)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def check_batch(job: BatchJob, registry: Registry) -> None:
    """Refuse, before anything runs, a batch its setting cannot serve."""
    strategy = make_batch_strategy(job.setting.name, registry=registry, **job.setting.config)
    strategy.check(len(job.problems), f"{job.setting.label} on {job.task.label}")


async def run_batch(
    job: BatchJob,
    backend: Backend | Mapping[str, Backend],
    *,
    seed: int,
    registry: Registry,
    model_shape: ModelShape | None,
) -> list[ProblemRecord]:
    """Run a batch strategy over the job's problems; one record per problem. Each problem's
    wall time is the batch's shared out, so a setting's summed wall time is the batch's."""
    strategy = make_batch_strategy(job.setting.name, registry=registry, **job.setting.config)
    ctx = Context(backend, budget=strategy.budget(len(job.problems)))
    started, start = time.time(), time.perf_counter()
    results = await strategy.solve_batch(
        job.problems, ctx, seed_of=lambda p: problem_seed(seed, p.id or "")
    )
    elapsed = time.perf_counter() - start
    share = elapsed / max(1, len(results))
    span = {"started": started, "finished": started + elapsed}  # the batch's, for each
    return [
        (
            await make_record(job.task, problem, result, share, _calls(result), model_shape)
        ).model_copy(update=span)
        for problem, result in zip(job.problems, results, strict=True)
    ]


def _calls(result: Result) -> int:
    return sum(int(role.get("calls", 0)) for role in result.ledger.get("by_role", {}).values())
