"""What every strategy shares: the problem it solves, the result it returns, its config.

A strategy is a small immutable object: its settings are a validated pydantic ``Config``
(unknown keys refused), its per-run state lives in locals and in the Context, and its one
method ``solve`` talks to the runtime only (``await ctx.sample(...)``), never to a backend.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from ponder.core.problem import Candidate, Problem, Result, validate_options
from ponder.core.types import Message
from ponder.errors import ConfigError
from ponder.runtime.context import Context
from ponder.runtime.ledger import Budget
from ponder.runtime.sampling import StrategyConfig, build_sampler
from ponder.scoring.answers import Vote


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
    #: whether it draws its candidates through ``draw_candidates``, so that a ``sampler=``
    #: (a sequential strategy) can produce each of them (composition)
    composes: ClassVar[bool] = False
    #: why it cannot take a sampler, said when one is given
    not_composable_because: ClassVar[str] = "does not draw independent candidates"
    #: whether it turns one problem into one candidate through a sequence of calls, and so
    #: can be another strategy's sampler (budget_forcing, think_twice, self_refine, ...)
    sequential: ClassVar[bool] = False
    not_sequential_because: ClassVar[str] = "is not one"

    def __init__(self, **options: Any) -> None:
        self.config = validate_options(self.Config, options, f"strategy {self.name!r}")
        sampler = getattr(self.config, "sampler", None)
        if sampler is not None:
            if not self.composes:
                raise ConfigError(
                    f"strategy {self.name!r} cannot take a sampler: it "
                    f"{self.not_composable_because}; strategies that can: "
                    "self_consistency, best_of_n, fuse, moa, debate, self_verify, "
                    "weighted_self_consistency, shortest_majority, knockout, multi_verifier, "
                    "model_switch"
                )
            build_sampler(sampler, what=f"sampler of strategy {self.name!r}")

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


def require_models(ctx: Context, names: Iterable[str]) -> None:
    """Every named Context model exists (an UnknownNameError naming the choices if not),
    checked before a strategy spends anything."""
    for name in dict.fromkeys(names):
        ctx.model(name)


def chosen_outcome(
    vote: Vote, candidates: Sequence[Candidate], chosen: Candidate, details: dict[str, Any]
) -> Outcome:
    """``chosen`` as the Outcome (a selection that may overrule the vote), with the vote's
    details and ``chosen``'s index."""
    outcome = outcome_of(vote, candidates, {**details, "chosen": chosen.index})
    return Outcome(chosen.answer, chosen.text, outcome.candidates, outcome.details)


#: the fewest characters a token holds in the texts strategies show a model (a digit is a token
#: of its own in some vocabularies; prose and code run 3-4 characters a token)
CHARS_PER_TOKEN = 2
#: tokens a prompt needs beyond its text (the chat template's markers)
TEMPLATE_TOKENS = 64
#: the fewest characters of a text a prompt shows (less says too little to be worth showing)
MIN_SHOWN_CHARS = 200


def shown_chars(
    ctx: Context, models: Iterable[str], configured: int, count: int, around: int, reply: int
) -> int:
    """How many characters of each of ``count`` texts (other samples' replies, programs) one
    prompt to ``models`` shows: ``configured``, or less where the smallest of those models'
    contexts (where its backend says) could not hold ``count`` of them beside ``around``
    characters of other prompt text and a reply of ``reply`` tokens, counting
    ``CHARS_PER_TOKEN`` characters a token. Never below ``MIN_SHOWN_CHARS``: a prompt still
    too long fails as one (``ContextLengthError``), which an eval records for that problem."""
    windows = [ctx.model(name).context_length for name in dict.fromkeys(models)]
    known = [w for w in windows if w is not None]
    if not known:
        return configured
    room = (min(known) - reply - TEMPLATE_TOKENS) * CHARS_PER_TOKEN - around
    return max(MIN_SHOWN_CHARS, min(configured, room // max(1, count)))


def message_chars(messages: Iterable[Message]) -> int:
    """The characters of ``messages``' texts (for ``shown_chars``'s ``around``)."""
    return sum(len(m.content) for m in messages)


def chars_around(problem: Problem, template: str, texts: int, heading: int = 20) -> int:
    """The characters of a prompt that fills ``template`` with the problem's question and
    ``texts`` shown texts, besides those texts: the problem's system prompt, its question,
    the template, and each text's ``heading`` (for ``shown_chars``'s ``around``)."""
    shown = message_chars(problem.preamble()) + len(problem.question) + len(template)
    return shown + heading * texts


def clipped(text: str, limit: int) -> str:
    """``text``, or its last ``limit`` characters after "..." (a reply's end holds its answer)."""
    return text if len(text) <= limit else "..." + text[-limit:]


class BatchStrategy(abc.ABC):
    """A budget-level strategy: it spends one budget across a batch of problems at once
    (``allocate``), rather than solving each problem on its own. Registered under the
    entry-point group ``ponder.batch_strategies``; ``ponder eval`` runs one per task.

    Subclasses set ``name`` and ``Config`` and implement ``budget`` (what a batch of so many
    problems may spend: the caller's Context gets it), ``check`` (refuse, before any work, a
    batch the settings cannot serve) and ``solve_batch`` (one Result per problem, in order,
    each with its own usage and ledger)."""

    name: ClassVar[str]
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig

    def __init__(self, **options: Any) -> None:
        self.config = validate_options(self.Config, options, f"strategy {self.name!r}")
        if getattr(self.config, "sampler", None) is not None:
            raise ConfigError(
                f"strategy {self.name!r} cannot take a sampler: it spends one budget across "
                "problems round by round and cuts samples short, which a sequential "
                "sampler's several calls do not allow"
            )

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({options})"

    def check(self, problems: int, label: str) -> None:  # noqa: B027 - optional hook
        """Raise a ConfigError if a batch of ``problems`` cannot be served (``label`` names
        the batch in the message)."""

    @abc.abstractmethod
    def budget(self, problems: int) -> Budget:
        """The budget of a batch of ``problems``."""

    @abc.abstractmethod
    async def solve_batch(
        self, problems: Sequence[Problem], ctx: Context, *, seed_of: Callable[[Problem], int]
    ) -> list[Result]:
        """One Result per problem, in order. ``seed_of`` gives each problem its base seed."""
