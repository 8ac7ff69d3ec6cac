"""What the selection strategies share: building their scorer, scoring candidates, picking
the best, and the details each records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ponder.core.problem import Candidate, Problem
from ponder.errors import ConfigError, VerifierError
from ponder.runtime import Context
from ponder.scoring.scorers.base import Comparator, Scorer, ScoreValue, make_scorer


def build_scorer(spec: Any, *, what: str, pairwise: bool = False) -> Scorer:
    """The scorer a strategy's option names (validated now, before any model loads)."""
    scorer = make_scorer(spec)
    if pairwise and not isinstance(scorer, Comparator):
        raise ConfigError(
            f"{what} compares candidates in pairs, and scorer {scorer.name!r} cannot; "
            "pairwise scorers: judge"
        )
    return scorer


async def score_candidates(
    scorer: Scorer, problem: Problem, candidates: Sequence[Candidate], ctx: Context
) -> list[ScoreValue]:
    scores = await scorer.score(problem, candidates, ctx)
    if len(scores) != len(candidates):
        raise VerifierError(
            f"scorer {scorer.name!r} returned {len(scores)} scores for {len(candidates)} candidates"
        )
    return scores


def require_some(scorer: Scorer, scores: Sequence[ScoreValue]) -> None:
    """VerifierError when no candidate could be scored (with the first reason)."""
    if scores and not any(s.ok for s in scores):
        reasons = sorted({s.error or "unknown" for s in scores})
        raise VerifierError(
            f"scorer {scorer.name!r} could not score any of {len(scores)} candidates: "
            + "; ".join(reasons[:3])
        )


def best_index(scores: Sequence[ScoreValue]) -> int:
    """The candidate with the highest score (failed scores never win; ties to the earliest)."""
    ranked = [(s.value, -i) for i, s in enumerate(scores) if s.value is not None]
    return -max(ranked)[1]


def score_details(scores: Sequence[ScoreValue]) -> dict[str, Any]:
    return {
        "scores": [s.as_dict() for s in scores],
        "score_failures": sum(not s.ok for s in scores),
    }
