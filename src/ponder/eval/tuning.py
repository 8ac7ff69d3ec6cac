"""``ponder tune``: from a model and a sample of tasks to the plan ``auto`` runs for it.

One command instead of a sweep, ``ponder plan`` and ``auto:plan=FILE``:

1. **max_tokens**, measured: greedy at ``max_tokens`` (256 by default), doubled while more
   than ``CUT_OFF_TARGET`` of its replies are cut off (they abstain), up to
   ``max_tokens_limit``. A model that writes long answers gets the room it needs; the
   shipped default assumes SmolLM2's short ones.
2. **The calibration sweep**, chosen for cost: one self-consistency pool of 8 samples per
   temperature (every n of 1, 2, 4 and 8 is estimated from it, so one pool serves every n;
   the plan compares temperatures), greedy, and ``best_of_n`` with the ``arithmetic``
   verifier where every task asks for numbers. Stored like ``ponder eval`` (resumable: run
   the same command again and nothing stored runs twice).
3. **The plan** (``ponder.eval.planner``): the frontier, and what ``auto`` runs for each
   difficulty bin at each budget; written where ``auto`` finds it for this model
   (``ponder.strategies.auto.tuned_plan_path``, keyed by the model's identity), so
   ``-s auto:budget=N`` works with this model from then on.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ponder.api import open_models
from ponder.backends.base import Backend
from ponder.core.problem import DEFAULT_MODEL
from ponder.core.registry import default_registry
from ponder.errors import ConfigError
from ponder.eval.harness import aevaluate
from ponder.eval.planner import build, describe, measure
from ponder.strategies.auto import PlanFile, tuned_plan_path
from ponder.tasks.base import Task

#: greedy's cut-off share that max_tokens is raised until it is at most
CUT_OFF_TARGET = 0.05
#: the pool drawn per temperature
POOL = 8


@dataclasses.dataclass(frozen=True)
class TuneOutcome:
    plan: PlanFile
    path: Path
    max_tokens: int
    #: greedy's cut-off share at each max_tokens tried
    cut_off: dict[int, float]
    settings: list[str]
    text: str


def sweep(tasks: Sequence[Task], temperatures: Sequence[float], max_tokens: int) -> list[str]:
    """The calibration settings: greedy, a pool per temperature, and the verifier that
    applies to every task (the arithmetic checker, for number answers)."""
    specs = [f"greedy:max_tokens={max_tokens}"]
    ns = "|".join(str(n) for n in (1, 2, 4, POOL))
    for t in temperatures:
        specs.append(f"self_consistency:n={ns},temperature={t:g},max_tokens={max_tokens}")
    types = set()
    for task in tasks:
        first = list(task.problems(1))
        types.add(first[0].answer.type if first and first[0].answer else None)
    if types == {"number"}:
        t = min(temperatures, key=lambda x: abs(x - 0.4))
        specs.append(f"best_of_n:n=4,scorer=arithmetic,temperature={t:g},max_tokens={max_tokens}")
    return specs


async def atune(
    tasks: Sequence[Task],
    *,
    backend: Backend | str | None = None,
    out: str | Path,
    seed: int = 0,
    limit: int | None = 20,
    temperatures: Sequence[float] = (0.4, 0.8),
    max_tokens: int = 256,
    max_tokens_limit: int = 2048,
    budgets: Sequence[float] = (),
    progress: TextIO | None = None,
    backend_options: Mapping[str, Any] | None = None,
    plan_out: str | Path | None = None,
) -> TuneOutcome:
    """Measure ``backend``'s model on ``tasks`` and write the plan ``auto`` will use."""
    if not tasks:
        raise ConfigError("ponder tune needs at least one task (-t TASK), like your problems")
    if max_tokens < 1 or max_tokens_limit < max_tokens:
        raise ConfigError("--max-tokens must be at least 1 and at most --max-tokens-limit")
    if not temperatures or any(t <= 0 for t in temperatures):
        raise ConfigError("each --temperature must be above 0 (greedy is swept anyway)")
    registry = default_registry()
    async with contextlib.AsyncExitStack() as stack:
        backends = await stack.enter_async_context(
            open_models(backend, None, registry, backend_options)
        )
        model = backends[DEFAULT_MODEL]
        common: dict[str, Any] = {
            "out": out,
            "backend": model,
            "seed": seed,
            "limit": limit,
            "progress": progress,
        }
        cut: dict[int, float] = {}
        chosen = max_tokens
        while True:
            greedy = await aevaluate(tasks, [f"greedy:max_tokens={chosen}"], **common)
            shares = [r["cut_off_share"] for r in greedy.summary["results"]]
            cut[chosen] = sum(shares) / len(shares) if shares else 0.0
            if cut[chosen] <= CUT_OFF_TARGET or chosen * 2 > max_tokens_limit:
                break
            chosen *= 2
        settings = sweep(tasks, temperatures, chosen)
        await aevaluate(tasks, settings, **common)
        identity = await model.identity()
    measured = measure([out])
    plan = build(measured)
    path = tuned_plan_path(identity)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = plan.model_dump_json(indent=2) + "\n"
    path.write_text(text)
    if plan_out is not None:
        Path(plan_out).write_text(text)
    lines = [describe(measured, plan, None), "", "max_tokens, measured on greedy's replies:"]
    lines += [
        f"  {m:>5}: {share:.0%} cut off" + ("  <- chosen" if m == chosen else "")
        for m, share in sorted(cut.items())
    ]
    if cut[chosen] > CUT_OFF_TARGET:
        lines.append(
            f"  ({cut[chosen]:.0%} are still cut off at --max-tokens-limit {max_tokens_limit}:"
            " raise it if the model needs longer replies)"
        )
    lines += ["", "what auto will do (mean computed tokens a problem):"]
    for budget in budgets or _budgets(plan):
        choices, why = plan.choose(budget)
        picks = ", ".join(f"{b.name}: {c.label}" for b, c in zip(plan.bins, choices, strict=True))
        lines.append(f"  auto:budget={budget:g}  {picks}  ({why})")
    lines += ["", f"wrote {path}: `-s auto:budget=N` now uses it for {identity}"]
    return TuneOutcome(plan, path, chosen, cut, settings, "\n".join(lines))


def _budgets(plan: PlanFile) -> list[float]:
    """Budgets that show the plan's range: its cheapest and dearest mean cost, and between."""
    costs = sorted({round(o.cost) for b in plan.bins for o in b.options})
    if not costs:
        return []
    low, high = costs[0], costs[-1]
    return sorted({float(low), float(round((low + high) / 2)), float(high)})
