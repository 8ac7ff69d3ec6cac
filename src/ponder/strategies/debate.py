"""``debate``: agents answer, read each other's answers, and revise, for a few rounds.

Du et al. 2023, "Improving Factuality and Reasoning in Language Models through Multiagent
Debate" (arXiv 2305.14325): several agents answer a question independently; in each round,
every agent is shown the other agents' latest responses and asked for an updated answer; the
final answer is the majority of the last round. Agents are Context models named in ``agents``
(a name may repeat: three samples of one model are three agents, as in the paper's own runs;
``agents=[default,gemma,qwen]`` is a cross-family debate).

- Round 0 draws through ``draw_candidates`` (role ``propose``), so ``sampler=`` makes each
  first answer with a sequential strategy; each later round is one call per agent (role
  ``debate``).
- **Early stop**: when every agent gives the same answer, no further round is spent (the
  details say after which round). Later studies of debate (e.g. "Debate or Vote", Choi et al.
  2025) find most of its gain is the vote; the early stop keeps a settled debate at a vote's
  cost.
- ``final=vote`` (the paper's) takes the last round's majority; ``final=judge`` has the
  ``judge`` model read the last round's responses and write the final answer (role
  ``aggregate``), falling back to the vote when the judge gives none.

Deviations, on purpose: the paper keeps each agent's whole conversation, so prompts grow with
every round; here an agent's turn holds the question, its own latest response and the others'
latest responses (each clipped to its last ``max_reference_chars`` characters, fewer where
the agent's context could not hold them: ``base.shown_chars``), so a round's prompt stays the
same size however many rounds run. And an agent whose latest reply gives no
answer (cut off at max_tokens, or nothing read) keeps its latest answer in the final vote:
the paper's agents always answer, small models often do not once they read the others (on
basic_arithmetic a cross-family debate lost problems its first round had right, as the
agents' later replies stopped stating an answer and the last round voted on what was left).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import fill, model_names, operator_only
from ponder.core.types import Message
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, call_options, candidate_from
from ponder.scoring.answers import majority_vote
from ponder.strategies.base import (
    Outcome,
    Strategy,
    chars_around,
    clipped,
    message_chars,
    outcome_of,
    require_models,
    shown_chars,
    vote_details,
)
from ponder.strategies.fuse import AGGREGATE
from ponder.strategies.moa import PROPOSE, as_read, first_answers

DEBATE = "debate"

UPDATE = (
    "These are the latest responses of other agents to the problem:\n\n{responses}\n\n"
    "Using their reasoning as additional advice, and checking it, give an updated solution "
    "to the problem, ending with your answer."
)
JUDGE = (
    "{question}\n\nSeveral agents debated this problem. Their final responses:\n\n"
    "{responses}\n\nDecide which reasoning is right and write one complete solution, ending "
    "with the answer."
)


class DebateConfig(SamplingConfig):
    #: the Context models that debate (a name may repeat)
    agents: list[str] = model_names(
        default_factory=lambda: ["default", "default", "default"], min_length=2, max_length=16
    )
    #: rounds of reading and revising after the first answers
    rounds: int = Field(2, ge=1, le=8)
    #: how the last round becomes one answer
    final: Literal["vote", "judge"] = "vote"
    #: the Context model that judges, with final=judge
    judge: str = model_names(default="default", min_length=1)
    #: stop once every agent gives the same answer
    early_stop: bool = True
    #: the most characters of each response shown to the others (its end is kept)
    max_reference_chars: int = Field(1500, ge=100)
    #: the revising turn: ``{responses}`` (the operator's to set)
    update_prompt: str = operator_only(UPDATE, "a prompt template")
    #: the judge's prompt: ``{question}`` and ``{responses}`` (the operator's to set)
    judge_prompt: str = operator_only(JUDGE, "a prompt template")


class Debate(Strategy):
    """Multi-agent debate: independent answers, rounds of revision, a vote or a judge."""

    name = "debate"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = DebateConfig

    @property
    def _config(self) -> DebateConfig:
        assert isinstance(self.config, DebateConfig)
        return self.config

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        require_models(ctx, [*config.agents, config.judge])
        latest = await first_answers(problem, ctx, config, config.agents, PROPOSE)
        every = list(latest)
        rounds = [_round(latest)]
        stopped = None
        standing = list(latest)  # each agent's latest reply that gave an answer
        for r in range(1, config.rounds + 1):
            if config.early_stop and _agreed(latest):
                stopped = r - 1
                break
            latest = await self._revise(problem, ctx, latest, r, len(every))
            every += latest
            rounds.append(_round(latest))
            standing = [
                new if new.answer is not None or old.answer is None else old
                for old, new in zip(standing, latest, strict=True)
            ]
        details: dict[str, Any] = {"rounds": rounds, "agents": list(config.agents)}
        details["stopped_early_after"] = stopped
        kept = [i for i, (a, b) in enumerate(zip(standing, latest, strict=True)) if a is not b]
        if kept:
            details["kept_earlier_answer"] = kept  # agents whose last reply gave none
        latest = standing
        vote = majority_vote([c.answer for c in latest])
        if config.final == "judge" and len(vote.groups) > 1:
            judged = await self._judge(problem, ctx, latest, len(every))
            every.append(judged)
            if judged.answer is not None:
                details.update(judged=True, votes=vote_details(vote))
                details["abstained"] = sum(c.answer is None for c in every)
                return Outcome(judged.answer, judged.text, tuple(every), details)
            details["why"] = f"the judge gave no answer ({judged.abstained}); the vote stands"
        outcome = outcome_of(vote, latest, details)
        return Outcome(outcome.answer, outcome.text, tuple(every), outcome.details)

    async def _revise(
        self, problem: Problem, ctx: Context, latest: list[Candidate], r: int, start: int
    ) -> list[Candidate]:
        config = self._config

        def turn(i: int) -> list[Message]:
            others = [c for j, c in enumerate(latest) if j != i]
            mine = latest[i].text
            # the agent's own reply is shown whole: its tokens are known, the rest is text
            around = message_chars(problem.messages()) + len(config.update_prompt)
            around += 20 * len(others)  # each response's heading
            limit = shown_chars(
                ctx,
                [config.agents[i]],
                config.max_reference_chars,
                len(others),
                around,
                config.max_tokens + latest[i].completion_tokens,
            )
            ask = fill(config.update_prompt, responses=self._shown(others, limit))
            return [*problem.messages(), Message("assistant", mine), Message("user", ask)]

        results = await asyncio.gather(
            *(
                ctx.sample(
                    turn(i),
                    role=DEBATE,
                    model=model,
                    **call_options(config, 100 * r + i, n=1),
                )
                for i, model in enumerate(config.agents)
            )
        )
        revised = [
            candidate_from(
                result.completions[0],
                index=start + i,
                model=model,
                spec=problem.answer,
                keep_cut_off=config.keep_cut_off,
            )
            for i, (model, result) in enumerate(zip(config.agents, results, strict=True))
        ]
        return await as_read(problem, revised)

    async def _judge(
        self, problem: Problem, ctx: Context, latest: list[Candidate], index: int
    ) -> Candidate:
        config = self._config
        around = chars_around(problem, config.judge_prompt, len(latest))
        limit = shown_chars(
            ctx, [config.judge], config.max_reference_chars, len(latest), around, config.max_tokens
        )
        ask = fill(
            config.judge_prompt, question=problem.question, responses=self._shown(latest, limit)
        )
        result = await ctx.sample(
            [*problem.preamble(), Message("user", ask)],
            role=AGGREGATE,
            model=config.judge,
            response_format=ctx.response_format,
            **call_options(config, 999, n=1, temperature=0.0),
        )
        judged = candidate_from(
            result.completions[0],
            index=index,
            model=config.judge,
            spec=problem.answer,
            keep_cut_off=config.keep_cut_off,
        )
        return (await as_read(problem, [judged]))[0]

    def _shown(self, responses: list[Candidate], limit: int) -> str:
        return "\n\n".join(
            f"Agent {i + 1}:\n{clipped(c.text, limit)}" for i, c in enumerate(responses)
        )


def _agreed(latest: list[Candidate]) -> bool:
    """Every agent answered, and the answers are one (as the vote groups them)."""
    vote = majority_vote([c.answer for c in latest])
    return len(vote.groups) == 1 and all(c.answer is not None for c in latest)


def _round(latest: list[Candidate]) -> dict[str, Any]:
    return {
        "answers": [c.answer for c in latest],
        "votes": vote_details(majority_vote([c.answer for c in latest])),
    }


__all__ = ["DEBATE", "Debate"]
