"""``ab_mcts``: adaptive-branching MCTS ("go wider or deeper") over reasoning steps.

Inoue et al., "Wider or Deeper? Scaling LLM Inference-Time Compute with Adaptive Branching
Tree Search" (arXiv 2503.04412). The algorithm is not written again here: Sakana AI's
TreeQuest package (``pip install 'ponder[treequest]'``) decides, through its ask-tell
interface, which node to expand next (AB-MCTS-A, Thompson sampling over "a new child here"
against "go deeper under an existing child"), and ponder does the generating: each round asks
TreeQuest for ``batch`` expansions, draws them as one request per distinct parent (n = the
expansions it asked of that parent, so the backend batches them and the embedded engine
continues each from its parent's KV), scores the new steps with the step verifier, and tells
TreeQuest the scores. It stops after ``iterations`` generated steps or when the budget runs
out; the answer is the best finished solution by score, or by vote (``final=vote``).

Deviations: TreeQuest may ask to expand a *finished* solution; a finished solution has no next
step, so that expansion is told back with the solution's own score at no cost (it still counts
as an iteration, as a repeated evaluation). TreeQuest draws from NumPy's global random state;
each ask runs under a state seeded from the strategy's seed and the previous state is put
back, so runs are reproducible and nothing else's randomness is disturbed.
"""

from __future__ import annotations

import contextlib
import random
import types
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

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


class ABMCTSConfig(SearchConfig):
    #: steps generated in all (TreeQuest's generation budget)
    iterations: int = Field(16, ge=1, le=10_000)
    #: expansions asked of TreeQuest at once (drawn as one batched round)
    batch: int = Field(4, ge=1, le=256)
    #: AB-MCTS-A's score model: gaussian, or beta (scores must lie in [0, 1])
    dist_type: Literal["gaussian", "beta"] = "gaussian"


class ABMCTS(Strategy):
    """AB-MCTS-A (TreeQuest) choosing where to expand; ponder generating and verifying."""

    name = "ab_mcts"
    Config: ClassVar[type[SamplingConfig]] = ABMCTSConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        assert isinstance(self.config, ABMCTSConfig)
        self.scorer = search_scorer(self.config.scorer, f"strategy {self.name!r}")
        try:
            import treequest
        except ImportError as exc:
            raise ConfigError(
                "strategy 'ab_mcts' drives Sakana AI's TreeQuest, which is not installed; "
                "install it with `pip install 'ponder[treequest]'`"
            ) from exc
        _ulid_compatible()
        self._treequest = treequest

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, ABMCTSConfig)
        self.scorer.check(ctx)
        search = StepSearch(problem, ctx, config, self.scorer, frontier=config.iterations)
        algo: Any = self._treequest.ABMCTSA(dist_type=config.dist_type)
        rng = random.Random(config.seed if config.seed is not None else 0)
        with _numpy_seeded(rng):
            state = algo.init_tree()
        done = repeats = 0
        while done < config.iterations:
            with _numpy_seeded(rng):
                state, trials = algo.ask_batch(
                    state, min(config.batch, config.iterations - done), ["step"]
                )
            asked: dict[int, list[Any]] = {}
            for trial in trials:
                asked.setdefault(
                    0 if trial.parent_state is None else trial.parent_state, []
                ).append(trial)
            parents = [search.nodes[i] for i in asked if not search.nodes[i].finished]
            try:
                children = await search.expand(parents, [len(asked[p.id]) for p in parents])
            except BudgetExhausted as exc:
                if done == 0:
                    raise first_round(exc, f"strategy {self.name!r}") from exc
                search.notes.append(f"stopped after {done} steps: {exc}")
                break
            await search.score(children)
            told: list[tuple[Any, Node]] = []
            for parent_id, group in asked.items():
                parent = search.nodes[parent_id]
                if parent.finished:  # no next step: its own score again, at no cost
                    told.extend((trial, parent) for trial in group)
                    repeats += len(group)
                    continue
                mine = [c for c in children if c.parent == parent_id]
                told.extend(zip(group, mine, strict=False))
            for trial, node in told:
                score = node.score if node.score is not None else 0.0
                state = algo.tell(state, trial.trial_id, (node.id, score))
            done += len(trials)
        return search.outcome({"iterations": done, "repeated_finished": repeats})


def _ulid_compatible() -> None:
    """TreeQuest names its trials with ``ulid.new()`` from the ``ulid-py`` package, but
    ``python-ulid`` (which the ``llm`` package behind the bundled model needs) installs a
    module of the same name, and whichever was installed last owns it. With python-ulid's,
    TreeQuest's trial module is given ``new`` = ``ULID`` (both give a unique id as str)."""
    import treequest.trial as trial

    module = getattr(trial, "ulid", None)
    if module is not None and not hasattr(module, "new") and hasattr(module, "ULID"):
        setattr(trial, "ulid", types.SimpleNamespace(new=module.ULID))  # noqa: B010


@contextlib.contextmanager
def _numpy_seeded(rng: random.Random) -> Iterator[None]:
    """NumPy's global random state seeded from ``rng`` inside, restored after."""
    import numpy as np

    saved = np.random.get_state()
    np.random.seed(rng.randrange(2**32))
    try:
        yield
    finally:
        np.random.set_state(saved)
