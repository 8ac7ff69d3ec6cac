"""ponder: a test-time scaling engine for language models."""

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
