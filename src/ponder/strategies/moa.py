"""``moa``: Mixture-of-Agents, layers of proposers and an aggregator that writes the answer.

Wang et al. 2024, "Mixture-of-Agents Enhances Large Language Model Capabilities" (arXiv
2406.04692): the first layer's proposers answer the question on their own; each later layer's
proposers are shown every response of the layer before and asked to synthesize a better one;
an aggregator model writes the final response from the last layer's. Proposers are Context
models named in ``proposers`` (a name may repeat: ``proposers=[default,default,qwen]`` is two
samples of the default model and one of ``qwen``), so one model at a temperature, or several
families, make the mixture.

- Layer 1 draws through ``draw_candidates`` (role ``propose``), so ``sampler=`` makes each
  first-layer proposal with a sequential strategy (budget forcing, think-twice), as
  ``self_consistency`` does; later layers are one call per proposal (role ``propose``), the
  aggregator one call (role ``aggregate``). The proposals of one model in one layer go out as
  one request with ``n`` = how often its name appears, so a backend batches them.
- The final answer is the aggregator's. If it gives none (or is cut off), the majority vote of
  the last layer's answers stands, and the details say so.
- One final answer from a sequence of calls makes it a sampler as well: ``best_of_n:n=2,
  scorer=gen_verify(m=2),sampler=moa(layers=1,sampler=budget_forcing(max_thinking=64))``
  verifies two mixtures, each of budget-forced proposals.

Deviations, on purpose: the paper's proposers are six different 70B-class chat models and
its aggregator sees the responses in a system prompt; here any Context models serve, the
references go in the user turn after the question (every backend and chat template takes
that; the problem's own system prompt is kept), and each reference is clipped to its last
``max_reference_chars`` characters so a long reasoning chain cannot crowd out the question
(fewer where the smallest context of the models reading them could not hold them all:
``base.shown_chars``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import fill, model_names, operator_only
from ponder.core.types import Message
from ponder.runtime import Context
from ponder.runtime.sampling import (
    SamplingConfig,
    call_options,
    candidate_from,
    draw_candidates,
    read_behaviours,
)
from ponder.scoring.answers import majority_vote
from ponder.strategies.base import (
    Outcome,
    Strategy,
    chars_around,
    clipped,
    outcome_of,
    require_models,
    shown_chars,
    vote_details,
)
from ponder.strategies.fuse import AGGREGATE

PROPOSE = "propose"

SYNTHESIZE = (
    "{question}\n\nResponses to this problem from other solvers:\n\n{responses}\n\n"
    "Some of them may be wrong. Evaluate them critically: check each step, keep what is "
    "right and correct what is not. Then write one complete, accurate solution of your own."
)


class MoaConfig(SamplingConfig):
    #: the Context models that propose in every layer (a name may repeat)
    proposers: list[str] = model_names(
        default_factory=lambda: ["default", "default", "default"], min_length=1, max_length=32
    )
    #: proposer layers before the aggregator (1: the aggregator reads first answers)
    layers: int = Field(2, ge=1, le=8)
    #: the Context model that writes the final answer
    aggregator: str = model_names(default="default", min_length=1)
    #: the aggregator's temperature (0: its most likely synthesis)
    aggregator_temperature: float = Field(0.0, ge=0.0, le=10.0)
    #: the most characters of each response shown to the next layer (its end is kept)
    max_reference_chars: int = Field(2000, ge=100)
    #: the prompt of later layers and the aggregator: ``{question}`` and ``{responses}``
    synthesize_prompt: str = operator_only(SYNTHESIZE, "a prompt template")


class Moa(Strategy):
    """Layers of proposers, each reading the last, and one aggregator's final answer."""

    name = "moa"
    composes = True
    #: its one final answer makes it a sampler too (``best_of_n:sampler=moa(...)``)
    sequential = True
    Config: ClassVar[type[SamplingConfig]] = MoaConfig

    @property
    def _config(self) -> MoaConfig:
        assert isinstance(self.config, MoaConfig)
        return self.config

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        require_models(ctx, [*config.proposers, config.aggregator])
        layer = await first_answers(problem, ctx, config, config.proposers, PROPOSE)
        every = list(layer)
        history = [_summary(layer)]
        for depth in range(1, config.layers):
            layer = await self._later_layer(problem, ctx, layer, depth, len(every))
            every += layer
            history.append(_summary(layer))
        prompt = self._synthesis(problem, ctx, layer, [config.aggregator])
        result = await ctx.sample(
            prompt,
            role=AGGREGATE,
            model=config.aggregator,
            response_format=ctx.response_format,
            **call_options(config, 1000, n=1, temperature=config.aggregator_temperature),
        )
        (final,) = await as_read(
            problem,
            [
                candidate_from(
                    result.completions[0],
                    index=len(every),
                    model=config.aggregator,
                    spec=problem.answer,
                    keep_cut_off=config.keep_cut_off,
                )
            ],
        )
        every.append(final)
        details: dict[str, Any] = {"layers": history, "aggregator": config.aggregator}
        if final.answer is None:
            vote = majority_vote([c.answer for c in layer])
            details["why"] = (
                f"the aggregator gave no answer ({final.abstained}); the last layer's vote stands"
            )
            outcome = outcome_of(vote, layer, details)
            if outcome.answer is None:
                outcome.details["abstained_reason"] = (
                    "neither the aggregator nor a proposer answered"
                )
            return Outcome(outcome.answer, outcome.text, tuple(every), outcome.details)
        details["abstained"] = sum(c.answer is None for c in every)
        details.update(
            reasoning=final.reasoning,
            finish_reason=final.finish_reason,
            answer_source=final.answer_source,
        )
        return Outcome(final.answer, final.text, tuple(every), details)

    async def _later_layer(
        self, problem: Problem, ctx: Context, previous: list[Candidate], depth: int, start: int
    ) -> list[Candidate]:
        config = self._config
        prompt = self._synthesis(problem, ctx, previous, config.proposers)
        counts = Counter(config.proposers)
        models = list(counts)
        results = await asyncio.gather(
            *(
                ctx.sample(
                    prompt,
                    role=PROPOSE,
                    model=model,
                    **call_options(config, 100 * depth + i, n=counts[model]),
                )
                for i, model in enumerate(models)
            )
        )
        layer: list[Candidate] = []
        for model, result in zip(models, results, strict=True):
            for completion in result.completions:
                layer.append(
                    candidate_from(
                        completion,
                        index=start + len(layer),
                        model=model,
                        spec=problem.answer,
                        keep_cut_off=config.keep_cut_off,
                    )
                )
        return await as_read(problem, layer)

    def _synthesis(
        self, problem: Problem, ctx: Context, responses: list[Candidate], models: list[str]
    ) -> list[Message]:
        """The prompt that shows ``responses`` to ``models``, each response clipped to what
        the smallest of their contexts holds (``shown_chars``)."""
        config = self._config
        around = chars_around(problem, config.synthesize_prompt, len(responses))
        limit = shown_chars(
            ctx, models, config.max_reference_chars, len(responses), around, config.max_tokens
        )
        shown = "\n\n".join(
            f"Response {i + 1}:\n{clipped(c.text, limit)}" for i, c in enumerate(responses)
        )
        ask = fill(config.synthesize_prompt, question=problem.question, responses=shown)
        return [*problem.preamble(), Message("user", ask)]


