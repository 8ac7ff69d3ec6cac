"""Loop detection: a sample that repeats one block of tokens over and over has stopped
reasoning and will run to ``max_tokens``; ending it early saves those tokens.

The rule (``loops``): the sample's last tokens are one block of ``p`` tokens (1 <= p <=
``max_period``) repeated ``repeats`` times in a row, covering at least ``min_span`` tokens (so
short blocks need more repeats: "ha ha ha" is not a loop, a paragraph said four times is).

The template rule (``template_loops``) is the same with every run of number tokens counted as
one placeholder: a reply that goes on writing lines that differ only in their numbers (a
counting table, "5. 6 * 4 = 24\n6. 6 * 5 = 30\n...") is caught, which the verbatim rule
never sees. Working of a few lines has the same shape ("2 + 3 = 5\n5 + 4 = 9"), so this rule
wants more repeats (the sampling option ``loop_template``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


#: stands for a run of number tokens in ``template_loops``
NUMBER = -1


def template_loops(
    tokens: Sequence[int],
    repeats: int,
    is_number: Callable[[int], bool],
    *,
    min_span: int = MIN_SPAN,
    max_period: int = MAX_PERIOD,
) -> int | None:
    """``loops`` over the tokens with every run of number tokens (``is_number``) taken as one
    ``NUMBER``: the length of the repeated block in those terms, or None. Only the last
    ``4 * repeats * max_period`` tokens are looked at, so a check costs the same late in a
    long reply."""
    if repeats < 2:
        return None
    masked: list[int] = []
    for token in tokens[-4 * repeats * max_period :]:
        if is_number(token):
            if masked and masked[-1] == NUMBER:
                continue
            token = NUMBER
        masked.append(token)
    return loops(masked, repeats, min_span=min_span, max_period=max_period)
