"""``best_of_n``: sample n solutions, score each with a verifier, return the best.

The classic verifier-guided selection (Cobbe et al., "Training Verifiers to Solve Math Word
Problems", arXiv 2110.14168; Lightman et al., "Let's Verify Step by Step", arXiv 2305.20050,
with a process reward model). Any registered scorer works: ``judge`` (the model, or another,
asked whether each is correct), ``confidence``, ``reward_model``, ``tests``, ``python``. The n
samples are one request, and the n scoring calls are issued together, so the backend batches
both. A candidate whose score failed cannot win; when every score failed the run fails with
the scorer's reasons (``VerifierError``). Ties go to the earliest sample.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Problem
from ponder.core.trust import component
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, sample_candidates
from ponder.strategies.base import Outcome, Strategy
from ponder.strategies.selection import (
    best_index,
    build_scorer,
    require_some,
    score_candidates,
    score_details,
)


class BestOfNConfig(SamplingConfig):
    n: int = Field(8, ge=1, le=4096)
    #: the verifier: a scorer name, ``name(key=value,...)``, an object, or a Scorer
    scorer: Any = component("judge", "scorer")


class BestOfN(Strategy):
    """Highest-scoring of n samples."""

    name = "best_of_n"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = BestOfNConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        config = self.config
        assert isinstance(config, BestOfNConfig)
        self.scorer = build_scorer(config.scorer, what=f"strategy {self.name!r}")

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, BestOfNConfig)
        self.scorer.check(ctx)
        candidates = await sample_candidates(
            problem, ctx, config, config.n, **self.scorer.sampling_options()
        )
        scores = await score_candidates(self.scorer, problem, candidates, ctx)
        require_some(self.scorer, scores)
        best = candidates[best_index(scores)]
        details = {"scorer": self.scorer.name, "chosen": best.index, **score_details(scores)}
        return Outcome(best.answer, best.text, tuple(candidates), details)
