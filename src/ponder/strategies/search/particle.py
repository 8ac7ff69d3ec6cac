"""``particle_filter``: particle-based Monte Carlo over reasoning steps.

Puri et al., "A Probabilistic Inference Approach to Inference-Time Scaling of LLMs using
Particle-Based Monte Carlo Methods" (arXiv 2502.01618), as its_hub implements it: n particles
are extended a step at a time; each is weighted by its step score, the weights are a softmax
of the scores over ``weight_temperature``, and n particles are drawn again from them
(multinomial resampling, seeded: the same seed gives the same tree). Particles drawn more
than once share their parent's request (one request of n=k), so on the embedded engine they
share its KV. Finished particles are kept and can be drawn again. The answer is the best
finished particle by score, or the majority of their answers (``final=vote``).

Deviation: a particle whose score failed gets weight zero (unless every score failed, when
the draw is uniform), rather than a made-up score.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Problem
from ponder.errors import BudgetExhausted
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig
from ponder.strategies.base import Outcome, Strategy
from ponder.strategies.search.tree import (
    Node,
    SearchConfig,
    StepSearch,
    first_round,
    search_scorer,
)


class ParticleConfig(SearchConfig):
    #: particles
    n: int = Field(8, ge=1, le=1024)
    #: softmax temperature of the weights: low follows the verifier closely, high explores
    weight_temperature: float = Field(1.0, gt=0.0)


class ParticleFilter(Strategy):
    """Extend, weigh by the step verifier, resample; repeat until every particle finished."""

    name = "particle_filter"
    Config: ClassVar[type[SamplingConfig]] = ParticleConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        assert isinstance(self.config, ParticleConfig)
        self.scorer = search_scorer(self.config.scorer, f"strategy {self.name!r}")

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, ParticleConfig)
        self.scorer.check(ctx)
        search = StepSearch(problem, ctx, config, self.scorer, frontier=config.n)
        rng = random.Random(config.seed if config.seed is not None else 0)
        try:
            particles = await search.expand([search.root], [config.n])
        except BudgetExhausted as exc:
            raise first_round(exc, f"strategy {self.name!r}") from exc
        await search.score(particles)
        rounds = 1
        while not all(p.finished for p in particles):
            drawn = rng.choices(particles, weights=softmax(particles, config), k=config.n)
            chosen = {p.id for p in drawn}
            for p in particles:
                if p.id not in chosen and not p.finished:
                    p.pruned = "not resampled"
            counts = Counter(p.id for p in drawn if not p.finished)
            parents = [search.nodes[i] for i in counts]
            try:
                children = await search.expand(parents, list(counts.values()))
            except BudgetExhausted as exc:
                search.notes.append(f"stopped after {rounds} rounds: {exc}")
                break
            rounds += 1
            await search.score(children)
            particles = [p for p in drawn if p.finished] + children
        return search.outcome({"n": config.n, "rounds": rounds})


def softmax(particles: list[Node], config: ParticleConfig) -> list[float]:
    """Resampling weights: softmax of the scores over the temperature; a failed score weighs
    nothing, unless all failed (then uniform)."""
    scores = [p.score for p in particles]
    real = [s for s in scores if s is not None]
    if not real:
        return [1.0] * len(particles)
    top = max(real)
    return [0.0 if s is None else math.exp((s - top) / config.weight_temperature) for s in scores]
