"""``first_finish``: launch n samples together, keep the first to finish, cancel the rest.

Agarwal et al., "First Finish Search: Efficient Test-Time Scaling in Large Language Models"
(arXiv 2505.18149): shorter traces are more often right, and the first trace to finish is the
shortest, so waiting for it costs the wall time of one short sample while the n-sample batch
explores. With ``k`` > 1 it waits for the first k and takes their majority (ties to the one
that finished first). The n samples are one request (one prefill, one batch); once the k-th
finishes, the rest are cancelled in the backend and their tokens so far are listed.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from ponder.core.problem import Problem
from ponder.runtime import Context
from ponder.runtime.pool import TracePool, require_affordable, savings
from ponder.runtime.sampling import SamplingConfig
from ponder.runtime.stopping import run_until
from ponder.scoring.answers import majority_vote
from ponder.strategies.base import Outcome, Strategy, vote_details


class FirstFinishConfig(SamplingConfig):
    n: int = Field(8, ge=1, le=4096)
    #: finished samples to wait for (1: the first; more: vote among the first k)
    k: int = Field(1, ge=1, le=4096)

    @model_validator(mode="after")
    def _k_fits(self) -> FirstFinishConfig:
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) is larger than n ({self.n})")
        return self


class FirstFinish(Strategy):
    """The first of n parallel samples to finish (or the vote of the first k)."""

    name = "first_finish"
    not_composable_because = (
        "stops samples early while they stream, and a sequential sampler's candidate is "
        "several calls it cannot cut"
    )
    Config: ClassVar[type[SamplingConfig]] = FirstFinishConfig
    requires = ("streaming",)

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, FirstFinishConfig)
        require_affordable(ctx, problem, config.n, config.max_tokens, "n")
        pool = TracePool(ctx, problem, config)
        pool.launch(config.n)
        stopped = await run_until(
            pool, lambda _, done: "first k" if len(done) >= config.k else None
        )
        first = stopped.finished
        candidates = pool.candidates()
        chosen = [candidates[t.index] for t in first]
        vote = majority_vote([c.answer for c in chosen])
        winner = chosen[vote.winner.members[0]] if vote.winner else (chosen[0] if chosen else None)
        details = {
            "finish_order": [t.index for t in first],
            # members as candidate indices (the vote ran over the first k, in finish order)
            "votes": [
                {**group, "members": [first[m].index for m in group["members"]]}
                for group in vote_details(vote)
            ],
            "savings": savings(ctx, pool, config.n),
        }
        text = winner.text if winner else ""
        answer = vote.answer if vote.winner else (winner.answer if winner else None)
        return Outcome(answer, text, tuple(candidates), details)
