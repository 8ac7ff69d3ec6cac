"""Drawing a problem's candidates through the Context, with the sampling settings strategies
share (``SamplingConfig``)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ponder.core.problem import DEFAULT_MODEL, AnswerSpec, Candidate, Problem
from ponder.core.registry import default_registry
from ponder.core.spec import parse_call
from ponder.core.thinking import DEFAULT_THINKING, ThinkingFormat, split_thought
from ponder.core.trust import component
from ponder.core.types import Completion, TokenLogprob, ToolCall, Usage
from ponder.errors import ConfigError
from ponder.runtime.context import Context
from ponder.runtime.reader import read_with_model
from ponder.scoring.extraction import read_answer, tool_call_answer

logger = logging.getLogger(__name__)


class StrategyConfig(BaseModel):
    """Base of every strategy's settings: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ReplyConfig(StrategyConfig):
    """How each reply is generated and read, for every strategy that asks for replies (greedy
    and the sampling ones)."""

    max_tokens: int = Field(256, ge=1)
    #: end a sample once its last tokens repeat one block this many times (0: off; the
    #: embedded engine; see ``ponder.backends.loops``): it abstains, as a cut-off one does
    loop_repeats: int = Field(0, ge=0, le=1000)
    #: the same with every run of number tokens taken as one, so that a table changing only
    #: its numbers counts (``ponder.backends.loops.template_loops``; 0: off; measured in
    #: ``benchmarks/results/loops/``)
    loop_template: int = Field(0, ge=0, le=1000)
    #: strings that end a sample (as the OpenAI API's ``stop``); search steps and thinking
    #: phases add their own delimiters to the calls that need them
    stop: tuple[str, ...] = ()
    #: read an answer from replies cut off at max_tokens too (by default they abstain: the
    #: number a reply stopped on is rarely its answer)
    keep_cut_off: bool = False
    #: who reads each reply's answer: the ``rules``, the ``model`` that wrote it (two-stage
    #: extraction), or ``hybrid`` (the rules' declared forms, the model elsewhere); see
    #: ``ponder.runtime.reader``
    reader: Literal["rules", "model", "hybrid", "compare"] = "rules"
    #: the most tokens the model's reading may take
    reader_tokens: int = Field(16, ge=1, le=256)
    #: the named model that reads (``reader=model|hybrid|compare``), when not the one that
    #: wrote the reply: a strong model reading a small one's replies (``--extra-model``)
    reader_model: str | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _reader_model_reads(self) -> ReplyConfig:
        if self.reader_model is not None and self.reader == "rules":
            raise ValueError("reader_model names who reads with reader=model|hybrid|compare")
        return self


class SamplingConfig(ReplyConfig):
    """Settings shared by strategies that sample.

    The default temperature, 0.4, is measured: on the development suite (seed 0, 60
    problems, the embedded SmolLM2-135M), self-consistency with 8 samples scored 0.550,
    0.650, 0.583, 0.467 and 0.400 at temperatures 0.2, 0.4, 0.6, 0.8 and 1.0 (and greedy
    0.483); lower temperatures also cost fewer tokens (fewer runaway samples). Checked on
    held-out problems and tasks in ``benchmarks/results/auto/``. A strong model may want
    more diversity: set ``temperature`` per strategy, or let ``auto`` choose from a plan."""

    temperature: float = Field(0.4, ge=0.0, le=10.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1)
    seed: int | None = None
    #: a sequential strategy that produces each candidate instead of one sample, e.g.
    #: ``budget_forcing(max_thinking=256)`` (its own options rule its calls); see ``compose``
    sampler: Any = component(None, "sampler")


#: the fields of SamplingConfig that are sampling parameters (sent with every request)
SAMPLING_FIELDS = frozenset(SamplingConfig.model_fields) - {
    "keep_cut_off",
    "sampler",
    "reader",
    "reader_tokens",
    "reader_model",
}


def reads_own_reply(config: ReplyConfig, model: str | None = None) -> bool:
    """Whether the model that writes a reply also reads it (``reader`` not ``rules``, no
    other ``reader_model``): then its samples are kept for the reading to continue."""
    return config.reader != "rules" and config.reader_model in (None, model or DEFAULT_MODEL)


def call_options(config: SamplingConfig, call: int = 0, **changes: Any) -> dict[str, Any]:
    """The config's sampling parameters for the ``call``-th call of a run that makes several
    (each its own seed, reproducibly: ``seed + 1009 x call``), with ``changes``."""
    options = config.model_dump(include=set(SAMPLING_FIELDS))
    if options.get("seed") is not None:
        options["seed"] += 1009 * call
    return {**options, **changes}


