"""Strategies: the test-time scaling algorithms, each written once, backend-agnostic."""

from ponder.core.problem import Candidate, Problem, Result
from ponder.strategies.base import Outcome, Strategy

__all__ = ["Candidate", "Outcome", "Problem", "Result", "Strategy"]
