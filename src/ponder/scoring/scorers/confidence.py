"""``confidence``: self-certainty read from a candidate's own token logprobs; no extra calls.

Metrics (``metric``):

- ``mean_logprob``: exp of the mean log-probability of the chosen tokens, the geometric mean
  token probability (a length-normalised sequence likelihood), in (0, 1];
- ``lowest_group``: DeepConf's lowest group confidence (Fu et al., "Deep Think with
  Confidence", arXiv 2508.15260). Token confidence is C_i = -(1/k) sum_j log P_i(j) over the
  k most likely tokens at position i; group confidence is the mean of C over a sliding window
  of ``window`` tokens; the trace's score is its lowest group. A trace shorter than the window
  is one group. The paper uses windows of 2048 tokens on traces of many thousands; the default
  here (64) suits traces of a few hundred tokens;
- ``tail``: DeepConf's tail confidence, the mean token confidence of the last ``window``
  tokens (where the answer is).

The candidates must have been sampled with logprobs (``sampling_options`` asks for them, and
the strategies that use a scorer pass that on); a candidate without them is a recorded
failure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.types import TokenLogprob
from ponder.scoring.scorers.base import Scorer, ScorerConfig, ScoreValue, ScoringContext


class ConfidenceConfig(ScorerConfig):
    metric: Literal["mean_logprob", "lowest_group", "tail"] = "lowest_group"
    window: int = Field(64, ge=1)
    #: k of the token confidence (alternatives asked of the backend per position)
    top_k: int = Field(20, ge=1, le=20)


class Confidence(Scorer):
    """Scores a candidate by how sure the model was while writing it."""

    name = "confidence"
    Config: ClassVar[type[ScorerConfig]] = ConfidenceConfig
    requires_of_generator = ("logprobs",)
    scores_partial = True

    @property
    def _config(self) -> ConfidenceConfig:
        assert isinstance(self.config, ConfidenceConfig)
        return self.config

    def sampling_options(self) -> dict[str, Any]:
        config = self._config
        if config.metric == "mean_logprob":
            return {"logprobs": True}
        return {"logprobs": True, "top_logprobs": config.top_k}

    async def score(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        return [self.score_one(c) for c in candidates]

    def score_one(self, candidate: Candidate) -> ScoreValue:
        config = self._config
        positions = candidate.logprobs
        if positions is None:
            return ScoreValue.failed(
                "the candidate was sampled without logprobs; sample with logprobs=True"
            )
        if not positions:
            return ScoreValue.failed("the candidate has no tokens to be confident about")
        if config.metric == "mean_logprob":
            mean = sum(p.logprob for p in positions) / len(positions)
            return ScoreValue(math.exp(mean), details={"mean_logprob": mean})
        confidences = [token_confidence(p) for p in positions]
        if config.metric == "tail":
            tail = confidences[-config.window :]
            return ScoreValue(sum(tail) / len(tail))
        return ScoreValue(lowest_group_confidence(confidences, config.window))


def token_confidence(position: TokenLogprob) -> float:
    """DeepConf's C_i: minus the mean logprob of the top-k alternatives (the chosen token's
    own logprob when the backend gave no alternatives). High when the model was sure."""
    logprobs = [lp for _, lp in position.top] or [position.logprob]
    return -sum(logprobs) / len(logprobs)


def group_confidences(confidences: Sequence[float], window: int) -> list[float]:
    """Means of every window of ``window`` consecutive token confidences (one group when
    the trace is shorter), by a running sum."""
    if not confidences:
        return []
    if len(confidences) <= window:
        return [sum(confidences) / len(confidences)]
    running = sum(confidences[:window])
    groups = [running / window]
    for i in range(window, len(confidences)):
        running += confidences[i] - confidences[i - window]
        groups.append(running / window)
    return groups


def lowest_group_confidence(confidences: Sequence[float], window: int) -> float:
    return min(group_confidences(confidences, window))