def read(
    text: str, finish_reason: str, spec: AnswerSpec | None, *, keep_cut_off: bool = False
) -> tuple[str | None, str | None]:
    """The answer a reply gives and, when none, why: a reply cut off at ``max_tokens``
    abstains unless ``keep_cut_off``."""
    answer, why, _ = read_how(text, finish_reason, spec, keep_cut_off=keep_cut_off)
    return answer, why


def read_how(
    text: str, finish_reason: str, spec: AnswerSpec | None, *, keep_cut_off: bool = False
) -> tuple[str | None, str | None, str | None]:
    """``read``, with the rule that read the answer (``declared``, ``boxed``, ``fallback``)."""
    if finish_reason == "cancelled":
        return None, "cancelled", None
    if finish_reason == "length" and not keep_cut_off:
        return None, "cut off at max_tokens", None
    if finish_reason == "repetition" and not keep_cut_off:
        return None, "stopped in a loop", None
    reading = read_answer(text, spec)
    if reading.answer is None:
        return None, reading.reason, None
    return reading.answer, None, reading.reason


def candidate_from(
    completion: Completion,
    *,
    index: int | None = None,
    model: str | None = None,
    spec: AnswerSpec | None = None,
    keep_cut_off: bool = False,
    thinking: ThinkingFormat = DEFAULT_THINKING,
) -> Candidate:
    """A completion as a candidate. A thought (``reasoning`` from the backend, or delimited
    by ``thinking`` in the text) is kept apart: the answer is read from the reply, and from
    the thought only where the reply gives none (``answer_source`` says so)."""
    reasoning, text = completion.reasoning, completion.text
    if reasoning is None:
        thought = split_thought(text, thinking)
        reasoning, text = thought.reasoning, thought.content
    return candidate_of(
        text,
        completion.finish_reason,
        index=completion.index if index is None else index,
        completion_tokens=completion.completion_tokens,
        reasoning=reasoning,
        model=model,
        spec=spec,
        keep_cut_off=keep_cut_off,
        logprobs=completion.logprobs,
        tool_calls=completion.tool_calls,
    )


