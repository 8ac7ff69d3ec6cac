"""``mcts`` and ``best_first``: tree search over reasoning steps.

``mcts`` is Monte Carlo tree search with UCT (Kocsis & Szepesvári 2006) over steps, in the
manner of the step-level MCTS of rStar (arXiv 2408.06195) and its relatives: each iteration
descends from the root by UCT (``exploration`` is its constant c; an unvisited child first),
expands the leaf it reaches into ``width`` next steps (one request), values each new step by
the step verifier (``value=score``) or by a rollout from it to a finished solution scored by
the verifier (``value=rollout``), and backs the values up the path (mean value per node).
It stops after ``iterations`` or when the budget runs out. The answer is chosen among the
finished solutions (rollouts included) by score, or by vote (``final=vote``). Deviation: a
leaf is expanded all ``width`` ways at once (one batched request), not one child per
iteration; a step whose score failed is valued 0.

``best_first`` is A*-style best-first decoding over steps (cf. "A*-decoding", techniques.md
section C): a priority queue of partial solutions ordered by verifier score minus
``length_penalty`` x (the path's tokens / 100), a token-efficiency term; the best is
expanded ``width`` ways, and the first *finished* solution taken from the queue is the
answer (as A* stops at the first goal it pops). It stops after ``max_expansions`` (then
the best finished solution, by score, answers).
"""

from __future__ import annotations

import heapq
import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from ponder.core.problem import Problem
from ponder.errors import BudgetExhausted
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


class MCTSConfig(SearchConfig):
    iterations: int = Field(8, ge=1, le=10_000)
    #: next steps sampled when a leaf is expanded
    width: int = Field(3, ge=1, le=256)
    #: UCT's exploration constant c
    exploration: float = Field(1.4, ge=0.0)
    #: a new step's value: its verifier score, or the score of a rollout to the end
    value: Literal["score", "rollout"] = "score"


class MCTS(Strategy):
    """UCT over reasoning steps, valued by the step verifier or by rollouts."""

    name = "mcts"
    Config: ClassVar[type[SamplingConfig]] = MCTSConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        assert isinstance(self.config, MCTSConfig)
        self.scorer = search_scorer(self.config.scorer, f"strategy {self.name!r}")

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, MCTSConfig)
        self.scorer.check(ctx)
        # the tree it may come back to: every expansion's children
        frontier = config.iterations * config.width
        search = StepSearch(problem, ctx, config, self.scorer, frontier=frontier)
        visits: dict[int, int] = {}
        total: dict[int, float] = {}

        def uct(parent: Node, child: Node) -> float:
            n = visits.get(child.id, 0)
            if n == 0:
                return math.inf
            explore = config.exploration * math.sqrt(math.log(visits[parent.id]) / n)
            return total[child.id] / n + explore

        def backup(node: Node, value: float) -> None:
            current: Node | None = node
            while current is not None:
                visits[current.id] = visits.get(current.id, 0) + 1
                total[current.id] = total.get(current.id, 0.0) + value
                current = None if current.parent is None else search.nodes[current.parent]

        done = 0
        for done in range(config.iterations):  # noqa: B007 - reported below
            leaf = search.root
            while steps := [search.nodes[i] for i in leaf.children]:
                parent = leaf
                steps = [c for c in steps if not c.rollout]
                if not steps:
                    break
                leaf = max(steps, key=lambda c: uct(parent, c))
            if leaf.finished:
                backup(leaf, _worth(leaf))
                continue
            try:
                children = await search.expand([leaf], [config.width])
                await search.score(children)
                values = [_worth(c) for c in children]
                if config.value == "rollout":
                    values = await self._rollouts(search, children)
            except BudgetExhausted as exc:
                if leaf is search.root:
                    raise first_round(exc, f"strategy {self.name!r}") from exc
                search.notes.append(f"stopped after {done} iterations: {exc}")
                break
            for child, value in zip(children, values, strict=True):
                backup(child, value)
        else:
            done = config.iterations
        for node in search.nodes:
            node.visits = visits.get(node.id, 0)
        details = {
            "iterations": done,
            "width": config.width,
        }
        return search.outcome(details)

    async def _rollouts(self, search: StepSearch, children: list[Node]) -> list[float]:
        """Each unfinished child's value: the score of one rollout from it to the end."""
        live = [c for c in children if not c.finished]
        ends = await search.expand(live, [1] * len(live), to_end=True) if live else []
        for end in ends:
            end.rollout = True
        await search.score(ends)
        by_parent = {e.parent: e for e in ends}
        return [_worth(by_parent.get(c.id, c)) for c in children]


def _worth(node: Node) -> float:
    """A node's value for backing up: its score, 0 when it has none."""
    return node.score if node.score is not None else 0.0


class BestFirstConfig(SearchConfig):
    #: next steps sampled from each expanded node
    width: int = Field(3, ge=1, le=256)
    max_expansions: int = Field(16, ge=1, le=10_000)
    #: priority = score - length_penalty x (path tokens / 100): prefers short solutions
    length_penalty: float = Field(0.0, ge=0.0)


class BestFirst(Strategy):
    """A priority queue of partial solutions; the first finished one popped answers."""

    name = "best_first"
    Config: ClassVar[type[SamplingConfig]] = BestFirstConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        assert isinstance(self.config, BestFirstConfig)
        self.scorer = search_scorer(self.config.scorer, f"strategy {self.name!r}")

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, BestFirstConfig)
        self.scorer.check(ctx)
        frontier = config.max_expansions * config.width
        search = StepSearch(problem, ctx, config, self.scorer, frontier=frontier)
        queue: list[tuple[float, int]] = []

        def push(nodes: list[Node]) -> None:
            for node in nodes:
                priority = node.value - config.length_penalty * search.tokens_of(node) / 100
                heapq.heappush(queue, (-priority, node.id))

        try:
            first = await search.expand([search.root], [config.width])
        except BudgetExhausted as exc:
            raise first_round(exc, f"strategy {self.name!r}") from exc
        await search.score(first)
        push(first)
        expansions, goal = 1, None
        while queue and expansions < config.max_expansions:
            node = search.nodes[heapq.heappop(queue)[1]]
            if node.finished:
                goal = node
                break
            try:
                children = await search.expand([node], [config.width])
            except BudgetExhausted as exc:
                search.notes.append(f"stopped after {expansions} expansions: {exc}")
                break
            expansions += 1
            await search.score(children)
            push(children)
        if goal is None:  # the queue's best finished solution, if it holds one
            waiting = [search.nodes[i] for _, i in sorted(queue)]
            goal = next((n for n in waiting if n.finished), None)
        for _, i in queue:
            if search.nodes[i] is not goal:
                search.nodes[i].pruned = search.nodes[i].pruned or "left in the queue"
        details = {"expansions": expansions, "width": config.width}
        return search.outcome(details, chosen=goal)
