"""What every strategy shares: the problem it solves, the result it returns, its config.

A strategy is a small immutable object: its settings are a validated pydantic ``Config``
(unknown keys refused), its per-run state lives in locals and in the Context, and its one
method ``solve`` talks to the runtime only (``await ctx.sample(...)``), never to a backend.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ponder.answers import Vote, extract_answer
from ponder.errors import ConfigError
from ponder.runtime import DEFAULT_MODEL, Context
from ponder.types import Completion, Message, TokenLogprob, Usage


@dataclasses.dataclass(frozen=True)
class Problem:
    """A question to solve, with an optional system prompt."""

    question: str
    system: str | None = None
    id: str | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def messages(self) -> list[Message]:
        system = [Message("system", self.system)] if self.system else []
        return [*system, Message("user", self.question)]


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One sampled solution and the answer read from it."""

    index: int
    text: str
    answer: str | None
    completion_tokens: int
    finish_reason: str
    #: the name of the Context model that wrote it
    model: str = DEFAULT_MODEL
    #: per-token logprobs, when sampling asked for them (scorers such as ``confidence``
    #: read them); left out of ``as_dict`` to keep stored records small
    logprobs: tuple[TokenLogprob, ...] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def from_completion(
        cls, completion: Completion, *, index: int | None = None, model: str | None = None
    ) -> Candidate:
        return cls(
            index=completion.index if index is None else index,
            text=completion.text,
            answer=extract_answer(completion.text),
            completion_tokens=completion.completion_tokens,
            finish_reason=completion.finish_reason,
            model=model or DEFAULT_MODEL,
            logprobs=completion.logprobs,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "text": self.text,
            "answer": self.answer,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
            "model": self.model,
        }


@dataclasses.dataclass(frozen=True)
class Result:
    """What a strategy returns: the answer, the candidates behind it, and what it cost."""

    strategy: str
    answer: str | None
    text: str
    candidates: tuple[Candidate, ...]
    usage: Usage
    ledger: dict[str, Any]
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "answer": self.answer,
            "text": self.text,
            "candidates": [c.as_dict() for c in self.candidates],
            "usage": self.usage.as_dict(),
            "ledger": self.ledger,
            "details": self.details,
        }


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def validate_options(config: type[ConfigT], options: Mapping[str, Any], what: str) -> ConfigT:
    """``options`` validated as ``config``; a ConfigError naming each bad field and the
    fields ``what`` (a strategy, a task) has, if they are not valid."""
    try:
        return config.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        known = ", ".join(config.model_fields)
        raise ConfigError(f"invalid options for {what}: {problems} (its options: {known})") from exc


class StrategyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SamplingConfig(StrategyConfig):
    """Settings shared by strategies that sample."""

    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.8, ge=0.0, le=10.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1)
    seed: int | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What ``solve`` hands back; ``run`` adds the usage and ledger."""

    answer: str | None
    text: str
    candidates: tuple[Candidate, ...]
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


class Strategy(abc.ABC):
    """Base class of every strategy. Subclasses set ``name``, ``Config`` and ``solve``."""

    name: ClassVar[str]
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig
    #: backend capabilities this strategy cannot run without (see ``Capabilities``)
    requires: ClassVar[tuple[str, ...]] = ()
    #: How the eval harness may estimate this strategy at n=k from one run at a larger n:
    #: ``"majority"`` when its answer is the plain majority vote of n i.i.d. samples (so the
    #: unbiased maj@k estimator applies), None when it cannot.
    pool_estimate: ClassVar[str | None] = None

    def __init__(self, **options: Any) -> None:
        self.config = validate_options(self.Config, options, f"strategy {self.name!r}")

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({options})"

    async def run(self, problem: Problem | str, ctx: Context) -> Result:
        """Solve ``problem`` within ``ctx``: check capabilities first, then spend."""
        if isinstance(problem, str):
            problem = Problem(problem)
        ctx.backend.require(list(self.requires), what=f"strategy {self.name!r}")
        outcome = await self.solve(problem, ctx)
        return Result(
            strategy=self.name,
            answer=outcome.answer,
            text=outcome.text,
            candidates=outcome.candidates,
            usage=ctx.ledger.total(),
            ledger=ctx.ledger.as_dict(),
            details=outcome.details,
        )

    @abc.abstractmethod
    async def solve(self, problem: Problem, ctx: Context) -> Outcome: ...


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
        Candidate.from_completion(c, index=first_index + i, model=model)
        for i, c in enumerate(result.completions)
    ]
    return candidates, result.usage


def vote_details(vote: Vote) -> list[dict[str, Any]]:
    return [
        {"answer": g.answer, "votes": g.votes, "weight": g.weight, "members": list(g.members)}
        for g in vote.groups
    ]


def outcome_of(vote: Vote, candidates: Sequence[Candidate], details: dict[str, Any]) -> Outcome:
    """The vote's winner as an Outcome (the text of its first member that gave the answer in
    the form the vote reports)."""
    winner = vote.winner
    if winner is None:
        text = candidates[0].text
    else:
        text = next(
            (candidates[i].text for i in winner.members if candidates[i].answer == winner.answer),
            candidates[winner.members[0]].text,
        )
    details = {**details, "votes": vote_details(vote)}
    details["abstained"] = sum(c.answer is None for c in candidates)
    return Outcome(vote.answer, text, tuple(candidates), details)
