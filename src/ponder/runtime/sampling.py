"""Drawing a problem's candidates through the Context, with the sampling settings strategies
share (``SamplingConfig``)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ponder.core.problem import DEFAULT_MODEL, AnswerSpec, Candidate, Problem
from ponder.core.types import Completion, Usage
from ponder.runtime.context import Context
from ponder.scoring.behaviour import behaviour_answer
from ponder.scoring.extraction import read_answer


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
    #: end a sample once its last tokens repeat one block this many times (0: off; the
    #: embedded engine; see ``ponder.backends.loops``): it abstains, as a cut-off one does
    loop_repeats: int = Field(0, ge=0, le=1000)
    #: read an answer from replies cut off at max_tokens too (by default they abstain: the
    #: number a reply stopped on is rarely its answer)
    keep_cut_off: bool = False


#: the fields of SamplingConfig that are sampling parameters (sent with every request)
SAMPLING_FIELDS = frozenset(SamplingConfig.model_fields) - {"keep_cut_off"}


def read(
    text: str, finish_reason: str, spec: AnswerSpec | None, *, keep_cut_off: bool = False
) -> tuple[str | None, str | None]:
    """The answer a reply gives and, when none, why: a reply cut off at ``max_tokens``
    abstains unless ``keep_cut_off``."""
    if finish_reason == "cancelled":
        return None, "cancelled"
    if finish_reason == "length" and not keep_cut_off:
        return None, "cut off at max_tokens"
    if finish_reason == "repetition" and not keep_cut_off:
        return None, "stopped in a loop"
    reading = read_answer(text, spec)
    return reading.answer, None if reading.answer is not None else reading.reason


def candidate_from(
    completion: Completion,
    *,
    index: int | None = None,
    model: str | None = None,
    spec: AnswerSpec | None = None,
    keep_cut_off: bool = False,
) -> Candidate:
    """A completion as a candidate, its answer read from its text as ``spec`` says."""
    answer, why = read(completion.text, completion.finish_reason, spec, keep_cut_off=keep_cut_off)
    return Candidate(
        index=completion.index if index is None else index,
        text=completion.text,
        answer=answer,
        completion_tokens=completion.completion_tokens,
        finish_reason=completion.finish_reason,
        model=model or DEFAULT_MODEL,
        logprobs=completion.logprobs,
        abstained=why,
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
    options = config.model_dump(include=set(SAMPLING_FIELDS))
    if options.get("seed") is not None:
        options["seed"] += seed_offset
    result = await ctx.sample(problem.messages(), model=model, n=n, **{**options, **extra})
    keep = bool(getattr(config, "keep_cut_off", False))
    candidates = [
        candidate_from(
            c, index=first_index + i, model=model, spec=problem.answer, keep_cut_off=keep
        )
        for i, c in enumerate(result.completions)
    ]
    if problem.answer is not None and problem.answer.type == "code":
        candidates = await read_behaviours(candidates, problem.answer)
    return candidates, result.usage


async def read_behaviours(candidates: list[Candidate], spec: AnswerSpec) -> list[Candidate]:
    """Code candidates with their behaviour on the spec's example calls as their answer (run
    in the sandbox, a few at a time); cut-off replies keep abstaining."""
    gate = asyncio.Semaphore(os.cpu_count() or 1)

    async def one(candidate: Candidate) -> Candidate:
        if candidate.abstained == "cut off at max_tokens":
            return candidate
        async with gate:
            answer, why = await asyncio.to_thread(behaviour_answer, candidate.text, spec)
        return dataclasses.replace(candidate, answer=answer, abstained=why)

    return list(await asyncio.gather(*(one(c) for c in candidates)))
