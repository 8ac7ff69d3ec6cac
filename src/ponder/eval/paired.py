"""Two settings compared on the problems both ran: paired, not side by side.

Run on the same problems, two settings' results are correlated (an easy problem is easy for
both), so their difference is far better measured per problem than by comparing two
independent intervals:

- ``difference``: the mean over shared problems of (A's value - B's value), with a 95%
  paired percentile bootstrap interval (problems resampled together, 10,000 resamples, fixed
  seed);
- McNemar's exact test on the discordant problems (A right and B wrong: ``a_only``; the
  reverse: ``b_only``): under "no difference" each discordant problem is equally likely to
  go either way, so ``a_only`` ~ Binomial(a_only + b_only, 1/2); the two-sided p-value is
  twice the smaller tail, at most 1. It needs 0/1 values; settings estimated from a pool
  (maj@k probabilities) get the bootstrap interval only (``p_value`` null).

Problems that only one setting ran are left out, and counted (``only_a``, ``only_b``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

#: the significance level of "beaten with significance"
ALPHA = 0.05


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def paired_bootstrap(
    differences: list[float], resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of the mean of per-problem differences."""
    data = np.asarray(differences, dtype=float)
    if data.size == 0:
        return (-1.0, 1.0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(low), float(high))


def compare(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, Any]:
    """Setting A against setting B on the problems both ran (problem id -> value in [0, 1])."""
    shared = sorted(set(a) & set(b))
    differences = [a[p] - b[p] for p in shared]
    low, high = paired_bootstrap(differences)
    binary = all(a[p] in (0.0, 1.0) and b[p] in (0.0, 1.0) for p in shared)
    a_only = sum(1 for p in shared if a[p] > b[p]) if binary else None
    b_only = sum(1 for p in shared if b[p] > a[p]) if binary else None
    p_value = mcnemar_exact(a_only, b_only) if a_only is not None and b_only is not None else None
    return {
        "problems": len(shared),
        "only_a": len(set(a) - set(b)),
        "only_b": len(set(b) - set(a)),
        "accuracy_a": sum(a[p] for p in shared) / len(shared) if shared else None,
        "accuracy_b": sum(b[p] for p in shared) / len(shared) if shared else None,
        "difference": sum(differences) / len(shared) if shared else None,
        "ci_low": low,
        "ci_high": high,
        "a_only": a_only,
        "b_only": b_only,
        "p_value": p_value,
        "test": "mcnemar exact" if p_value is not None else "paired bootstrap only",
    }


def significant(comparison: Mapping[str, Any]) -> bool:
    """Whether A and B differ at ``ALPHA``: McNemar's test where it applies, else the paired
    interval excluding zero."""
    if comparison["problems"] == 0:
        return False
    if comparison["p_value"] is not None:
        return bool(comparison["p_value"] < ALPHA)
    return bool(comparison["ci_low"] > 0 or comparison["ci_high"] < 0)
