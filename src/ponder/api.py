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
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ponder.backends.base import Backend, resolve_backend
from ponder.errors import ConfigError, UnknownNameError
from ponder.registry import Registry, default_registry
from ponder.runtime import DEFAULT_MODEL, Budget, Context
from ponder.strategies.base import Problem, Result, Strategy


def parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def split_options(text: str) -> list[str]:
    """``"a=1,b=judge(x=1,y=2),c=[1,2]"`` -> ``["a=1", "b=judge(x=1,y=2)", "c=[1,2]"]``:
    commas inside brackets, braces, parentheses or quotes do not split."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_strategy_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"self_consistency:n=8,temperature=0.7"`` -> ``("self_consistency", {...})``.

    Values are read as JSON where they parse (``8``, ``0.7``, ``null``, ``true``,
    ``["a","b"]``), as text otherwise. Commas inside brackets or parentheses belong to the
    value: ``best_of_n:n=8,scorer=judge(mode=text,model=big)``.
    """
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in split_options(rest):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"strategy option {item!r} in {spec!r} is not of the form key=value")
        options[key.strip()] = parse_value(value.strip())
    if not name.strip():
        raise ConfigError(f"strategy spec {spec!r} names no strategy")
    return name.strip(), options


def expand_strategy_spec(spec: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Several settings from one spec: ``self_consistency:n=1|4|16`` gives three.

    Each ``a|b|c`` value is a list of alternatives; several lists give their product. Returns
    ``(label, name, options)`` per setting, the label written as on a command line.
    """
    name, options = parse_strategy_spec(spec.replace("|", "\x00"))
    choices = {
        key: [parse_value(v) for v in value.split("\x00")]
        if isinstance(value, str) and "\x00" in value
        else [value]
        for key, value in options.items()
    }
    settings = []
    for values in itertools.product(*choices.values()):
        chosen = dict(zip(choices, values, strict=True))
        shown = ",".join(f"{k}={_show(v)}" for k, v in chosen.items())
        label = f"{name}:{shown}" if shown else name
        settings.append((label, name, chosen))
    return settings


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def make_strategy(
    name_or_strategy: str | Strategy, *, registry: Registry | None = None, **options: Any
) -> Strategy:
    """A strategy by registered name (options validated), or the instance given."""
    if isinstance(name_or_strategy, Strategy):
        if options:
            raise TypeError("options go to the strategy's constructor, not to make_strategy")
        return name_or_strategy
    try:
        cls = (registry or default_registry()).get("strategy", name_or_strategy)
    except UnknownNameError as exc:
        if name_or_strategy == "allocate":
            exc.add_note(
                "allocate spends one budget across many problems: use it in `ponder eval "
                "--strategy allocate:tokens_per_problem=N`, or call ponder.allocate.allocate"
            )
        raise
    strategy: Strategy = cls(**options)
    return strategy


async def asolve(
    problem: Problem | str,
    *,
    strategy: str | Strategy = "self_consistency",
    backend: Backend | str | None = None,
    budget: Budget | None = None,
    registry: Registry | None = None,
    named_models: Mapping[str, Backend | str] | None = None,
    backend_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> Result:
    """Solve one problem. A backend given by spec (or None) is created and closed here, with
    ``backend_options`` (``n_ctx``, ``n_parallel``, ... for the embedded engine; ``api_key``,
    ``timeout``, ... for a server). ``named_models`` adds models for strategies that use
    several (``model_switch``, ``multi_verifier``, a judge with ``model=``): name -> backend
    or spec."""
    registry = registry or default_registry()
    chosen = make_strategy(strategy, registry=registry, **options)  # fail before loading
    async with open_models(backend, named_models, registry, backend_options) as backends:
        return await chosen.run(problem, Context(backends, budget=budget))


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
