"""The loop detector on scripted token streams (``ponder.backends.loops``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ponder.api import asolve, make_strategy
from ponder.backends.loops import loops
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


def test_a_sample_stopped_in_a_loop_abstains_and_the_option_is_validated() -> None:
    assert read("so so so so", "repetition", None) == (None, "stopped in a loop")
    assert read("The answer is 4. 4. 4.", "repetition", None, keep_cut_off=True)[0] == "4"
    assert make_params(loop_repeats=4).loop_repeats == 4


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
