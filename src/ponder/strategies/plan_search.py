"""``plan_search``: diversity from ideas, not from temperature: observations, then plans, then
one solution per plan, then a vote.

Wang et al. 2024, "Planning In Natural Language Improves LLM Search For Code Generation"
(PlanSearch, arXiv 2409.03733): samples of one prompt tend to repeat one idea; PlanSearch
first asks for observations about the problem, combines subsets of them into
natural-language plans, and writes a solution from each plan, so the candidates differ in
approach. Here:

1. one call lists up to ``observations`` observations (role ``propose``);
2. each of the first ``plans`` subsets of them (every single observation, then every pair,
   in a seeded order) becomes a plan in prose (one call each, role ``propose``, together);
3. each plan becomes a solution (role ``generate``, together), read as the problem's answer
   type (for code, by its behaviour on the example calls, run in the sandbox);
4. the answer is the majority vote of the solutions (a behaviour vote for code).

Deviations, on purpose: the paper also derives second-order observations from pairs of
first-order ones, and asks for a plan's negation ("the idea may be wrong") to add diversity;
neither is done here (the plans' count is the setting that buys diversity). The paper reports
pass@k over the plans' programs; a strategy must give one answer, so the solutions vote. An
observations reply with no numbered or bulleted line falls back to one plan written from the
problem alone (said in the details).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Problem
from ponder.core.trust import fill, operator_only
from ponder.core.types import Message
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, call_options, candidate_from
from ponder.scoring.answers import majority_vote
from ponder.strategies.base import Outcome, Strategy, outcome_of
from ponder.strategies.moa import PROPOSE, as_read

OBSERVE = (
    "{question}\n\nBefore solving, list up to {count} different, useful observations about "
    "this problem: properties, hints, special cases, possible approaches. One per line, "
    "numbered. Do not solve it yet."
)
PLAN = (
    "{question}\n\nUseful observations:\n{observations}\n\nUsing these observations, describe "
    "in a few sentences of prose a plan that solves the problem. Do not solve it yet."
)
SOLVE = "{question}\n\nFollow this plan:\n{plan}"

_ITEM = re.compile(r"^\s*(?:\d+[.):]|[-*\u2022])\s+(.+?)\s*$", re.M)


class PlanSearchConfig(SamplingConfig):
    #: observations asked for
    observations: int = Field(4, ge=1, le=12)
    #: plans (and so solutions) made
    plans: int = Field(6, ge=1, le=64)
    #: tokens for the observations and for each plan
    plan_tokens: int = Field(256, ge=16)
    observe_prompt: str = operator_only(OBSERVE, "a prompt template")
    plan_prompt: str = operator_only(PLAN, "a prompt template")
    solve_prompt: str = operator_only(SOLVE, "a prompt template")


class PlanSearch(Strategy):
    """Observations, plans from subsets of them, a solution per plan, a vote."""

    name = "plan_search"
    Config: ClassVar[type[SamplingConfig]] = PlanSearchConfig
    not_composable_because = "makes each candidate from a plan of its own, not by sampling"

    @property
    def _config(self) -> PlanSearchConfig:
        assert isinstance(self.config, PlanSearchConfig)
        return self.config

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        ask = fill(config.observe_prompt, question=problem.question, count=config.observations)
        noted = await ctx.sample(
            self._turn(problem, ask),
            role=PROPOSE,
            **call_options(config, 0, n=1, max_tokens=config.plan_tokens),
        )
        observations = [m.group(1) for m in _ITEM.finditer(noted.completions[0].text)]
        observations = observations[: config.observations]
        subsets = self._subsets(len(observations))
        plans_asked = [
            fill(
                config.plan_prompt,
                question=problem.question,
                observations="\n".join(f"- {observations[i]}" for i in subset),
            )
            for subset in subsets
        ]
        planned = await asyncio.gather(
            *(
                ctx.sample(
                    self._turn(problem, ask),
                    role=PROPOSE,
                    **call_options(config, 1 + i, n=1, max_tokens=config.plan_tokens),
                )
                for i, ask in enumerate(plans_asked)
            )
        )
        plans = [p.completions[0].text.strip() for p in planned]
        solved = await asyncio.gather(
            *(
                ctx.sample(
                    self._turn(
                        problem, fill(config.solve_prompt, question=problem.question, plan=plan)
                    ),
                    **call_options(config, 100 + i, n=1),
                )
                for i, plan in enumerate(plans)
            )
        )
        candidates = await as_read(
            problem,
            [
                candidate_from(
                    r.completions[0],
                    index=i,
                    spec=problem.answer,
                    keep_cut_off=config.keep_cut_off,
                )
                for i, r in enumerate(solved)
            ],
        )
        details: dict[str, Any] = {
            "observations": observations,
            "subsets": [list(s) for s in subsets],
            "plans": [p[:400] for p in plans],
        }
        if not observations:
            details["why"] = (
                "no observation could be read: the plans were written from the problem alone"
            )
        return outcome_of(majority_vote([c.answer for c in candidates]), candidates, details)

    def _subsets(self, count: int) -> list[tuple[int, ...]]:
        """The first ``plans`` subsets of the observations: singles, then pairs, each kind in
        a seeded order, round again if there are fewer; with no observations, empty ones."""
        config = self._config
        if count == 0:
            return [()] * config.plans
        rng = random.Random(config.seed)
        singles: list[tuple[int, ...]] = [(i,) for i in range(count)]
        pairs: list[tuple[int, ...]] = list(itertools.combinations(range(count), 2))
        rng.shuffle(singles)
        rng.shuffle(pairs)
        chosen = (singles + pairs)[: config.plans]
        while len(chosen) < config.plans:  # fewer subsets than plans: go round again
            chosen.append(chosen[len(chosen) % len(singles + pairs)])
        return chosen

    @staticmethod
    def _turn(problem: Problem, text: str) -> list[Message]:
        return [*problem.preamble(), Message("user", text)]


__all__ = ["PlanSearch"]
