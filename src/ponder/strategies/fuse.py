"""``fuse``: a vote whose close calls are settled by merging the leading answers' reasoning.

After the merge-revision step of CSC-SQL (Sheng and Xu 2025, "CSC-SQL: Corrective
Self-Consistency in Text-to-SQL via Reinforcement Learning") and Archon's fuser (Saad-Falcon et
al. 2024): sample ``n`` candidates and vote (as ``self_consistency``); when the vote is split,
show the model the ``top_k`` answer groups, each with one representative solution and its
share of the votes, and ask it to write one revised solution that settles them (role
``aggregate``). The fused reply's answer is the result; if it gives none, the vote's winner
stands (said in the details).

- ``when=split`` (the default) fuses only when the winner's share of the answered votes is
  below ``threshold`` or two groups tie; ``when=always`` fuses every vote with at least two
  groups. A unanimous vote is never fused: there is nothing to merge.
- It draws its candidates through ``draw_candidates``, so ``sampler=`` makes each candidate
  with a sequential strategy (budget forcing, think-twice) as ``self_consistency`` does.

Deviations, on purpose: CSC-SQL merges the top two SQL candidates with a model trained for
it, and checks them by execution; here any model is prompted, ``top_k`` groups (2 by
default) are merged, and the revised answer is read like any reply. Archon fuses every
query; ``when=split`` spends the merge only where the vote leaves doubt.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ponder.core.problem import Problem
from ponder.core.trust import fill, operator_only
from ponder.core.types import Message
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, call_options, candidate_from, sample_candidates
from ponder.scoring.answers import Vote, majority_vote
from ponder.strategies.base import (
    Outcome,
    Strategy,
    chars_around,
    clipped,
    outcome_of,
    shown_chars,
    vote_details,
)

AGGREGATE = "aggregate"

MERGE = (
    "{question}\n\nSeveral attempts at this problem disagree. The leading answers, each with "
    "one attempt's reasoning and its share of the attempts:\n\n{attempts}\n\n"
    "Check where they differ, decide which reasoning is right (or correct them all), and "
    "write one complete solution."
)


class FuseConfig(SamplingConfig):
    n: int = Field(8, ge=2, le=4096)
    #: the answer groups shown to the merge step
    top_k: int = Field(2, ge=2, le=16)
    when: Literal["split", "always"] = "split"
    #: with when=split, fuse when the winner's share of the answered votes is below this
    threshold: float = Field(0.75, gt=0.0, le=1.0)
    #: the most characters of each representative's reasoning shown (its end is kept; fewer
    #: where the model's context could not hold the prompt: ``base.shown_chars``)
    max_solution_chars: int = Field(3000, ge=100)
    #: the merge step's prompt: ``{question}`` and ``{attempts}`` (the operator's to set)
    merge_prompt: str = operator_only(MERGE, "a prompt template")


class Fuse(Strategy):
    """Self-consistency, with split votes merged into one revised solution."""

    name = "fuse"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = FuseConfig

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, FuseConfig)
        candidates = await sample_candidates(problem, ctx, config, config.n)
        vote = majority_vote([c.answer for c in candidates])
        split, why = self._split(vote)
        details: dict[str, Any] = {"n": config.n, "fused": False, "why": why}
        if not split:
            return outcome_of(vote, candidates, details)
        groups = vote.groups[: config.top_k]
        answered = sum(g.votes for g in vote.groups)
        around = chars_around(problem, config.merge_prompt, len(groups), heading=40)
        limit = shown_chars(
            ctx, ["default"], config.max_solution_chars, len(groups), around, config.max_tokens
        )
        attempts = "\n\n".join(
            f"Answer {g.answer} ({g.votes} of {answered} attempts):\n"
            f"{clipped(candidates[g.members[0]].text, limit)}"
            for g in groups
        )
        ask = fill(config.merge_prompt, question=problem.question, attempts=attempts)
        result = await ctx.sample(
            [*problem.preamble(), Message("user", ask)],
            role=AGGREGATE,
            **call_options(config, 1, n=1),
        )
        fused = candidate_from(
            result.completions[0],
            index=len(candidates),
            spec=problem.answer,
            keep_cut_off=config.keep_cut_off,
        )
        every = (*candidates, fused)
        details.update(fused=True, merged=vote_details(Vote(tuple(groups))))
        if fused.answer is None:
            details["fused_answer"] = None
            details["why"] += "; the merge gave no answer, so the vote's winner stands"
            outcome = outcome_of(vote, candidates, details)
            return Outcome(outcome.answer, outcome.text, every, outcome.details)
        details["fused_answer"] = fused.answer
        details["votes"] = vote_details(vote)
        details["abstained"] = sum(c.answer is None for c in candidates)
        return Outcome(fused.answer, fused.text, every, details)

    def _split(self, vote: Vote) -> tuple[bool, str]:
        config = self.config
        assert isinstance(config, FuseConfig)
        groups = vote.groups
        if len(groups) < 2:
            return False, "the vote is unanimous (or nothing was answered): nothing to merge"
        if config.when == "always":
            return True, f"when=always: {len(groups)} answer groups"
        answered = sum(g.votes for g in groups)
        share = groups[0].votes / answered
        if groups[0].votes == groups[1].votes:
            return True, f"the top two groups tie at {groups[0].votes} votes"
        if share < config.threshold:
            return True, f"the winner has {share:.0%} of the answered votes"
        return False, f"the winner has {share:.0%} of the answered votes: settled"


__all__ = ["AGGREGATE", "Fuse"]
