"""``allocate``: spend one budget across a batch of problems, where the votes are least settled.

In the spirit of PETS's trajectory allocation and the difficulty-aware allocation of Snell et
al., "Scaling LLM Test-Time Compute Optimally can be More Effective than Scaling Model
Parameters" (arXiv 2408.03314), without a learned difficulty predictor: the vote itself says
how settled a problem is. Every problem first gets ``initial`` samples; then, round after
round, the ``step`` samples of a round go to the problems whose leading answer is least
likely to be the true majority (the Beta rule of ``adaptive_consistency``), skipping problems
already settled (probability >= ``settled``) or at ``max_per_problem``. The default
``settled=0.8`` stops a problem whose first two samples agree (2-0 gives 0.875) or whose vote
reaches 3-1, and sends the budget to the others.

Stragglers are cut, as the stopping rules cut them: from the second round on, a request's
max_tokens is lowered to ``straggler`` times the median length of the problem's finished
samples (once it has three; before that, of the batch's samples that finished in earlier
rounds, so meant for a batch of problems of one kind, such as a task). A sample that reaches
that limit is usually looping, and rarely right; it ends there (no streaming needed, so any
backend can do it), keeps no answer, and is noted in the ledger's cancelled samples with the
tokens it had produced. Its problem stays unsettled and may get more samples later.

``benchmarks/replay_allocate.py`` chose both defaults together, over ``settled`` 0.8-0.95 and
``straggler`` off, 3, 4, 5 or 6, on 240 held-out problems of the embedded model, as the
setting that solves the most at SC@4's and SC@8's tokens (mean over 20 orders of the recorded
samples): ``settled=0.8, straggler=3`` solves 10.5 and 12.1 more than SC@4 and SC@8, against
3.7 and 9.4 with the cut off.

All requests of a round are issued together, so the backend batches across problems, as far
as the budget allows: a call in flight reserves its worst case (k x max_tokens), so when the
budget cannot cover the next request, that one waits for calls in flight to finish and hand
back what they did not use. With nothing in flight, the budget's last tokens buy a request
with a lower max_tokens (as long as they cover a quarter of it, or the straggler limit where
that is less). It stops when the budget cannot pay for another request, or when every
problem is settled or full.

    results = await allocate(problems, backend, budget=Budget(completion_tokens=20_000))

Each problem's answer is the majority of its samples; ``Allocation`` reports the samples,
tokens, requests and stragglers cut of each problem. The shared Context's ledger never
exceeds the budget. ``seed_of`` gives each problem its own base seed (its k-th sample then
uses base + k), so an allocation is reproducible whatever order the rounds interleave in, and
a cut sample is the first tokens of the sample it would have been. ``ponder eval`` runs a
whole task this way with ``--strategy allocate:tokens_per_problem=N,...`` (``Allocate``, the
batch strategy registered as ``allocate``): one budget of ``tokens_per_problem`` x the
number of its problems. There an allocation is one unit of work: its records are stored
together once it ends, so a run killed during it starts it over.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from pydantic import Field, model_validator

from ponder.backends.base import Backend
from ponder.core.problem import Candidate, Problem, Result
from ponder.core.types import Message, Usage
from ponder.errors import ConfigError
from ponder.runtime.context import Context
from ponder.runtime.ledger import Budget, Ledger
from ponder.runtime.pool import straggler_error, straggler_limit
from ponder.runtime.sampling import SamplingConfig, draw_candidates
from ponder.scoring.answers import majority_vote
from ponder.strategies.base import BatchStrategy, outcome_of
from ponder.strategies.early_stopping import leader_probability


@dataclasses.dataclass
class Allocation:
    """One problem's share: its samples, its answer and how settled its vote was."""

    problem: Problem
    candidates: list[Candidate] = dataclasses.field(default_factory=list)
    answer: str | None = None
    settledness: float = 0.0
    usage: Usage = dataclasses.field(default_factory=Usage)
    requests: int = 0
    #: lengths of the samples that ended on their own (not stopped short by allocate)
    finished: list[int] = dataclasses.field(default_factory=list)
    #: samples stopped at their straggler limit
    cut: int = 0
    #: this problem's share of the batch's spending, by role, as any strategy's ledger
    ledger: Ledger = dataclasses.field(default_factory=Ledger)

    @property
    def tokens(self) -> int:
        return sum(c.completion_tokens for c in self.candidates)

    def add(
        self,
        drawn: list[Candidate],
        usage: Usage,
        seconds: float,
        ctx: Context,
        *,
        short: bool,
        cut: bool,
    ) -> None:
        """Take one request's samples. If its max_tokens was lowered (``short``: to the
        straggler limit, ``cut``, or to what the budget had left), a sample that reached it
        breaks off mid-text and has no answer; a straggler's tokens go in the ledger's
        cancelled samples."""
        for c in drawn:
            if not short or c.finish_reason != "length":
                self.finished.append(c.completion_tokens)
                self.candidates.append(c)
                continue
            self.candidates.append(dataclasses.replace(c, answer=None))
            if cut:
                self.cut += 1
                ctx.ledger.note_cancelled(c.completion_tokens)
                self.ledger.note_cancelled(c.completion_tokens)
        self.ledger.record("generate", usage, seconds)
        self.usage = self.usage + usage
        self.requests += 1
        self.settledness = leader_probability([c.answer for c in self.candidates], "beta")

    def as_dict(self) -> dict[str, Any]:
        return {
            "problem": self.problem.id,
            "answer": self.answer,
            "samples": len(self.candidates),
            "requests": self.requests,
            "completion_tokens": self.tokens,
            "settledness": round(self.settledness, 4),
            "stragglers_cut": self.cut,
        }


