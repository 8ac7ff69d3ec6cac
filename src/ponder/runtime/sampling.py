"""Drawing a problem's candidates through the Context, with the sampling settings strategies
share (``SamplingConfig``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ponder.core.problem import DEFAULT_MODEL, Candidate, Problem
from ponder.core.types import Completion, Usage
from ponder.runtime.context import Context
from ponder.scoring.answers import extract_answer


class StrategyConfig(BaseModel):
    """Base of every strategy's settings: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SamplingConfig(StrategyConfig):
    """Settings shared by strategies that sample."""

    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.8, ge=0.0, le=10.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1)
    seed: int | None = None


def candidate_from(
    completion: Completion, *, index: int | None = None, model: str | None = None
) -> Candidate:
    """A completion as a candidate, its answer read from its text."""
    return Candidate(
        index=completion.index if index is None else index,
        text=completion.text,
        answer=extract_answer(completion.text),
        completion_tokens=completion.completion_tokens,
        finish_reason=completion.finish_reason,
        model=model or DEFAULT_MODEL,
        logprobs=completion.logprobs,
    )


async def sample_candidates(
    problem: Problem, ctx: Context, config: SamplingConfig, n: int, **options: Any
) -> list[Candidate]:
    """``draw_candidates`` without the usage: ``n`` samples of ``problem`` as one request,
    with the same keyword options (``model``, ``first_index``, ``seed_offset``, sampling
    options such as logprobs)."""
    candidates, _ = await draw_candidates(problem, ctx, config, n, **options)
    return candidates


async def draw_candidates(
    problem: Problem,
    ctx: Context,
    config: SamplingConfig,
    n: int,
    *,
    model: str | None = None,
    first_index: int = 0,
    seed_offset: int = 0,
    **extra: Any,
) -> tuple[list[Candidate], Usage]:
    """``sample_candidates``, with the request's usage (for callers that share one Context
    among several problems and account for each)."""
    options = config.model_dump(include=set(SamplingConfig.model_fields))
    if options.get("seed") is not None:
        options["seed"] += seed_offset
    result = await ctx.sample(problem.messages(), model=model, n=n, **{**options, **extra})
    candidates = [
        candidate_from(c, index=first_index + i, model=model)
        for i, c in enumerate(result.completions)
    ]
    return candidates, result.usage
