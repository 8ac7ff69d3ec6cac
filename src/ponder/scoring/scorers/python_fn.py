"""``python``: any user function ``(problem, candidate) -> float`` as a scorer.

From Python, pass the function itself::

    PythonScorer(fn=lambda problem, candidate: float(candidate.answer == "42"))

From the command line or an eval setting, name it by import path:
``best_of_n:scorer=python(function=mypackage.checks:score)``. The function may be sync (it
runs in a worker thread) or async. An exception, or a return value that is not a finite
number, is a recorded failure naming the function and what it did.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import operator_only
from ponder.errors import ConfigError
from ponder.scoring.scorers.base import Scorer, ScorerConfig, ScoreValue, ScoringContext

ScoreFunction = Callable[[Problem, Candidate], Any]


class PythonConfig(ScorerConfig):
    #: ``module:attribute`` of the function (not needed when ``fn`` is given in Python)
    function: str | None = operator_only(None, "a module to import")


class PythonScorer(Scorer):
    """Scores each candidate with a Python function."""

    name = "python"
    Config: ClassVar[type[ScorerConfig]] = PythonConfig
    scores_partial = True

    def __init__(self, fn: ScoreFunction | None = None, **options: Any) -> None:
        super().__init__(**options)
        assert isinstance(self.config, PythonConfig)
        if fn is None:
            if not self.config.function:
                raise ConfigError(
                    "scorer 'python' needs a function: function=module:attribute, or fn= "
                    "from Python"
                )
            fn = load_function(self.config.function)
        self.fn = fn
        self.label = getattr(fn, "__qualname__", repr(fn))

    async def score(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        return list(await asyncio.gather(*(self._one(problem, c) for c in candidates)))

    async def _one(self, problem: Problem, candidate: Candidate) -> ScoreValue:
        try:
            if inspect.iscoroutinefunction(self.fn):
                value = await self.fn(problem, candidate)
            else:
                value = await asyncio.to_thread(self.fn, problem, candidate)
        except Exception as exc:  # the user's function failed: recorded, not raised
            return ScoreValue.failed(f"{self.label} raised {type(exc).__name__}: {exc}")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return ScoreValue.failed(f"{self.label} returned {value!r}, not a finite number")
        return ScoreValue(float(value))


def load_function(path: str) -> ScoreFunction:
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"function {path!r} should read module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} for the python scorer: {exc}") from exc
    fn = getattr(module, attribute, None)
    if not callable(fn):
        raise ConfigError(f"{path!r} is not a function")
    return fn  # type: ignore[no-any-return]
