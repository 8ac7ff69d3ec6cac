"""Votes that weigh each sample: ``weighted_self_consistency`` and ``shortest_majority``.

``weighted_self_consistency`` groups equivalent answers like ``self_consistency`` but sums a
weight per sample instead of counting:

- ``weighting=score`` (default): the weight is a scorer's value (``confidence`` by default:
  DeepConf's lowest group confidence; or ``judge``, ``reward_model``, ...), the weighted
  majority vote of the verifier literature (e.g. Li et al., "Making Language Models Better
  Reasoners with Step-Aware Verifier", arXiv 2206.02336). A sample whose score failed does not
  vote; it is recorded.
- ``weighting=probability``: the perplexity-consistency vote of Zhou et al., "A Theoretical
  Study on Bridging Internal Probability and Self-Consistency for LLM Reasoning" (RPC,
  arXiv 2502.00511): an answer's weight is the summed model probability of the *distinct*
  reasoning paths that reach it (a path sampled twice counts once). Probabilities are the
  samples' own length-normalised likelihoods (exp of the mean token logprob), so that long and
  short paths are comparable. Deviation: RPC's second half, pruning low-probability paths with
  a fitted Weibull mixture, is not implemented.

``shortest_majority`` is the Shortest Majority Vote of Zeng et al., "Revisiting the Test-Time
Scaling of o1-like Models" (arXiv 2502.12215): correct chains are often shorter than wrong
ones, so an answer's vote is its count divided by the mean length (in tokens) of the chains
that reach it: among equally frequent answers the shorter chains win, and a frequent answer
loses to a less frequent one only when its chains are proportionally longer.

In every case the answer with the largest total weight wins; ties go to the answer that
appeared first. Samples without an answer do not vote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import component
from ponder.errors import ConfigError, VerifierError
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, sample_candidates
from ponder.scoring.answers import Vote, VoteGroup, group_answers, majority_vote
from ponder.scoring.scorers.base import Scorer
from ponder.strategies.base import Outcome, Strategy, outcome_of
from ponder.strategies.selection import build_scorer, score_candidates, score_details


class WeightedConfig(SamplingConfig):
    n: int = Field(8, ge=1, le=4096)
    weighting: Literal["score", "probability"] = "score"
    #: the scorer whose values weigh the votes (weighting=score); default: confidence
    scorer: Any = component(None, "scorer")


class WeightedSelfConsistency(Strategy):
    """Majority vote with a weight per sample (a verifier's score or the path probability)."""

    name = "weighted_self_consistency"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = WeightedConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        config = self._config
        self.scorer: Scorer | None = None
        if config.weighting == "probability":
            if config.scorer is not None:
                raise ConfigError(
                    "weighting=probability weighs votes by the samples' own probabilities; "
                    "drop the scorer option, or use weighting=score"
                )
        else:
            self.scorer = build_scorer(config.scorer or "confidence", what=self.name)

    @property
    def _config(self) -> WeightedConfig:
        assert isinstance(self.config, WeightedConfig)
        return self.config

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        if self.scorer is None:
            ctx.backend.require(["logprobs"], what=f"{self.name} with weighting=probability")
            extra: dict[str, Any] = {"logprobs": True}
        else:
            self.scorer.check(ctx)
            extra = self.scorer.sampling_options()
        candidates = await sample_candidates(problem, ctx, config, config.n, **extra)
        answers = [c.answer for c in candidates]
        details: dict[str, Any] = {"weighting": config.weighting, "n": config.n}
        if self.scorer is None:
            weights = path_probabilities(candidates)
        else:
            scores = await score_candidates(self.scorer, problem, candidates, ctx)
            details.update(scorer=self.scorer.name, **score_details(scores))
            answered = [s for s, a in zip(scores, answers, strict=True) if a is not None]
            if answered and not any(s.ok for s in answered):
                raise VerifierError(
                    f"scorer {self.scorer.name!r} could not score any answered sample: "
                    + "; ".join(sorted({s.error or "" for s in answered})[:3])
                )
            answers = [a if s.ok else None for a, s in zip(answers, scores, strict=True)]
            weights = [s.value if s.value is not None else 0.0 for s in scores]
        vote = majority_vote(answers, weights)
        return outcome_of(vote, candidates, details)


def path_probabilities(candidates: Sequence[Candidate]) -> list[float]:
    """Each distinct path's length-normalised probability; repeats of a text weigh 0."""
    seen: set[str] = set()
    weights = []
    for c in candidates:
        if c.text in seen or not c.logprobs:
            weights.append(0.0)
            continue
        seen.add(c.text)
        weights.append(math.exp(sum(p.logprob for p in c.logprobs) / len(c.logprobs)))
    return weights


class ShortestMajorityConfig(SamplingConfig):
    n: int = Field(8, ge=1, le=4096)


class ShortestMajority(Strategy):
    """Vote by count over mean chain length: favours answers reached by shorter chains."""

    name = "shortest_majority"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = ShortestMajorityConfig

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, ShortestMajorityConfig)
        candidates = await sample_candidates(problem, ctx, config, config.n)
        vote = shortest_majority_vote(candidates)
        return outcome_of(vote, candidates, {"n": config.n})


def shortest_majority_vote(candidates: Sequence[Candidate]) -> Vote:
    groups = []
    for members in group_answers([c.answer for c in candidates]):
        mean_length = sum(max(1, candidates[i].completion_tokens) for i in members) / len(members)
        answer = candidates[members[0]].answer
        assert answer is not None
        groups.append(VoteGroup(answer, tuple(members), len(members) / mean_length))
    groups.sort(key=lambda g: (-g.weight, g.members[0]))
    return Vote(tuple(groups))
