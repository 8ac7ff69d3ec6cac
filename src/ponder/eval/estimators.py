"""Unbiased estimators over one pool of samples, and confidence intervals.

From N samples of one problem, the accuracy that k samples would have had (k <= N) is the
average over all k-subsets of the pool, computed exactly (no Monte Carlo):

- ``pass_at_k`` (coverage: at least one of k correct), Chen et al. 2021, eq. 1:
  ``1 - C(N - c, k) / C(N, k)``;
- ``maj_at_k`` (the majority vote of k correct): the mean, over k-subsets, of the score of
  the winning answer group; a tie among t groups counts each at 1/t (the vote over a random
  subset in random order breaks ties by a fair draw). Samples with no answer are drawn but
  never vote; a subset where none votes scores 0.

Intervals: ``wilson`` (the Wilson score interval, for a proportion of 0/1 outcomes) and
``bootstrap`` (percentile bootstrap over problems, for means of fractional values such as
maj@k estimates).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z95 = 1.959963984540054


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that k samples drawn without replacement from n (c correct) hold one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def maj_at_k(counts: Sequence[int], scores: Sequence[float], abstained: int, k: int) -> float:
    """Expected score of the majority vote over a random k-subset of the pool.

    ``counts[g]`` samples gave answer group g, whose score is ``scores[g]``; ``abstained``
    samples gave no answer.
    """
    n = sum(counts) + abstained
    if len(counts) != len(scores) or not 1 <= k <= n:
        raise ValueError(f"need one score per group and 1 <= k <= {n}, got k={k}")
    expected = 0.0
    for j, (m_j, s_j) in enumerate(zip(counts, scores, strict=True)):
        if s_j == 0:
            continue
        others = [m for i, m in enumerate(counts) if i != j]
        for v in range(1, min(m_j, k) + 1):
            rest = k - v
            # ways[t][s]: choose s samples from the other groups, none above v, t of them at v
            ways = [[0] * (rest + 1) for _ in range(len(others) + 1)]
            ways[0][0] = 1
            for m in others:
                grown = [[0] * (rest + 1) for _ in range(len(others) + 1)]
                for t, row in enumerate(ways):
                    for s, w in enumerate(row):
                        if not w:
                            continue
                        for x in range(min(m, v, rest - s) + 1):
                            grown[t + (x == v)][s + x] += w * math.comb(m, x)
                ways = grown
            tied = 0.0
            for t, row in enumerate(ways):
                free = sum(w * math.comb(abstained, rest - s) for s, w in enumerate(row))
                tied += free / (t + 1)
            expected += s_j * math.comb(m_j, v) * tied
    return expected / math.comb(n, k)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def bootstrap(
    values: Sequence[float], resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean of ``values`` (resampled with a fixed
    seed, so a report is reproducible)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (0.0, 1.0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(low), float(high))


def interval(values: Sequence[float]) -> tuple[float, float, str]:
    """The 95% interval of a mean: Wilson when every value is 0 or 1, bootstrap otherwise."""
    if all(v in (0.0, 1.0) for v in values):
        low, high = wilson(int(sum(values)), len(values))
        return low, high, "wilson"
    low, high = bootstrap(values)
    return low, high, "bootstrap"
