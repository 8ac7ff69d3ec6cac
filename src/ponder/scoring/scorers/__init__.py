"""Verifiers: pointwise scorers, pairwise comparators and step scorers (see ``base``)."""

from ponder.scoring.scorers.base import (
    Comparator,
    Comparison,
    Scorer,
    ScoreValue,
    StepScorer,
    make_scorer,
    parse_scorer_spec,
)

__all__ = [
    "Comparator",
    "Comparison",
    "ScoreValue",
    "Scorer",
    "StepScorer",
    "make_scorer",
    "parse_scorer_spec",
]
