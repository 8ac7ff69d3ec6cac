"""The loop detector on scripted token streams (``ponder.backends.loops``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ponder.api import asolve, make_strategy
from ponder.backends.loops import NUMBER, loops, template_loops
from ponder.core.types import Completion, GenerationRequest, make_params
from ponder.runtime.sampling import read
from ponder.testing import FunctionBackend


def test_a_block_repeated_enough_times_is_a_loop() -> None:
    block = list(range(10, 22))  # 12 tokens
    prose = list(range(100, 140))
    assert loops(prose + block * 4, 4) == 12
    assert loops(prose + block * 3, 4) is None  # one repeat short
    assert loops(prose + block * 4 + [5], 4) is None  # the loop broke


def test_short_blocks_need_to_cover_the_minimum_span() -> None:
    assert loops([1, 2, 3] + [7] * 8, 4) is None  # "ha ha ha": 8 tokens, under 32
    assert loops([1, 2, 3] + [7] * 32, 4) == 1
    assert loops([1, 2] + [8, 9] * 16, 4) == 2
    assert loops([1, 2] + [8, 9] * 15, 4) is None


def test_blocks_longer_than_the_longest_period_are_not_loops() -> None:
    block = list(range(70))
    assert loops(block * 4, 4) is None
    assert loops(block * 4, 4, max_period=80) == 70


def test_no_check_below_two_repeats_and_on_short_streams() -> None:
    assert loops([7] * 100, 1) is None and loops([7] * 100, 0) is None
    assert loops([], 4) is None and loops([3], 4) is None


@given(st.lists(st.integers(0, 3), max_size=200), st.integers(2, 6))
def test_a_found_loop_is_really_there(tokens: list[int], repeats: int) -> None:
    period = loops(tokens, repeats)
    if period is not None:
        times = max(repeats, -(-32 // period))
        tail = tokens[len(tokens) - period * times :]
        assert len(tail) == period * times
        assert all(tail[i] == tail[i % period] for i in range(len(tail)))


# a made-up vocabulary: 0-9 are digit tokens, 100+ are words and punctuation
DOT, TIMES, EQUALS, NEWLINE, PLUS = 100, 101, 102, 103, 104


def digits(n: int) -> list[int]:
    return [int(d) for d in str(n)]


def table(rows: range, left: int = 6) -> list[int]:
    """ "1. 6 * 0 = 0\n2. 6 * 1 = 6\n..." as tokens (numbers one token a digit)."""
    out: list[int] = []
    for i in rows:
        out += digits(i + 1) + [DOT] + digits(left) + [TIMES] + digits(i) + [EQUALS]
        out += digits(left * i) + [NEWLINE]
    return out


def is_digit(token: int) -> bool:
    return token < 10


def test_a_table_that_changes_only_its_numbers_is_a_template_loop() -> None:
    prose = list(range(200, 240))
    assert loops(prose + table(range(12)), 6) is None  # no block repeats verbatim
    assert template_loops(prose + table(range(12)), 6, is_digit) == 8  # "D. D * D = D\n"
    assert template_loops(prose + table(range(5)), 6, is_digit) is None  # five lines
    # working of a few lines has the same shape, and stays under the repeats asked for
    working = digits(2) + [PLUS] + digits(3) + [EQUALS] + digits(5) + [NEWLINE]
    working += digits(5) + [PLUS] + digits(4) + [EQUALS] + digits(9) + [NEWLINE]
    assert template_loops(prose + working + [300, 301], 6, is_digit) is None
    assert template_loops(table(range(40)), 1, is_digit) is None


@given(st.lists(st.integers(0, 12), max_size=300), st.integers(2, 8))
def test_a_template_loop_is_a_loop_of_the_masked_tokens(tokens: list[int], repeats: int) -> None:
    period = template_loops(tokens, repeats, is_digit)
    masked: list[int] = []
    for token in tokens[-4 * repeats * 64 :]:
        if is_digit(token) and masked and masked[-1] == NUMBER:
            continue
        masked.append(NUMBER if is_digit(token) else token)
    assert period == loops(masked, repeats)


def test_a_sample_stopped_in_a_loop_abstains_and_the_option_is_validated() -> None:
    assert read("so so so so", "repetition", None) == (None, "stopped in a loop")
    assert read("The answer is 4. 4. 4.", "repetition", None, keep_cut_off=True)[0] == "4"
    assert make_params(loop_repeats=4).loop_repeats == 4
    assert make_params(loop_template=6).loop_template == 6


async def test_greedy_asks_for_the_loop_stop_and_a_looping_reply_abstains() -> None:
    seen: list[int] = []

    def reply(request: GenerationRequest, index: int) -> Completion:
        seen.append(request.params.loop_repeats)
        return Completion(text="4 4 4 4", finish_reason="repetition", completion_tokens=4)

    result = await asolve(
        "What is 2 + 2?", strategy=make_strategy("greedy", loop_repeats=4),
        backend=FunctionBackend(reply),
    )  # fmt: skip
    assert seen == [4] and result.answer is None
    assert result.candidates[0].abstained == "stopped in a loop"
