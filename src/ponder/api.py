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
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ponder.backends.base import Backend, resolve_backend
from ponder.core.problem import DEFAULT_MODEL, Problem, Result
from ponder.core.registry import Registry, default_registry
from ponder.errors import ConfigError, UnknownNameError
from ponder.runtime import Budget, Context
from ponder.strategies.base import BatchStrategy, Strategy


def make_strategy(
    name_or_strategy: str | Strategy, *, registry: Registry | None = None, **options: Any
) -> Strategy:
    """A strategy by registered name (options validated), or the instance given."""
    if isinstance(name_or_strategy, Strategy):
        if options:
            raise TypeError("options go to the strategy's constructor, not to make_strategy")
        return name_or_strategy
    registry = registry or default_registry()
    try:
        cls = registry.get("strategy", name_or_strategy)
    except UnknownNameError as exc:
        if name_or_strategy in registry.names("batch_strategy"):
            exc.add_note(
                f"{name_or_strategy} spends one budget across many problems: use it in "
                f"`ponder eval --strategy {name_or_strategy}:...`, or call "
                "make_batch_strategy(...).solve_batch"
            )
        raise
    strategy: Strategy = cls(**options)
    return strategy


def make_batch_strategy(
    name: str, *, registry: Registry | None = None, **options: Any
) -> BatchStrategy:
    """A budget-level strategy (``allocate``) by registered name, options validated."""
    cls = (registry or default_registry()).get("batch_strategy", name)
    strategy: BatchStrategy = cls(**options)
    return strategy


async def asolve(
    problem: Problem | str,
    *,
    strategy: str | Strategy = "self_consistency",
    backend: Backend | str | None = None,
    budget: Budget | float | None = None,
    registry: Registry | None = None,
    named_models: Mapping[str, Backend | str] | None = None,
    backend_options: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    **more: Any,
) -> Result:
    """Solve one problem. A backend given by spec (or None) is created and closed here, with
    ``backend_options`` (``n_ctx``, ``n_parallel``, ... for the embedded engine; ``api_key``,
    ``timeout``, ... for a server). ``named_models`` adds models for strategies that use
    several (``model_switch``, ``multi_verifier``, a judge with ``model=``): name -> backend
    or spec.

    The strategy's options come as keywords or as ``options`` (which may hold any name,
    these keywords' included). ``budget`` is a ``Budget`` (what the run may spend); a number
    is the strategy's own ``budget`` option (``auto``'s tokens a problem):
    ``solve(q, strategy="auto", budget=300)``."""
    registry = registry or default_registry()
    given = {**(options or {}), **more}
    if budget is not None and not isinstance(budget, Budget):
        given.setdefault("budget", budget)
        budget = None
    chosen = make_strategy(strategy, registry=registry, **given)  # fail before loading
    async with open_models(backend, named_models, registry, backend_options) as backends:
        result = await chosen.run(problem, Context(backends, budget=budget))
        return dataclasses.replace(result, backend=backends[DEFAULT_MODEL].info())


@contextlib.asynccontextmanager
async def open_models(
    backend: Backend | str | None,
    models: Mapping[str, Backend | str] | None,
    registry: Registry,
    backend_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[dict[str, Backend]]:
    """The default model and the named ones, as backends; those given by spec are created
    here and closed on exit (also when creating a later one fails). ``backend_options`` go
    to the default model's backend."""
    given = {DEFAULT_MODEL: backend, **(models or {})}
    if models and DEFAULT_MODEL in models:
        raise ConfigError(f"the model name {DEFAULT_MODEL!r} is the main model (--model)")
    if backend_options and isinstance(backend, Backend):
        raise ConfigError(
            "backend options apply to a backend given by spec (or the default one); "
            "pass them to the backend's constructor instead"
        )
    opened: dict[str, Backend] = {}
    owned: list[Backend] = []
    try:
        for name, spec in given.items():
            if isinstance(spec, Backend):
                opened[name] = spec
            else:
                extra = dict(backend_options or {}) if name == DEFAULT_MODEL else {}
                opened[name] = resolve_backend(spec, registry=registry, **extra)
                owned.append(opened[name])
        yield opened
    finally:
        for instance in owned:
            await instance.aclose()


def solve(problem: Problem | str, **kwargs: Any) -> Result:
    """Synchronous ``asolve`` (runs its own event loop)."""
    return asyncio.run(asolve(problem, **kwargs))
