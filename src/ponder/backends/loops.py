"""Loop detection: a sample that repeats one block of tokens over and over has stopped
reasoning and will run to ``max_tokens``; ending it early saves those tokens.

The rule (``loops``): the sample's last tokens are one block of ``p`` tokens (1 <= p <=
``max_period``) repeated ``repeats`` times in a row, covering at least ``min_span`` tokens (so
short blocks need more repeats: "ha ha ha" is not a loop, a paragraph said four times is).
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_SPAN = 32
MAX_PERIOD = 64


def loops(
    tokens: Sequence[int], repeats: int, *, min_span: int = MIN_SPAN, max_period: int = MAX_PERIOD
) -> int | None:
    """The length of the block that ``tokens`` ends by repeating (see the module docstring),
    or None when they do not end in a loop. ``repeats`` < 2 never finds one."""
    n = len(tokens)
    if repeats < 2 or n < 2:
        return None
    last = tokens[-1]
    for period in range(1, min(max_period, n // repeats) + 1):
        if tokens[-1 - period] != last:
            continue  # cannot repeat with this period
        times = max(repeats, -(-min_span // period))
        span = period * times
        if span > n:
            continue
        start = n - span
        if tokens[start + period :] == tokens[start : n - period]:
            return period
    return None
