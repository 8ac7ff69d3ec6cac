"""``model_switch``: sample from one model; when its votes disagree, switch to the next.

Chen et al., "Do We Truly Need So Many Samples? Multi-LLM Repeated Sampling Efficiently
Scales Test-Time Compute" (ModelSwitch, arXiv 2504.00762): a model's answer consistency
predicts its accuracy, so sample n from the first model and stop if the share of samples
agreeing with its majority reaches ``threshold`` (the paper stops on unanimity, the default
1.0); otherwise sample n from the next model in ``models`` (Context model names), and so on.
The final answer is a vote across every sample drawn. With ``weighting=consistency`` (the
default) each model's samples weigh 1 - H/log(n), where H is the entropy of that model's
answer distribution, so a model that agreed with itself counts more, as in the paper's
weighted vote; ``weighting=none`` is the plain vote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import model_names
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, sample_candidates
from ponder.scoring.answers import group_answers, majority_vote
from ponder.strategies.base import Outcome, Strategy, outcome_of, require_models


class ModelSwitchConfig(SamplingConfig):
    #: samples per model
    n: int = Field(4, ge=1, le=4096)
    #: the Context models to try, in order
    models: list[str] = model_names(default_factory=lambda: ["default", "second"], min_length=1)
    #: stop once this share of a model's samples agree with its majority
    threshold: float = Field(1.0, gt=0.0, le=1.0)
    weighting: Literal["consistency", "none"] = "consistency"


class ModelSwitch(Strategy):
    """Repeated sampling across models, switching when a model disagrees with itself."""

    name = "model_switch"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = ModelSwitchConfig

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, ModelSwitchConfig)
        require_models(ctx, config.models)
        candidates: list[Candidate] = []
        weights: list[float] = []
        steps: list[dict[str, Any]] = []
        for model in config.models:
            drawn = await sample_candidates(
                problem, ctx, config, config.n, model=model, first_index=len(candidates)
            )
            share = consistency(drawn)
            weight = 1.0 - normalized_entropy(drawn) if config.weighting == "consistency" else 1.0
            candidates += drawn
            weights += [weight] * len(drawn)
            steps.append({"model": model, "consistency": share, "weight": weight})
            if share >= config.threshold:
                break
        answers = [c.answer for c in candidates]
        vote = majority_vote(answers, weights if any(weights) else None)
        details = {"models": steps, "switched": len(steps) - 1, "weighting": config.weighting}
        return outcome_of(vote, candidates, details)


def consistency(candidates: Sequence[Candidate]) -> float:
    """The share of samples that agree with the majority answer (abstentions disagree)."""
    groups = group_answers([c.answer for c in candidates])
    return max((len(g) for g in groups), default=0) / len(candidates)


def normalized_entropy(candidates: Sequence[Candidate]) -> float:
    """Entropy of the answer distribution over log(n), in [0, 1]; abstentions count as
    answers of their own (each distinct), so a model that answers nothing is not trusted."""
    n = len(candidates)
    if n <= 1:
        return 0.0
    sizes = [len(g) for g in group_answers([c.answer for c in candidates])]
    sizes += [1] * sum(c.answer is None for c in candidates)
    entropy = -sum((k / n) * math.log(k / n) for k in sizes)
    return entropy / math.log(n)
