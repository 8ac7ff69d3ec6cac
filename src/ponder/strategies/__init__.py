"""Strategies: the test-time scaling algorithms, each written once, backend-agnostic."""

from ponder.strategies.base import Candidate, Outcome, Problem, Result, Strategy

__all__ = ["Candidate", "Outcome", "Problem", "Result", "Strategy"]