async def allocate(
    problems: Sequence[Problem],
    backend: Backend | Context,
    *,
    budget: Budget | None = None,
    sampling: SamplingConfig | None = None,
    initial: int = 2,
    step: int = 1,
    max_per_problem: int = 16,
    settled: float = 0.8,
    straggler: float = 3.0,
    per_round: int | None = None,
    seed_of: Callable[[Problem], int] | None = None,
) -> list[Allocation]:
    """Spend ``budget`` over ``problems`` (see the module docstring)."""
    if initial < 1 or step < 1 or max_per_problem < initial:
        raise ConfigError("allocate needs initial >= 1, step >= 1 and max_per_problem >= initial")
    if not 0 < settled <= 1:
        raise ConfigError(f"settled must be in (0, 1], got {settled}")
    if error := straggler_error(straggler):
        raise ConfigError(error)
    ctx = backend if isinstance(backend, Context) else Context(backend, budget=budget)
    config = sampling or SamplingConfig.model_validate({})
    shares = [Allocation(p) for p in problems]
    if not shares:
        return shares
    per_round = per_round or len(shares)
    first = shares[0].problem.messages()
    if ctx.affordable(first, initial, config.max_tokens) < initial:
        raise ConfigError(
            f"the budget cannot pay for initial={initial} samples of max_tokens="
            f"{config.max_tokens} for even one problem; raise the budget or lower them"
        )

    async def draw(share: Allocation, k: int, max_tokens: int, limit: int | None) -> None:
        update: dict[str, Any] = {"max_tokens": max_tokens}
        if seed_of is not None:
            update["seed"] = seed_of(share.problem)
        sampling = config.model_copy(update=update)
        start = time.perf_counter()
        drawn, usage = await draw_candidates(
            share.problem,
            ctx,
            sampling,
            k,
            first_index=len(share.candidates),
            seed_offset=len(share.candidates),
        )
        short = max_tokens < config.max_tokens  # lowered to the straggler limit or budget
        seconds = time.perf_counter() - start
        share.add(drawn, usage, seconds, ctx, short=short, cut=short and max_tokens == limit)

    def requests(wanted: list[Allocation], k: int) -> list[Request]:
        """A round's requests, each with its straggler limit (from earlier rounds only)."""
        batch = [n for s in shares for n in s.finished]
        return [(s, k, straggler_limit(s.finished, straggler, batch)) for s in wanted]

    if not await _issue_round(ctx, config.max_tokens, requests(shares, initial), draw):
        return _finish(shares)
    while True:
        open_ = [
            s
            for s in shares
            if s.settledness < settled and len(s.candidates) + step <= max_per_problem
        ]
        if not open_:
            break
        open_.sort(key=lambda s: (s.settledness, len(s.candidates)))
        if not await _issue_round(ctx, config.max_tokens, requests(open_[:per_round], step), draw):
            break
    return _finish(shares)


