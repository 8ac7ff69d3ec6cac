"""``self_consistency``: sample n reasoning paths, extract each answer, take the majority.

Paper: Wang et al., "Self-Consistency Improves Chain of Thought Reasoning in Language Models"
(arXiv 2203.11171). Answers are compared by equivalence, not string identity: mathematical
answers through ``math-verify``, others by normalised text (``ponder.scoring.answers``).
Ties go to the tied answer that appeared first (lowest sample index); samples with no answer
do not vote. All n samples are one request, so the backend prefills the prompt once and
decodes the n samples in one batch.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ponder.core.problem import Problem
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, sample_candidates
from ponder.scoring.answers import majority_vote
from ponder.strategies.base import Outcome, Strategy, outcome_of


class SelfConsistencyConfig(SamplingConfig):
    n: int = Field(8, ge=1, le=4096)


class SelfConsistency(Strategy):
    """Majority vote over n sampled answers."""

    name = "self_consistency"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = SelfConsistencyConfig
    pool_estimate = "majority"

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, SelfConsistencyConfig)
        candidates = await sample_candidates(problem, ctx, config, config.n)
        vote = majority_vote([c.answer for c in candidates])
        return outcome_of(vote, candidates, {"n": config.n})
