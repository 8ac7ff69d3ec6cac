"""``budget_forcing`` and ``no_thinking``: control how long a model thinks.

``budget_forcing`` is s1's (Muennighoff et al., "s1: Simple test-time scaling", arXiv
2501.19393): the thought runs under a cap of ``max_thinking`` tokens, enforced by
continuation: ponder opens the thought, lets the model think until it closes it or the cap,
and at the cap closes it for the model and asks for the answer (``</think>`` then
``answer_prefix``). ``wrap_up`` first continues the thought with a short "time is up"
sentence (``wrap_up_text``, at most ``wrap_up_tokens`` of its own, inside the cap) so the
model can conclude instead of being cut mid-sentence. When the model closes its thought
early, ``extend=k`` suppresses the close and appends ``wait_word`` ("Wait"), up to k times;
with ``min_thinking`` set, only while the thought is shorter than that. Thinking tokens
never exceed ``max_thinking`` (the closing delimiter is written by ponder, not sampled), and
the number of extensions is exactly what the rules above give; both are in
``details``. Deviation: s1 suppresses the end-of-thinking *token* while decoding; here the
close string stops the call and the next call continues after "Wait" (the same text, one
call more per extension, which the prefix cache makes cheap).

``no_thinking`` is NoThinking (Ma et al., "Reasoning Models Can Be Effective Without
Thinking", arXiv 2504.09858): the thought is prefilled, already finished ("Okay, I think I
have finished thinking."), and the model answers at once; ``n`` > 1 samples vote, as the
paper pairs it with parallel sampling.

Both run on reasoning models (``Backend.thinks``) as they are, and on other models through a
scaffold (``scaffold``): a system prompt that asks for the reasoning between the delimiters.
Both continue an assistant reply, so the backend needs ``continuation``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ponder.core.problem import Candidate, Problem
from ponder.core.thinking import ThinkingFormat
from ponder.core.types import Completion, Message
from ponder.errors import CapabilityError, ConfigError
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, call_options, candidate_from, candidate_of
from ponder.scoring.answers import majority_vote
from ponder.strategies.base import Outcome, Strategy, outcome_of

SCAFFOLD = (
    "Think before you answer. Write your reasoning between {open} and {close}, then, after "
    "{close}, write the answer."
)


class ThinkingConfig(SamplingConfig):
    """What the strategies that control thinking share."""

    think_open: str = "<think>"
    think_close: str = "</think>"
    #: ask a model that does not think by itself to think between the delimiters (auto: when
    #: the backend's model is not a reasoning model)
    scaffold: Literal["auto", "always", "never"] = "auto"
    #: most tokens of the reply after the thought
    answer_tokens: int = Field(128, ge=1)

    @property
    def format(self) -> ThinkingFormat:
        return ThinkingFormat(self.think_open, self.think_close)


def thinking_messages(problem: Problem, config: ThinkingConfig, ctx: Context) -> list[Message]:
    """The problem's messages, with the scaffold's system prompt where it applies."""
    fmt = config.format
    scaffold = config.scaffold == "always" or (config.scaffold == "auto" and not ctx.backend.thinks)
    if not scaffold:
        return problem.messages()
    system = SCAFFOLD.format(open=fmt.open, close=fmt.close)
    if problem.system:
        system = f"{problem.system}\n\n{system}"
    question = Message("user", problem.question)
    return [Message("system", system), *problem.history, question, *problem.after]


def require_continuation(ctx: Context, what: str) -> None:
    backend = ctx.backend
    if not backend.capabilities.continuation:
        raise CapabilityError(
            f"{what} writes part of the assistant's reply itself (opening and closing the "
            f"thought) and has the model continue it, which needs continuation; backend "
            f"{backend.name!r} ({backend.model_name}) does not offer it (for a vLLM or SGLang "
            "server: -B chat_continuation=true)"
        )


class BudgetForcingConfig(ThinkingConfig):
    max_thinking: int = Field(256, ge=1)
    #: think at least this long: an early close is answered with ``wait_word`` (needs extend)
    min_thinking: int | None = Field(None, ge=1)
    #: most times an early close is suppressed ("Wait" appended); without min_thinking,
    #: exactly this many times (s1's "Wait" x k)
    extend: int = Field(0, ge=0, le=64)
    wait_word: str = Field("Wait", min_length=1)
    wrap_up: bool = False
    wrap_up_text: str = "Time is up, so I must conclude now."
    wrap_up_tokens: int = Field(32, ge=1)
    #: written after the closing delimiter, before the model's answer
    answer_prefix: str = ""
    #: auto: where the backend enforces a thinking budget itself (vLLM's
    #: thinking_token_budget) and no extension or wrap-up is asked, one call with it; never:
    #: always ponder's own continuation
    native: Literal["auto", "never"] = "auto"

    @model_validator(mode="after")
    def _consistent(self) -> BudgetForcingConfig:
        if self.min_thinking is not None and self.min_thinking > self.max_thinking:
            raise ValueError(
                f"min_thinking ({self.min_thinking}) is above max_thinking ({self.max_thinking})"
            )
        if self.min_thinking is not None and self.extend == 0:
            raise ValueError("min_thinking needs extend >= 1 (how many times to say Wait)")
        if self.wrap_up and self.wrap_up_tokens >= self.max_thinking:
            raise ValueError(
                f"wrap_up_tokens ({self.wrap_up_tokens}) must be below max_thinking "
                f"({self.max_thinking}): the wrap-up is part of the thinking budget"
            )
        return self


class BudgetForcing(Strategy):
    """Think under a token cap; close the thought at the cap, or say Wait when it ends early."""

    name = "budget_forcing"
    Config: ClassVar[type[SamplingConfig]] = BudgetForcingConfig
    sequential = True

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, BudgetForcingConfig)
        native = (
            config.native == "auto"
            and ctx.backend.capabilities.thinking_budget
            and config.extend == 0
            and not config.wrap_up
        )
        if native:
            return await self._native(problem, ctx, config)
        require_continuation(ctx, f"strategy {self.name!r}")
        limit = ctx.backend.context_length
        if limit is not None and config.max_thinking + config.answer_tokens > limit:
            raise ConfigError(
                f"max_thinking ({config.max_thinking}) + answer_tokens ({config.answer_tokens})"
                f" exceeds the model's context of {limit} tokens (before the prompt); lower "
                "max_thinking, or give the backend a larger context (-B n_ctx=...)"
            )
        fmt = config.format
        messages = thinking_messages(problem, config, ctx)
        opening = fmt.open + "\n"
        thought, used, waits, calls = "", 0, 0, 0

        async def think(max_tokens: int) -> Completion:
            """The thought continued until it closes or ``max_tokens``."""
            nonlocal calls
            result = await ctx.sample(
                messages,
                prefix=opening + thought,
                thinking=True,
                **call_options(config, calls, n=1, max_tokens=max_tokens, stop=(fmt.close,)),
            )
            calls += 1
            return result.completions[0]

        forced = False
        thinking_cap = config.max_thinking - (config.wrap_up_tokens if config.wrap_up else 0)
        while True:
            c = await think(thinking_cap - used)
            used += c.completion_tokens
            thought += c.text
            if c.finish_reason == "length" or used >= thinking_cap:
                forced = True
                break
            wants_more = config.extend > waits and (
                config.min_thinking is None or used < config.min_thinking
            )
            if not wants_more:
                break
            thought += f" {config.wait_word}"  # the close is suppressed: think on
            waits += 1
        if forced and config.wrap_up:
            thought += f"\n{config.wrap_up_text}"
            c = await think(config.wrap_up_tokens)
            used += c.completion_tokens
            thought += c.text
        answer_prefix = f"{opening}{thought}\n{fmt.close}\n\n{config.answer_prefix}"
        result = await ctx.sample(
            messages,
            prefix=answer_prefix,
            answer=True,
            **call_options(config, calls, n=1, max_tokens=config.answer_tokens),
        )
        reply = result.completions[0]
        candidate = candidate_of(
            config.answer_prefix + reply.text,
            reply.finish_reason,
            index=0,
            completion_tokens=used + reply.completion_tokens,
            reasoning=thought.strip(),
            spec=problem.answer,
            keep_cut_off=config.keep_cut_off,
        )
        return sequential_outcome(
            candidate,
            [candidate],
            {"thinking_tokens": used, "waits": waits, "forced_close": forced, "calls": calls + 1},
        )

    async def _native(self, problem: Problem, ctx: Context, config: BudgetForcingConfig) -> Outcome:
        """One call; the server caps the thought (and says how long it was)."""
        result = await ctx.sample(
            problem.messages(),
            thinking_budget=config.max_thinking,
            **call_options(config, n=1, max_tokens=config.max_thinking + config.answer_tokens),
        )
        reply = result.completions[0]
        candidate = candidate_from(
            reply,
            index=0,
            spec=problem.answer,
            keep_cut_off=config.keep_cut_off,
            thinking=config.format,
        )
        details = {
            "thinking_tokens": result.usage.reasoning_tokens,
            "waits": 0,
            "forced_close": None,
            "calls": 1,
            "native": True,
        }
        return sequential_outcome(candidate, [candidate], details)


def sequential_outcome(
    final: Candidate, candidates: list[Candidate], details: dict[str, Any]
) -> Outcome:
    """The Outcome of a sequential strategy: its final candidate's reply and answer, with
    what a composing strategy reads from ``details`` (the thought, how the reply ended)."""
    info = {
        **details,
        "reasoning": final.reasoning,
        "finish_reason": final.finish_reason,
        "answer_source": final.answer_source,
        "chosen": final.index,
    }
    if final.answer is None:
        info["abstained_reason"] = final.abstained
    return Outcome(final.answer, final.text, tuple(candidates), info)


class NoThinkingConfig(ThinkingConfig):
    n: int = Field(1, ge=1, le=4096)
    #: the prefilled thought
    thought: str = "Okay, I think I have finished thinking."


class NoThinking(Strategy):
    """Answer at once after a prefilled, finished thought; n > 1 samples vote."""

    name = "no_thinking"
    Config: ClassVar[type[SamplingConfig]] = NoThinkingConfig
    sequential = True
    pool_estimate = "majority"

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, NoThinkingConfig)
        require_continuation(ctx, f"strategy {self.name!r}")
        fmt = config.format
        messages = thinking_messages(problem, config, ctx)
        prefix = f"{fmt.open}\n{config.thought}\n{fmt.close}\n\n"
        result = await ctx.sample(
            messages,
            prefix=prefix,
            **call_options(config, n=config.n, max_tokens=config.answer_tokens),
        )
        candidates = [
            candidate_of(
                c.text,
                c.finish_reason,
                index=i,
                completion_tokens=c.completion_tokens,
                reasoning=config.thought,
                spec=problem.answer,
                keep_cut_off=config.keep_cut_off,
            )
            for i, c in enumerate(result.completions)
        ]
        if config.n == 1:
            return sequential_outcome(candidates[0], candidates, {"n": 1})
        vote = majority_vote([c.answer for c in candidates])
        outcome = outcome_of(vote, candidates, {"n": config.n})
        outcome.details.update({"reasoning": config.thought, "finish_reason": "stop"})
        return outcome
