"""The Python API in a few lines.

One question, with a backend made and closed for it::

    import ponder

    result = ponder.solve("What is 7 * 8?", strategy="self_consistency", n=8)
    print(result.answer, result.usage.total_tokens)

Many questions, with the model loaded once::

    backend = ponder.resolve_backend()  # the embedded SmolLM2 model
    ponder.solve("What is 2 + 2?", strategy="greedy", backend=backend)
"""

from __future__ import annotations

import asyncio
from typing import Any

from ponder.backends.base import Backend, resolve_backend
from ponder.registry import Registry, default_registry
from ponder.runtime import Budget, Context
from ponder.strategies.base import Problem, Result, Strategy


def make_strategy(
    name_or_strategy: str | Strategy, *, registry: Registry | None = None, **options: Any
) -> Strategy:
    """A strategy by registered name (options validated), or the instance given."""
    if isinstance(name_or_strategy, Strategy):
        if options:
            raise TypeError("options go to the strategy's constructor, not to make_strategy")
        return name_or_strategy
    cls = (registry or default_registry()).get("strategy", name_or_strategy)
    strategy: Strategy = cls(**options)
    return strategy


async def asolve(
    problem: Problem | str,
    *,
    strategy: str | Strategy = "self_consistency",
    backend: Backend | str | None = None,
    budget: Budget | None = None,
    registry: Registry | None = None,
    **options: Any,
) -> Result:
    """Solve one problem. A backend given by spec (or None) is created and closed here."""
    registry = registry or default_registry()
    chosen = make_strategy(strategy, registry=registry, **options)  # fail before loading
    owned = not isinstance(backend, Backend)
    instance = (
        backend if isinstance(backend, Backend) else resolve_backend(backend, registry=registry)
    )
    try:
        return await chosen.run(problem, Context(instance, budget=budget))
    finally:
        if owned:
            await instance.aclose()


def solve(problem: Problem | str, **kwargs: Any) -> Result:
    """Synchronous ``asolve`` (runs its own event loop)."""
    return asyncio.run(asolve(problem, **kwargs))
