"""``knockout``: a single-elimination tournament among n candidates, judged pairwise.

Chen et al., "A Simple and Provable Scaling Law for the Test-Time Compute of Large Language
Models" (arXiv 2411.19477): sample n candidates; pair them up; compare each pair K times and
let the winner of the majority advance; repeat until one is left. If a candidate is correct
with probability p_gen and the comparator prefers a correct candidate over a wrong one with
probability p_comp > 1/2, the final pick is wrong with probability at most
(1 - p_gen)^n + ceil(log2 n) * exp(-2K (p_comp - 1/2)^2) (``failure_bound``).

Here:
- all comparisons of a round are issued at once (one concurrent batch on the backend);
- the K comparisons of a pair alternate the order (A, B) and (B, A), to cancel position
  bias; at temperature 0 a judge repeats itself, so K > 2 only helps with a sampling judge
  (``scorer=judge(temperature=0.7)``);
- a comparison the comparator could not decide (it answered neither A nor B) is recorded and
  does not count; a pair with no majority (a tie, or every comparison failed) sends on the
  one with the higher mean P(first is better) where known, else the earlier candidate, and
  the trace says so;
- ``skip_equal`` (default on): a pair whose final answers are equivalent is not compared, as
  either may advance without changing the answer (a saving, not in the paper);
- an odd candidate out gets a bye into the next round.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import component
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, sample_candidates
from ponder.scoring.answers import equivalent
from ponder.scoring.scorers.base import Comparator, Comparison
from ponder.strategies.base import Outcome, Strategy
from ponder.strategies.selection import build_scorer


class KnockoutConfig(SamplingConfig):
    n: int = Field(8, ge=1, le=1024)
    #: comparisons per pair
    k: int = Field(2, ge=1, le=64)
    #: the pairwise comparator (a scorer that can compare: judge)
    scorer: Any = component("judge", "scorer")
    skip_equal: bool = True


def failure_bound(n: int, k: int, p_gen: float, p_comp: float) -> float:
    """The paper's bound on P(the knockout's pick is wrong)."""
    rounds = math.ceil(math.log2(n)) if n > 1 else 0
    return (1 - p_gen) ** n + rounds * math.exp(-2 * k * (p_comp - 0.5) ** 2)


class Knockout(Strategy):
    """Pairwise knockout tournament with K comparisons per pair."""

    name = "knockout"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = KnockoutConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        config = self._config
        scorer = build_scorer(config.scorer, what=f"strategy {self.name!r}", pairwise=True)
        assert isinstance(scorer, Comparator)
        self.scorer = scorer

    @property
    def _config(self) -> KnockoutConfig:
        assert isinstance(self.config, KnockoutConfig)
        return self.config

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        self.scorer.check(ctx)
        candidates = await sample_candidates(problem, ctx, config, config.n)
        winner, rounds = await tournament(
            problem, candidates, ctx, self.scorer, k=config.k, skip_equal=config.skip_equal
        )
        details = {
            "scorer": self.scorer.name,
            "k": config.k,
            "rounds": rounds,
            "comparisons": sum(len(m.get("verdicts", [])) for r in rounds for m in r),
            "comparison_failures": sum(
                1 for r in rounds for m in r for v in m.get("verdicts", []) if "error" in v
            ),
            "chosen": winner.index,
        }
        return Outcome(winner.answer, winner.text, tuple(candidates), details)


async def tournament(
    problem: Problem,
    candidates: list[Candidate],
    ctx: Context,
    comparator: Comparator,
    *,
    k: int,
    skip_equal: bool = True,
) -> tuple[Candidate, list[list[dict[str, Any]]]]:
    """Run the knockout; the winner and, per round, a record of each match."""
    alive = list(candidates)
    rounds: list[list[dict[str, Any]]] = []
    while len(alive) > 1:
        pairs = [(alive[i], alive[i + 1]) for i in range(0, len(alive) - 1, 2)]
        bye = alive[-1] if len(alive) % 2 else None
        contested = [p for p in pairs if not (skip_equal and _same_answer(p[0], p[1]))]
        requests = [(a, b) if j % 2 == 0 else (b, a) for a, b in contested for j in range(k)]
        verdicts = await comparator.compare(problem, requests, ctx) if requests else []
        if len(verdicts) != len(requests):
            raise ValueError("the comparator returned a different number of verdicts")
        by_pair = {id(p): verdicts[i * k : (i + 1) * k] for i, p in enumerate(contested)}
        matches, survivors = [], []
        for pair in pairs:
            if id(pair) not in by_pair:
                survivors.append(pair[0])
                matches.append(
                    {
                        "pair": [pair[0].index, pair[1].index],
                        "winner": pair[0].index,
                        "decided_by": "equal answers",
                    }
                )
                continue
            winner, match = _decide(pair, by_pair[id(pair)])
            survivors.append(winner)
            matches.append(match)
        if bye is not None:
            survivors.append(bye)
            matches.append({"bye": bye.index})
        rounds.append(matches)
        alive = survivors
    return alive[0], rounds


def _same_answer(a: Candidate, b: Candidate) -> bool:
    return a.answer is not None and b.answer is not None and equivalent(a.answer, b.answer)


def _decide(
    pair: tuple[Candidate, Candidate], verdicts: list[Comparison]
) -> tuple[Candidate, dict[str, Any]]:
    """Majority of the pair's verdicts; verdict j compared (a, b) when j is even."""
    a, b = pair
    wins = [0, 0]
    p_a: list[float] = []
    for j, verdict in enumerate(verdicts):
        flipped = j % 2 == 1
        if verdict.winner is not None:
            wins[verdict.winner ^ int(flipped)] += 1
        if verdict.p_first is not None:
            p_a.append(1 - verdict.p_first if flipped else verdict.p_first)
    if wins[0] != wins[1]:
        winner, how = (a, "majority") if wins[0] > wins[1] else (b, "majority")
    elif p_a and sum(p_a) / len(p_a) != 0.5:
        winner, how = (a if sum(p_a) / len(p_a) > 0.5 else b), "tie: mean probability"
    else:
        winner, how = a, "tie: earlier candidate"
    match = {
        "pair": [a.index, b.index],
        "wins": wins,
        "winner": winner.index,
        "decided_by": how,
        "verdicts": [v.as_dict() for v in verdicts],
    }
    return winner, match