def least_tokens(wanted: int, max_tokens: int) -> int:
    """The fewest tokens per sample worth a request that wants ``wanted``: all of them, or a
    quarter of ``max_tokens`` where that is less (the budget's last tokens)."""
    return max(1, min(wanted, max_tokens // 4))


#: one request of a round: the problem, its samples, and their straggler limit (or None)
Request = tuple[Allocation, int, int | None]


async def _issue_round(
    ctx: Context,
    max_tokens: int,
    wanted: list[Request],
    draw: Callable[[Allocation, int, int, int | None], Coroutine[Any, Any, None]],
) -> bool:
    """Issue a round's requests together; True if every one was issued. A request's
    max_tokens is its straggler limit where that is lower. Calls in flight reserve their
    worst case (k x max_tokens); when the budget cannot cover the next request yet, wait for
    calls to finish (their unused reservation comes back) and try again. With nothing in
    flight, the budget's last tokens go to a request with a lower max_tokens, as long as they
    cover ``least_tokens`` (else the round stops there)."""
    pending: set[asyncio.Task[None]] = set()
    issued = 0
    try:
        for share, k, limit in wanted:  # reserve in order, so the budget is never overrun
            messages = share.problem.messages()
            wanted_tokens = min(max_tokens, limit or max_tokens)
            while ctx.affordable(messages, k, wanted_tokens) < k and pending:
                done, pending = await asyncio.wait(pending, return_when="FIRST_COMPLETED")
                for task in done:
                    task.result()
            cap = _affordable_max_tokens(ctx, messages, k, wanted_tokens)
            if cap < least_tokens(wanted_tokens, max_tokens):
                break
            pending.add(asyncio.create_task(draw(share, k, cap, limit)))
            issued += 1
            await asyncio.sleep(0)  # the call reserves its worst case before the next check
        if pending:
            await asyncio.gather(*pending)
    finally:
        for task in pending:
            task.cancel()
    return issued == len(wanted)


def _affordable_max_tokens(ctx: Context, messages: list[Message], k: int, max_tokens: int) -> int:
    """The largest max_tokens (up to ``max_tokens``) at which the budget admits k samples."""
    low, high = 0, max_tokens
    while low < high:
        mid = (low + high + 1) // 2
        if ctx.affordable(messages, k, mid) >= k:
            low = mid
        else:
            high = mid - 1
    return low


def _finish(shares: list[Allocation]) -> list[Allocation]:
    for share in shares:
        share.answer = majority_vote([c.answer for c in share.candidates]).answer
    return shares


class AllocateConfig(SamplingConfig):
    """``allocate`` as a batch strategy: its budget and the knobs of ``allocate``."""

    #: the batch's completion-token budget is this times the number of its problems
    tokens_per_problem: int = Field(ge=1)
    #: samples every problem gets first (one request each)
    initial: int = Field(2, ge=1, le=4096)
    #: samples per request in the later rounds
    step: int = Field(1, ge=1, le=4096)
    #: most samples one problem may get
    max_per_problem: int = Field(16, ge=1, le=4096)
    #: a problem whose leader is the majority with this probability gets no more samples
    settled: float = Field(0.8, gt=0.0, le=1.0)
    #: a sample may run to this times the median length of its problem's (or, before it has
    #: three, its batch's) finished samples; 0 turns the cut off
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


class Allocate(BatchStrategy):
    """One budget over a batch of problems, spent where the votes are least settled."""

    name = "allocate"
    Config = AllocateConfig

    @property
    def _config(self) -> AllocateConfig:
        assert isinstance(self.config, AllocateConfig)
        return self.config

    def budget(self, problems: int) -> Budget:
        return Budget(completion_tokens=self._config.tokens_per_problem * problems)

    def check(self, problems: int, label: str) -> None:
        """Refuse a batch whose budget cannot pay for even one problem's first request
        (reservations are worst case: initial x max_tokens)."""
        config = self._config
        budget = config.tokens_per_problem * problems
        first = config.initial * config.max_tokens
        if budget < first:
            raise ConfigError(
                f"{label} gets a budget of {budget} completion tokens "
                f"({config.tokens_per_problem} x {problems} problems), less than one "
                f"problem's first request may generate (initial={config.initial} x max_tokens="
                f"{config.max_tokens} = {first}); raise tokens_per_problem or lower initial or "
                "max_tokens"
            )

    async def solve_batch(
        self, problems: Sequence[Problem], ctx: Context, *, seed_of: Callable[[Problem], int]
    ) -> list[Result]:
        config = self._config
        sampling = SamplingConfig.model_validate(
            config.model_dump(include=set(SamplingConfig.model_fields))
        )
        fixed = config.seed
        seeded = seed_of if fixed is None else (lambda _: fixed)
        start = time.perf_counter()
        shares = await allocate(
            problems,
            ctx,
            sampling=sampling,
            initial=config.initial,
            step=config.step,
            max_per_problem=config.max_per_problem,
            settled=config.settled,
            straggler=config.straggler,
            seed_of=seeded,
        )
        spent = ctx.ledger.total()
        batch = {
            "problems": len(problems),
            "budget_completion_tokens": ctx.budget.completion_tokens,
            "completion_tokens": spent.completion_tokens,
            "prompt_tokens": spent.prompt_tokens,
            "wall_seconds": round(time.perf_counter() - start, 4),
            "samples_per_problem": [len(s.candidates) for s in shares],
            "stragglers_cut": sum(s.cut for s in shares),
        }
        return [self._result(share, batch) for share in shares]

    def _result(self, share: Allocation, batch: dict[str, Any]) -> Result:
        candidates = tuple(share.candidates)
        details: dict[str, Any] = {"allocation": share.as_dict(), "batch": batch}
        answer, text = None, ""  # the budget ran out before this problem's first request
        if candidates:
            vote = majority_vote([c.answer for c in candidates])
            outcome = outcome_of(vote, candidates, details)
            answer, text, details = outcome.answer, outcome.text, outcome.details
        return Result(
            strategy=self.name,
            answer=answer,
            text=text,
            candidates=candidates,
            usage=share.usage,
            ledger=share.ledger.as_dict(),
            details=details,
        )
