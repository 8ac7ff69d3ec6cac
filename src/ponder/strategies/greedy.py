"""``greedy``: one sample at temperature 0, the baseline every test-time method must beat."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ponder.core.problem import Problem
from ponder.runtime import Context
from ponder.runtime.reader import read_with_model
from ponder.runtime.sampling import (
    ReplyConfig,
    StrategyConfig,
    candidate_from,
    reads_own_reply,
)
from ponder.strategies.base import Outcome, Strategy


class GreedyConfig(ReplyConfig):
    #: return each token's log-probability (and the ``top_logprobs`` most likely
    #: alternatives) on the candidate, where the backend offers them
    logprobs: bool = False
    top_logprobs: int = Field(0, ge=0, le=20)


class Greedy(Strategy):
    """Greedy decoding: the most likely token at every step, once."""

    name = "greedy"
    Config: ClassVar[type[StrategyConfig]] = GreedyConfig

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, GreedyConfig)
        result = await ctx.sample(
            problem.messages(),
            n=1,
            temperature=0.0,
            max_tokens=config.max_tokens,
            stop=config.stop,
            logprobs=config.logprobs or config.top_logprobs > 0,
            top_logprobs=config.top_logprobs,
            loop_repeats=config.loop_repeats,
            loop_template=config.loop_template,
            answer=True,
            retain=reads_own_reply(config) and ctx.model().capabilities.continuation,
            retain_ended=True,
        )
        candidate = candidate_from(
            result.completions[0], spec=problem.answer, keep_cut_off=config.keep_cut_off
        )
        (candidate,) = await read_with_model(
            problem,
            ctx,
            [candidate],
            reader=config.reader,
            tokens=config.reader_tokens,
            keep_cut_off=config.keep_cut_off,
            model=config.reader_model,
        )
        return Outcome(candidate.answer, candidate.text, (candidate,))
