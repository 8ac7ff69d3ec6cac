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
whole task this way with ``--strategy allocate:tokens_per_problem=N,...``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ponder.answers import group_answers, majority_vote
from ponder.backends.base import Backend
from ponder.errors import ConfigError
from ponder.runtime import Budget, Context
from ponder.strategies.base import Candidate, Problem, SamplingConfig, draw_candidates
from ponder.strategies.early_stopping import majority_probability
from ponder.strategies.pool import straggler_error, straggler_limit
from ponder.types import Message, Usage


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

    @property
    def tokens(self) -> int:
        return sum(c.completion_tokens for c in self.candidates)

    def add(
        self, drawn: list[Candidate], usage: Usage, ctx: Context, *, short: bool, cut: bool
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
        self.usage = self.usage + usage
        self.requests += 1
        counts = sorted(
            (len(g) for g in group_answers([c.answer for c in self.candidates])), reverse=True
        )
        self.settledness = majority_probability(counts, "beta")

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
        drawn, usage = await draw_candidates(
            share.problem,
            ctx,
            sampling,
            k,
            first_index=len(share.candidates),
            seed_offset=len(share.candidates),
        )
        short = max_tokens < config.max_tokens  # lowered to the straggler limit or budget
        share.add(drawn, usage, ctx, short=short, cut=short and max_tokens == limit)

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
