"""``beam_search`` and ``dvts``: verifier-guided beam search over reasoning steps.

``beam_search`` follows Snell et al., "Scaling LLM Test-Time Compute Optimally can be More
Effective than Scaling Model Parameters" (arXiv 2408.03314), as HF's search-and-learn
implements it: sample N first steps; keep the N/M best by the step verifier; expand each kept
prefix M ways; repeat until every beam has finished or ``max_steps`` (the last step runs to
the end of the reply). The answer is the best finished solution by the verifier, or the
majority of their answers (``final=vote``).

``dvts`` is search-and-learn's Diverse Verifier Tree Search: the N first steps form N/M
independent subtrees of M; each subtree keeps only its best step and expands it M ways, so
the N/M subtrees explore apart instead of collapsing onto one prefix.

Deviation: N must be a multiple of M (refused otherwise, not rounded, so the compute is the
one asked for). Beams that finish leave the beam; the beam is not refilled from lower ranks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Problem
from ponder.errors import BudgetExhausted, ConfigError
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig
from ponder.strategies.base import Outcome, Strategy
from ponder.strategies.search.tree import (
    Node,
    SearchConfig,
    StepSearch,
    first_round,
    search_scorer,
)


class BeamConfig(SearchConfig):
    #: step samples per round (N)
    n: int = Field(8, ge=1, le=1024)
    #: children of each kept prefix (M): N/M prefixes are kept each round
    beam_width: int = Field(4, ge=1, le=1024)


class BeamSearch(Strategy):
    """Keep the N/M best partial solutions, expand each M ways, repeat."""

    name = "beam_search"
    Config: ClassVar[type[SamplingConfig]] = BeamConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        config = self._config
        if config.n % config.beam_width:
            raise ConfigError(
                f"strategy {self.name!r}: n={config.n} is not a multiple of "
                f"beam_width={config.beam_width}; each round keeps n/beam_width prefixes and "
                f"expands each beam_width ways, so choose n = k x beam_width (say "
                f"n={config.n - config.n % config.beam_width or config.beam_width})"
            )
        self.scorer = search_scorer(config.scorer, f"strategy {self.name!r}")

    @property
    def _config(self) -> BeamConfig:
        assert isinstance(self.config, BeamConfig)
        return self.config

    def groups(self, first: list[Node]) -> list[tuple[list[Node], int]]:
        """The first round's steps as (subtree, prefixes it keeps): one subtree here."""
        config = self._config
        return [(first, config.n // config.beam_width)]

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        self.scorer.check(ctx)
        search = StepSearch(problem, ctx, config, self.scorer, frontier=config.n)
        try:
            first = await search.expand([search.root], [config.n])
        except BudgetExhausted as exc:
            raise first_round(exc, f"strategy {self.name!r}") from exc
        await search.score(first)
        groups = self.groups(first)
        rounds = 1
        while True:
            kept: list[Node] = []
            next_groups: list[tuple[list[Node], int]] = []
            for members, keep in groups:
                live = sorted(
                    (n for n in members if not n.finished), key=lambda n: (-n.value, n.id)
                )
                for node in live[keep:]:
                    node.pruned = f"ranked below the best {keep} of its round"
                kept.extend(live[:keep])
                next_groups.append((live[:keep], keep))
            if not kept:
                break
            try:
                children = await search.expand(kept, [config.beam_width] * len(kept))
            except BudgetExhausted as exc:
                for node in kept:
                    node.pruned = "the budget ran out"
                search.notes.append(f"stopped after {rounds} rounds: {exc}")
                break
            rounds += 1
            await search.score(children)
            groups = [
                ([c for c in children if c.parent in {p.id for p in parents}], keep)
                for parents, keep in next_groups
            ]
        return search.outcome({"n": config.n, "beam_width": config.beam_width, "rounds": rounds})


class DVTS(BeamSearch):
    """N/M independent subtrees, each a beam of width M that keeps its one best step."""

    name = "dvts"

    def groups(self, first: list[Node]) -> list[tuple[list[Node], int]]:
        width = self._config.beam_width
        return [(first[i : i + width], 1) for i in range(0, len(first), width)]