async def as_read(problem: Problem, candidates: list[Candidate]) -> list[Candidate]:
    """``candidates`` with their answers as ``draw_candidates`` reads them: for a code
    problem, each program's behaviour on the example calls (run in the sandbox)."""
    if problem.answer is not None and problem.answer.type == "code":
        return await read_behaviours(candidates, problem.answer)
    return candidates


async def first_answers(
    problem: Problem, ctx: Context, config: SamplingConfig, models: list[str], role: str
) -> list[Candidate]:
    """One independent answer per entry of ``models`` (candidate i from ``models[i]``), drawn
    through ``draw_candidates`` (so a ``sampler=`` makes each), one request per distinct model
    with ``n`` = how often it appears; without a sampler the calls are charged to ``role``."""
    counts = Counter(models)
    offsets = {model: 1009 * i for i, model in enumerate(counts)}
    extra: dict[str, Any] = {} if config.sampler is not None else {"role": role}
    drawn = await asyncio.gather(
        *(
            draw_candidates(
                problem, ctx, config, k, model=model, seed_offset=offsets[model], **extra
            )
            for model, k in counts.items()
        )
    )
    pools = {model: list(c) for model, (c, _) in zip(counts, drawn, strict=True)}
    return [dataclasses.replace(pools[model].pop(0), index=i) for i, model in enumerate(models)]


def _summary(layer: list[Candidate]) -> dict[str, Any]:
    return {
        "answers": [c.answer for c in layer],
        "models": [c.model for c in layer],
        "votes": vote_details(majority_vote([c.answer for c in layer])),
    }


__all__ = ["PROPOSE", "Moa", "as_read", "first_answers"]
