"""``think_twice`` and ``self_refine``: think again, given what was thought before.

``think_twice`` is Think Twice (Tian et al., "Think Twice: Enhancing LLM Reasoning by Scaling
Multi-round Test-time Thinking", arXiv 2503.19855): up to ``rounds`` rounds; each round after
the first is given only the previous round's answer ("The assistant's previous answer is:
..., and please re-answer.") and answers afresh. It stops when two rounds in a row agree
(equivalent answers), and answers with the last round.

``self_refine`` is Self-Refine (Madaan et al., arXiv 2303.17651): draft, then up to
``rounds`` times: the model critiques its latest version, then revises it given the critique.
With ``scorer=`` it is Review-Refine-Repeat: every version is scored, the best one is kept,
and a round whose revision does not beat the best stops the loop. Critiques are charged to
the ledger under ``verify``, drafts and revisions under ``generate``.

Both work with any chat model; for a reasoning model, each reply's thought is kept apart
(``Candidate.reasoning``) and only the reply is carried into the next round.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import component, fill, operator_only
from ponder.core.types import Message
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, call_options, candidate_from
from ponder.scoring.answers import equivalent
from ponder.scoring.scorers.base import VERIFY, Scorer
from ponder.strategies.base import Outcome, Strategy
from ponder.strategies.selection import build_scorer
from ponder.strategies.thinking import sequential_outcome

RE_ANSWER = "{question}\n\nThe assistant's previous answer is: {answer}, and please re-answer."
CRITIQUE = (
    "Problem:\n{question}\n\nProposed solution:\n{solution}\n\n"
    "Review the proposed solution step by step. Point out every mistake you find; if it is "
    "correct, say so."
)
REVISE = (
    "{question}\n\nA previous attempt:\n{solution}\n\nFeedback on it:\n{feedback}\n\n"
    "Write an improved, complete solution."
)


class ThinkTwiceConfig(SamplingConfig):
    rounds: int = Field(2, ge=1, le=16)
    re_answer_prompt: str = operator_only(RE_ANSWER, "a prompt template")


class ThinkTwice(Strategy):
    """Re-answer given the previous answer, until two rounds agree."""

    name = "think_twice"
    Config: ClassVar[type[SamplingConfig]] = ThinkTwiceConfig
    sequential = True

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, ThinkTwiceConfig)
        rounds: list[Candidate] = []
        messages = problem.messages()
        agreed = False
        for r in range(config.rounds):
            result = await ctx.sample(messages, **call_options(config, r, n=1))
            candidate = candidate_from(
                result.completions[0],
                index=r,
                spec=problem.answer,
                keep_cut_off=config.keep_cut_off,
            )
            previous = rounds[-1] if rounds else None
            rounds.append(candidate)
            if (
                previous is not None
                and previous.answer is not None
                and candidate.answer is not None
                and equivalent(previous.answer, candidate.answer)
            ):
                agreed = True
                break
            answer = "(none given)" if candidate.answer is None else candidate.answer
            question = fill(config.re_answer_prompt, question=problem.question, answer=answer)
            messages = [*problem.preamble(), Message("user", question)]
        return sequential_outcome(rounds[-1], rounds, {"rounds": len(rounds), "agreed": agreed})


class SelfRefineConfig(SamplingConfig):
    rounds: int = Field(2, ge=1, le=16)
    #: keep the best version by this scorer, and stop when a revision does not improve it
    scorer: Any = component(None, "scorer")
    critique_prompt: str = operator_only(CRITIQUE, "a prompt template")
    revise_prompt: str = operator_only(REVISE, "a prompt template")


class SelfRefine(Strategy):
    """Draft, critique, revise; with a scorer, keep the best and stop when it stops improving."""

    name = "self_refine"
    Config: ClassVar[type[SamplingConfig]] = SelfRefineConfig
    sequential = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        assert isinstance(self.config, SelfRefineConfig)
        spec = self.config.scorer
        self.scorer: Scorer | None = (
            None if spec is None else build_scorer(spec, what=f"strategy {self.name!r}")
        )

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, SelfRefineConfig)
        if self.scorer is not None:
            self.scorer.check(ctx)
        calls = 0

        async def ask(prompt: list[Message] | str, role: str = "generate") -> Candidate:
            nonlocal calls
            result = await ctx.sample(prompt, role=role, **call_options(config, calls, n=1))
            calls += 1
            return candidate_from(
                result.completions[0],
                index=calls - 1,
                spec=problem.answer,
                keep_cut_off=config.keep_cut_off,
            )

        versions = [await ask(problem.messages())]
        scores = [await self._score(problem, versions[0], ctx)]
        critiques: list[str] = []
        best = 0
        stopped = "rounds"
        for _ in range(config.rounds):
            latest = versions[-1]
            critique = await ask(
                fill(config.critique_prompt, question=problem.question, solution=latest.text),
                role=VERIFY,
            )
            critiques.append(critique.text)
            revised = await ask(
                fill(
                    config.revise_prompt,
                    question=problem.question,
                    solution=latest.text,
                    feedback=critique.text,
                )
            )
            versions.append(revised)
            scores.append(await self._score(problem, revised, ctx))
            if self.scorer is None:
                best = len(versions) - 1
                continue
            new, top = scores[-1], scores[best]
            if new is not None and (top is None or new > top):
                best = len(versions) - 1
            else:
                stopped = "no improvement"
                break
        details = {
            "rounds": len(versions) - 1,
            "scores": scores,
            "critiques": critiques,
            "stopped": stopped,
        }
        return sequential_outcome(versions[best], versions, details)

    async def _score(self, problem: Problem, candidate: Candidate, ctx: Context) -> float | None:
        if self.scorer is None:
            return None
        (value,) = await self.scorer.score(problem, [candidate], ctx)
        return value.value
