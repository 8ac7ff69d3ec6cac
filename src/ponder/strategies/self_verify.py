"""``self_verify``: sample, scrutinize, then compare the closest contenders in pairs.

Zhao et al. 2025, "Sample, Scrutinize and Scale: Effective Inference-Time Search by Scaling
Verification" (arXiv 2502.01839): sample n responses; score each by repeated
self-verification (the share of verification chains that accept it); among the responses
whose scores are within a small margin of the best (the uncertain ones, where the scores
cannot decide), compare pairs directly, and take the one that wins the most comparisons.
Comparisons are spent only where scoring left doubt: the paper's finding is that pairwise
comparison localizes errors that pointwise scores miss, and that it is needed only among
near-ties.

Here:
- the pointwise step is any scorer (``scorer=``, by default ``gen_verify(m=2)``: two
  verification chains, role ``verify``); the pairwise step any comparator (``comparator=``,
  by default ``judge``), each pair compared ``k`` times with the order alternated to cancel
  position bias;
- **one representative per distinct answer** is scored and compared (its first sample):
  samples with the same answer would be verified into the same verdict on the answer, and
  the vote's counts break ties instead (deviation: the paper scores every response);
- the finalists are the answers scored within ``margin`` of the best, at most
  ``max_finalists`` (by score, then votes), compared round-robin; the most pairwise wins
  takes it, ties to the higher score, then the larger vote, then the earlier sample;
- when one answer is left (a unanimous vote, or a clear best score) nothing is compared;
  when no answer could be scored, the vote stands (said in the details).
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import component
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, sample_candidates
from ponder.scoring.answers import Vote, majority_vote
from ponder.scoring.scorers.base import Comparator, ScoreValue
from ponder.strategies.base import Outcome, Strategy, chosen_outcome, outcome_of
from ponder.strategies.selection import build_scorer, score_candidates


class SelfVerifyConfig(SamplingConfig):
    n: int = Field(8, ge=1, le=4096)
    #: the pointwise verifier that scores each distinct answer
    scorer: Any = component("gen_verify(m=2)", "scorer")
    #: the pairwise comparator for the near-ties
    comparator: Any = component("judge", "scorer")
    #: comparisons per pair (alternating the order)
    k: int = Field(2, ge=1, le=16)
    #: answers scored within this of the best are compared
    margin: float = Field(0.05, ge=0.0, le=1.0)
    max_finalists: int = Field(4, ge=2, le=16)


class SelfVerify(Strategy):
    """Scores settle what they can; pairwise comparisons settle the near-ties."""

    name = "self_verify"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = SelfVerifyConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        config = self._config
        what = f"strategy {self.name!r}"
        self.scorer = build_scorer(config.scorer, what=what)
        self.judge = build_scorer(config.comparator, what=what, pairwise=True)
        assert isinstance(self.judge, Comparator)
        self.comparator: Comparator = self.judge

    @property
    def _config(self) -> SelfVerifyConfig:
        assert isinstance(self.config, SelfVerifyConfig)
        return self.config

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        self.scorer.check(ctx)
        self.judge.check(ctx)
        candidates = await sample_candidates(
            problem, ctx, config, config.n, **self.scorer.sampling_options()
        )
        vote = majority_vote([c.answer for c in candidates])
        if len(vote.groups) < 2:
            why = "one answer (or none): nothing to verify"
            return outcome_of(vote, candidates, {"why": why, "compared": 0})
        heads = [candidates[g.members[0]] for g in vote.groups]
        scores = await score_candidates(self.scorer, problem, heads, ctx)
        details: dict[str, Any] = {
            "scorer": self.scorer.name,
            "scores": {g.answer: s.as_dict() for g, s in zip(vote.groups, scores, strict=True)},
        }
        scored = [i for i, s in enumerate(scores) if s.value is not None]
        if not scored:
            details.update(why="no answer could be scored: the vote stands", compared=0)
            return outcome_of(vote, candidates, details)
        finalists = self._finalists(vote, scores, scored)
        details["finalists"] = [vote.groups[i].answer for i in finalists]
        if len(finalists) == 1:
            details.update(why="one answer scored clearly best", compared=0)
            return chosen_outcome(vote, candidates, heads[finalists[0]], details)
        wins, record = await self._round_robin(problem, ctx, [heads[i] for i in finalists])
        details.update(comparisons=record, compared=len(record))

        def rank(j: int) -> tuple[float, float, int, int]:
            i = finalists[j]
            return (wins[j], scores[i].value or 0.0, vote.groups[i].votes, -heads[i].index)

        best = max(range(len(finalists)), key=rank)
        details["wins"] = {vote.groups[i].answer: wins[j] for j, i in enumerate(finalists)}
        details["why"] = f"{len(finalists)} answers within {config.margin} of the best score"
        return chosen_outcome(vote, candidates, heads[finalists[best]], details)

    def _finalists(self, vote: Vote, scores: list[ScoreValue], scored: list[int]) -> list[int]:
        config = self._config
        top = max(scores[i].value or 0.0 for i in scored)
        near = [i for i in scored if (scores[i].value or 0.0) >= top - config.margin]
        near.sort(key=lambda i: (-(scores[i].value or 0.0), -vote.groups[i].votes, i))
        return near[: config.max_finalists]

    async def _round_robin(
        self, problem: Problem, ctx: Context, heads: list[Candidate]
    ) -> tuple[list[float], list[dict[str, Any]]]:
        k = self._config.k
        pairs = list(itertools.combinations(range(len(heads)), 2))
        ordered = [
            (heads[a], heads[b]) if j % 2 == 0 else (heads[b], heads[a])
            for a, b in pairs
            for j in range(k)
        ]
        verdicts = await self.comparator.compare(problem, ordered, ctx)
        if len(verdicts) != len(ordered):
            raise ValueError("the comparator returned a different number of verdicts")
        wins = [0.0] * len(heads)
        record = []
        for (a, b), start in zip(pairs, range(0, len(ordered), k), strict=True):
            for j, verdict in enumerate(verdicts[start : start + k]):
                first, second = (a, b) if j % 2 == 0 else (b, a)
                if verdict.winner is not None:
                    wins[(first, second)[verdict.winner]] += 1
                record.append(
                    {"pair": [heads[first].index, heads[second].index], **verdict.as_dict()}
                )
        return wins, record


__all__ = ["SelfVerify"]