def candidate_of(
    text: str,
    finish_reason: str,
    *,
    index: int,
    completion_tokens: int,
    reasoning: str | None = None,
    model: str | None = None,
    spec: AnswerSpec | None = None,
    keep_cut_off: bool = False,
    logprobs: tuple[TokenLogprob, ...] | None = None,
    tool_calls: tuple[ToolCall, ...] = (),
) -> Candidate:
    """A reply (and its thought) as a candidate, its answer read as ``spec`` says; a reply
    that calls tools answers with its calls (``tool_call_answer``), so votes count them."""
    answer, why, rule = read_how(text, finish_reason, spec, keep_cut_off=keep_cut_off)
    if tool_calls:
        answer, why, rule = tool_call_answer(tool_calls), None, None
    source: Literal["content", "reasoning"] = "content"
    if answer is None and reasoning and (finish_reason == "stop" or keep_cut_off):
        from_thought, _, thought_rule = read_how(reasoning, "stop", spec)
        if from_thought is not None:
            answer, why, source, rule = from_thought, None, "reasoning", thought_rule
    return Candidate(
        index=index,
        text=text,
        answer=answer,
        completion_tokens=completion_tokens,
        finish_reason=finish_reason,
        model=model or DEFAULT_MODEL,
        logprobs=logprobs,
        abstained=why,
        reasoning=reasoning,
        answer_source=source,
        tool_calls=tool_calls,
        read_by=rule,
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
    if config.sampler is not None:
        candidates, usage = await draw_composed(
            problem, ctx, config, n, model=model, first_index=first_index, seed_offset=seed_offset
        )
    else:
        options = config.model_dump(include=set(SAMPLING_FIELDS))
        if options.get("seed") is not None:
            options["seed"] += seed_offset
        if reads_own_reply(config, model) and ctx.model(model).capabilities.continuation:
            options.update(retain=True, retain_ended=True)  # the reading continues each reply
        result = await ctx.sample(problem.messages(), model=model, n=n, **{**options, **extra})
        candidates = [
            candidate_from(
                c,
                index=first_index + i,
                model=model,
                spec=problem.answer,
                keep_cut_off=config.keep_cut_off,
            )
            for i, c in enumerate(result.completions)
        ]
        usage = result.usage
        if ctx.model(model).thinks and candidates and all(c.reasoning is None for c in candidates):
            logger.warning(
                "the model is marked as thinking, but none of its %d replies holds a thought "
                "between <think> and </think>: each whole reply is read as the answer's text",
                len(candidates),
            )
        if config.reader != "rules":
            candidates = await read_with_model(
                problem,
                ctx,
                candidates,
                reader=config.reader,
                tokens=config.reader_tokens,
                keep_cut_off=config.keep_cut_off,
                model=config.reader_model or model,
            )
    if problem.answer is not None and problem.answer.type == "code":
        candidates = await read_behaviours(candidates, problem.answer)
    return candidates, usage


async def read_behaviours(candidates: list[Candidate], spec: AnswerSpec) -> list[Candidate]:
    """Code candidates with their behaviour on the spec's example calls as their answer (run
    in the sandbox, a few at a time); cut-off replies keep abstaining."""
    gate = asyncio.Semaphore(os.cpu_count() or 1)

    async def one(candidate: Candidate) -> Candidate:
        if candidate.abstained == "cut off at max_tokens":
            return candidate
        async with gate:
            from ponder.scoring.behaviour import behaviour_answer  # the sandbox: code tasks only

            answer, why = await asyncio.to_thread(behaviour_answer, candidate.text, spec)
        return dataclasses.replace(candidate, answer=answer, abstained=why)

    return list(await asyncio.gather(*(one(c) for c in candidates)))


# -- composition: a sequential strategy as the sampler of a parallel one


def build_sampler(spec: Any, *, seed: int | None = None, what: str = "sampler") -> Any:
    """The sequential strategy a ``sampler=`` option names (``budget_forcing(max_thinking=
    256)``, a ``{"name": ...}`` object, or a strategy instance), checked to be one that
    produces one candidate per run; ``seed`` overrides its seed."""
    if hasattr(spec, "solve"):
        if seed is None:
            return spec
        spec = {"name": spec.name, **spec.config.model_dump(), "seed": seed}
    if isinstance(spec, dict):
        options = dict(spec)
        name = options.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"a {what} given as an object needs a 'name': {spec!r}")
    elif isinstance(spec, str):
        name, options = parse_call(spec, what)
    else:
        raise ConfigError(f"{what} must name a strategy, e.g. budget_forcing(max_thinking=256)")
    cls = default_registry().get("strategy", name)
    if not getattr(cls, "sequential", False):
        samplers = [
            n
            for n in default_registry().names("strategy")
            if getattr(default_registry().get("strategy", n), "sequential", False)
        ]
        raise ConfigError(
            f"strategy {name!r} cannot be a {what}: a sampler must be a sequential strategy "
            f"that turns one problem into one candidate, and {name!r} "
            f"{getattr(cls, 'not_sequential_because', 'is not one')}; samplers: "
            + ", ".join(samplers)
        )
    if seed is not None:
        options["seed"] = seed
    return cls(**options)


async def draw_composed(
    problem: Problem,
    ctx: Context,
    config: SamplingConfig,
    n: int,
    *,
    model: str | None = None,
    first_index: int = 0,
    seed_offset: int = 0,
) -> tuple[list[Candidate], Usage]:
    """``n`` candidates, each one run of the sequential strategy ``config.sampler`` (in its
    own ``Context.scope``, concurrently): the run's reply, thought and answer become the
    candidate, its generated tokens the candidate's ``completion_tokens``. Seeds: run i of a
    seeded config gets ``seed + seed_offset + i``."""
    base = None if config.seed is None else config.seed + seed_offset

    async def one(i: int) -> tuple[Any, Context]:
        inner = build_sampler(config.sampler, seed=None if base is None else base + i)
        part = ctx.scope(model)
        return await inner.solve(problem, part), part

    runs = await asyncio.gather(*(one(i) for i in range(n)))
    candidates = []
    usage = Usage()
    for i, (outcome, part) in enumerate(runs):
        spent = part.ledger.total()
        usage = usage + spent
        answer = outcome.answer
        candidates.append(
            Candidate(
                index=first_index + i,
                text=outcome.text,
                answer=answer,
                completion_tokens=spent.completion_tokens,
                finish_reason=outcome.details.get("finish_reason", "stop"),
                model=model or DEFAULT_MODEL,
                abstained=None if answer is not None else outcome.details.get("abstained_reason"),
                reasoning=outcome.details.get("reasoning"),
                answer_source=outcome.details.get("answer_source", "content"),
            )
        )
    return candidates, usage
