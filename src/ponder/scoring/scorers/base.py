"""The verification layer: pointwise scores, pairwise comparisons and step scores.

Three small interfaces, so that selection strategies now and search strategies later share
their verifiers:

- ``Scorer.score(problem, candidates, ctx)``: one ``ScoreValue`` per candidate, all of them
  requested at once (the backend batches them);
- ``Comparator.compare(problem, pairs, ctx)``: one ``Comparison`` per ordered pair;
- ``StepScorer.score_steps(problem, candidates, ctx)``: a score per reasoning step, which
  ``score`` folds into one number (``aggregate``: last, min, product or mean).

A score that could not be had (an unparseable judge reply, a malformed reward-model answer,
a crashing test harness) is a ``ScoreValue`` with ``value=None`` and an ``error`` that says
why: recorded, never replaced by a default. Every model call a scorer makes goes through the
Context under the role ``verify``.

Scorers are registered under the entry-point group ``ponder.scorers`` and named in strategy
options as ``judge``, ``judge(mode=text,model=big)`` or ``{"name": "judge", "mode": "text"}``.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from ponder.backends.base import Backend
from ponder.core.problem import Candidate, Problem, validate_options
from ponder.core.registry import Registry, default_registry
from ponder.core.spec import parse_call
from ponder.core.trust import model_names
from ponder.core.types import (
    Capabilities,
    GenerationResult,
    Message,
    Usage,
)
from ponder.errors import CapabilityError, ConfigError

VERIFY = "verify"
#: the ``finish_reason`` of a candidate that is a partial solution (a node of a search)
PARTIAL = "partial"


class ScoringContext(Protocol):
    """What a scorer may ask of the run it scores for: the models, sampling through the
    ledger and the budget, and charging work done elsewhere. ``ponder.runtime.Context`` is
    one; scoring sits below the runtime, so it names only what it uses."""

    def model(self, name: str | None = None) -> Backend: ...

    async def sample(
        self, messages: Sequence[Message | dict[str, str]] | str, **options: Any
    ) -> GenerationResult:
        """Samples through the ledger and the budget (``role=``, ``model=``, ``n=``, ...)."""
        ...

    def record(
        self, role: str, usage: Usage, seconds: float, *, model: str | None = None, n: int = 1
    ) -> None: ...


@dataclasses.dataclass(frozen=True)
class ScoreValue:
    """A candidate's score; ``value`` is None when scoring failed, and ``error`` says why."""

    value: float | None
    error: str | None = None
    steps: tuple[float, ...] | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def failed(cls, error: str, **details: Any) -> ScoreValue:
        return cls(None, error, None, details)

    @property
    def ok(self) -> bool:
        return self.value is not None

    def as_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"value": self.value}
        if self.error is not None:
            record["error"] = self.error
        if self.steps is not None:
            record["steps"] = list(self.steps)
        if self.details:
            record["details"] = dict(self.details)
        return record


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The verdict on an ordered pair: ``winner`` 0 (the first) or 1 (the second), or None
    when the comparator gave no verdict (``error`` says why). ``p_first`` is the comparator's
    probability that the first is better, where it has one."""

    winner: Literal[0, 1] | None
    p_first: float | None = None
    error: str | None = None
    reply: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


class ScorerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Scorer(abc.ABC):
    """A pointwise verifier. Subclasses set ``name``, ``Config`` and ``score``."""

    name: ClassVar[str]
    Config: ClassVar[type[ScorerConfig]] = ScorerConfig
    #: capabilities the scorer needs of the backend it calls (the ``model`` it names)
    requires: ClassVar[tuple[str, ...]] = ()
    #: capabilities the scorer needs of the backend that *generated* the candidates
    requires_of_generator: ClassVar[tuple[str, ...]] = ()
    #: whether it can score a partial solution (a search node: a candidate whose
    #: ``finish_reason`` is ``PARTIAL``), as a process verifier does
    scores_partial: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.config = validate_options(self.Config, options, f"scorer {self.name!r}")

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({options})"

    @property
    def model(self) -> str | None:
        """The Context model this scorer calls, if it calls one."""
        return getattr(self.config, "model", None)

    def needs(self) -> tuple[str, ...]:
        """Capabilities of the scoring model this instance needs (its options may add some)."""
        return self.requires

    def check(self, ctx: ScoringContext, *, generator: str | None = None) -> None:
        """Fail at once, before any sample is drawn, if a backend lacks what this scorer
        needs; the error names the missing capability and the scorers that would work."""
        checks = [(self.needs(), self.model, "scoring")]
        checks.append((self.requires_of_generator, generator, "generating"))
        for needed, model, role in checks:
            if not needed:
                continue
            backend = ctx.model(model)
            missing = backend.capabilities.missing(list(needed))
            if missing:
                working = working_scorers(backend.capabilities)
                raise CapabilityError(
                    f"scorer {self.name!r} needs {', '.join(missing)} of the {role} model, "
                    f"which backend {backend.name!r} ({backend.model_name}) does not offer; "
                    f"scorers that work with it: {', '.join(working)}"
                )

    def sampling_options(self) -> dict[str, Any]:
        """What the candidates must be sampled with for this scorer (logprobs, say)."""
        return {}

    def continues(self, ctx: ScoringContext) -> bool:
        """Whether it checks a candidate by continuing the candidate's own text (so a
        search keeps even its finished solutions' KV for it); ``judge`` in its own context."""
        return False

    @abc.abstractmethod
    async def score(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        """One score per candidate, in order; requested together so the backend batches."""


class Comparator(abc.ABC):
    """A pairwise verifier: which of two candidates is better."""

    name: ClassVar[str]

    @abc.abstractmethod
    async def compare(
        self, problem: Problem, pairs: Sequence[tuple[Candidate, Candidate]], ctx: ScoringContext
    ) -> list[Comparison]:
        """One verdict per ordered pair, all requested together."""


Aggregate = Literal["last", "min", "product", "mean"]


class StepScorerConfig(ScorerConfig):
    #: how step scores become one: the last step's (outcome-like), the weakest step's, their
    #: product (all steps right) or their mean
    aggregate: Aggregate = "min"
    #: what separates reasoning steps in a candidate's text
    step_separator: str = "\n\n"


class StepScorer(Scorer):
    """A process verifier: a score per reasoning step, aggregated into one."""

    Config: ClassVar[type[ScorerConfig]] = StepScorerConfig

    def split_steps(self, text: str) -> list[str]:
        config = self.config
        assert isinstance(config, StepScorerConfig)
        steps = [s.strip() for s in text.split(config.step_separator)]
        return [s for s in steps if s] or [text.strip()]

    @abc.abstractmethod
    async def score_steps(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        """One ScoreValue per candidate whose ``steps`` hold the step scores."""

    async def score(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        config = self.config
        assert isinstance(config, StepScorerConfig)
        scored = await self.score_steps(problem, candidates, ctx)
        return [
            dataclasses.replace(s, value=aggregate(s.steps, config.aggregate))
            if s.steps
            else (s if s.error else ScoreValue.failed("no step scores"))
            for s in scored
        ]


def aggregate(steps: Sequence[float], how: Aggregate) -> float:
    """Fold step scores into one: last, min, product or mean."""
    if not steps:
        raise ValueError("no step scores to aggregate")
    if how == "last":
        return float(steps[-1])
    if how == "min":
        return float(min(steps))
    if how == "product":
        return float(math.prod(steps))
    return float(sum(steps) / len(steps))


# -- naming scorers in strategy options

ScorerSpec = str | Mapping[str, Any] | Scorer


def parse_scorer_spec(spec: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``"judge(mode=text,model=big)"`` or ``{"name": "judge", "mode": "text"}`` ->
    ``("judge", {"mode": "text", "model": "big"})``."""
    if isinstance(spec, Mapping):
        given = dict(spec)
        named = given.pop("name", None)
        if not isinstance(named, str):
            raise ConfigError(f"a scorer given as an object needs a 'name': {dict(spec)!r}")
        return named, given
    return parse_call(spec, "scorer")


def make_scorer(spec: ScorerSpec, *, registry: Registry | None = None) -> Scorer:
    """A scorer from its spec (options validated), or the instance given."""
    if isinstance(spec, Scorer):
        return spec
    name, options = parse_scorer_spec(spec)
    cls = (registry or default_registry()).get("scorer", name)
    scorer: Scorer = cls(**options)
    return scorer


def working_scorers(capabilities: Capabilities, *, registry: Registry | None = None) -> list[str]:
    """Names of the registered scorers whose default needs ``capabilities`` meet."""
    registry = registry or default_registry()
    names = []
    for name in registry.names("scorer"):
        cls = registry.get("scorer", name)
        needed = [*getattr(cls, "requires", ()), *getattr(cls, "requires_of_generator", ())]
        if not capabilities.missing(needed):
            names.append(name + getattr(cls, "fallback_note", ""))
    return names


class ModelScorerConfig(ScorerConfig):
    #: the Context model that does the scoring ("default": the one that generated)
    model: str = model_names(default="default", min_length=1)
