"""ponder: a test-time scaling engine for language models.

The names below are imported on first use (PEP 562), so that ``ponder --help`` and other
light commands do not pay for pydantic models, asyncio and the strategies."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ponder.api import asolve, make_strategy, solve
    from ponder.backends.base import Backend, resolve_backend
    from ponder.core.problem import Problem, Result
    from ponder.core.types import (
        Capabilities,
        Completion,
        GenerationRequest,
        GenerationResult,
        Message,
        SamplingParams,
        Usage,
    )
    from ponder.errors import PonderError
    from ponder.runtime import Budget, Context
    from ponder.strategies.base import Strategy

#: each public name -> the module that defines it
_WHERE = {
    "asolve": "ponder.api",
    "make_strategy": "ponder.api",
    "solve": "ponder.api",
    "Backend": "ponder.backends.base",
    "resolve_backend": "ponder.backends.base",
    "Problem": "ponder.core.problem",
    "Result": "ponder.core.problem",
    "Capabilities": "ponder.core.types",
    "Completion": "ponder.core.types",
    "GenerationRequest": "ponder.core.types",
    "GenerationResult": "ponder.core.types",
    "Message": "ponder.core.types",
    "SamplingParams": "ponder.core.types",
    "Usage": "ponder.core.types",
    "PonderError": "ponder.errors",
    "Budget": "ponder.runtime",
    "Context": "ponder.runtime",
    "Strategy": "ponder.strategies.base",
}

__all__ = [
    "Backend",
    "Budget",
    "Capabilities",
    "Completion",
    "Context",
    "GenerationRequest",
    "GenerationResult",
    "Message",
    "PonderError",
    "Problem",
    "Result",
    "SamplingParams",
    "Strategy",
    "Usage",
    "asolve",
    "make_strategy",
    "resolve_backend",
    "solve",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ponder' has no attribute {name!r}")
