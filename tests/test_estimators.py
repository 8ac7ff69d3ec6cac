"""The unbiased estimators against brute force over every subset and order, and the intervals
against known values."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.eval.estimators import bootstrap, interval, maj_at_k, pass_at_k, wilson
from ponder.eval.plots import pareto_front


def _brute_pass(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return sum(any(s) for s in subsets) / len(subsets)


def _brute_maj(counts: list[int], scores: list[float], abstained: int, k: int) -> float:
    """Every ordered k-draw; the vote is won by the most frequent answer, ties to the one
    drawn first (so a random order is a fair tie-break)."""
    pool = [g for g, m in enumerate(counts) for _ in range(m)] + [None] * abstained
    total, score = 0, Fraction(0)
    for draw in itertools.permutations(range(len(pool)), k):
        labels = [pool[i] for i in draw]
        votes = {g: labels.count(g) for g in labels if g is not None}
        total += 1
        if not votes:
            continue
        top = max(votes.values())
        winner = next(g for g in labels if g is not None and votes[g] == top)
        score += Fraction(scores[winner]).limit_denominator()
    return float(score / total)


@given(n=st.integers(1, 12), data=st.data())
def test_pass_at_k_matches_brute_force(n: int, data: st.DataObject) -> None:
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    assert pass_at_k(n, c, k) == pytest.approx(_brute_pass(n, c, k))


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    abstained=st.integers(0, 2),
    data=st.data(),
)
def test_maj_at_k_matches_brute_force(
    counts: list[int], abstained: int, data: st.DataObject
) -> None:
    scores = data.draw(
        st.lists(st.sampled_from([0.0, 1.0]), min_size=len(counts), max_size=len(counts))
    )
    n = sum(counts) + abstained
    k = data.draw(st.integers(1, min(n, 5)))
    assert maj_at_k(counts, scores, abstained, k) == pytest.approx(
        _brute_maj(counts, scores, abstained, k)
    )


def test_maj_at_k_edges() -> None:
    # all samples agree on the right answer: every k is right
    assert maj_at_k([5], [1.0], 0, 3) == pytest.approx(1.0)
    # k = N is the vote itself: 3 right against 2 wrong
    assert maj_at_k([3, 2], [1.0, 0.0], 0, 5) == pytest.approx(1.0)
    # k = 1 is the mean single-sample accuracy, abstentions count as wrong
    assert maj_at_k([3, 2], [1.0, 0.0], 1, 1) == pytest.approx(3 / 6)
    with pytest.raises(ValueError):
        maj_at_k([2], [1.0], 0, 3)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_wilson_known_values() -> None:
    # Wilson 95% for 8/10, as tabulated (e.g. statsmodels proportion_confint method='wilson')
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 20)[0] == 0.0
    assert wilson(20, 20)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)
    for n in range(1, 50):  # the point estimate is always inside, exactly at the edges
        assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0


def test_interval_picks_the_method() -> None:
    assert interval([1.0, 0.0, 1.0])[2] == "wilson"
    low, high, method = interval([0.5, 0.25, 1.0, 0.75])
    assert method == "bootstrap"
    assert 0.25 <= low <= 0.625 <= high <= 1.0
    # reproducible: a fixed seed
    assert bootstrap([0.1, 0.9, 0.4]) == bootstrap([0.1, 0.9, 0.4])


def test_pareto_front() -> None:
    points = [(10, 0.5), (20, 0.4), (30, 0.7), (5, 0.2), (30, 0.6)]
    assert pareto_front(points) == [3, 0, 2]
    assert math.isclose(points[2][1], 0.7)
