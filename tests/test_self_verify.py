"""``self_verify``: distinct answers scored by verification chains, near-ties settled by
pairwise comparisons (order alternated), clear scores and unanimous votes spend nothing more;
the ledger is the sum of its parts; the budget holds; the same seed gives the same result;
bad input is refused; it composes with a sampler; and it runs on the embedded model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.api import make_strategy
from ponder.core.types import GenerationRequest
from ponder.errors import BudgetExhausted, ConfigError
from ponder.runtime import Budget, Context
from ponder.testing import FunctionBackend

TEXT_JUDGE = "judge(mode=text)"


def asked(request: GenerationRequest) -> str:
    return request.messages[-1].content if request.messages else ""


def world(request: GenerationRequest, index: int) -> str:
    """Samples: 5, 5, 5, 7, 7, 4 (repeating). The verifier accepts 5 and 7 and rejects 4;
    the pairwise judge prefers the solution that says 7, in either position."""
    text = asked(request)
    if "Which solution is correct" in text:
        first = text.split("Solution A:")[1].split("Solution B:")[0]
        return "A" if "Answer: 7" in first else "B"
    if "Verdict:" in text:
        return "Verdict: incorrect" if "Answer: 4" in text else "Verdict: correct"
    return f"Answer: {(5, 5, 5, 7, 7, 4)[index % 6]}"


async def test_near_ties_are_compared_and_the_comparisons_decide() -> None:
    result = await make_strategy("self_verify", n=6, seed=0, comparator=TEXT_JUDGE).run(
        "q", Context(FunctionBackend(world))
    )
    assert result.answer == "7"  # the vote says 5; the pairwise comparisons say 7
    assert result.details["finalists"] == ["5", "7"]
    assert result.details["wins"] == {"5": 0, "7": 2}
    assert result.details["compared"] == 2  # one pair, k=2, its order alternated
    pairs = [c["pair"] for c in result.details["comparisons"]]
    assert pairs[0] == pairs[1][::-1]
    assert result.details["scores"]["4"]["value"] == 0.0


async def test_a_clear_score_or_a_unanimous_vote_compares_nothing() -> None:
    def clear(request: GenerationRequest, index: int) -> str:
        text = asked(request)
        if "Verdict:" in text:
            return "Verdict: correct" if "Answer: 7" in text else "Verdict: incorrect"
        return world(request, index)

    result = await make_strategy("self_verify", n=6, seed=0, comparator=TEXT_JUDGE).run(
        "q", Context(FunctionBackend(clear))
    )
    assert result.answer == "7" and result.details["compared"] == 0
    assert result.details["why"] == "one answer scored clearly best"
    same = await make_strategy("self_verify", n=4, seed=0).run(
        "q", Context(FunctionBackend(lambda r, i: "Answer: 3"))
    )
    assert same.answer == "3" and same.details["compared"] == 0
    assert set(same.ledger["by_role"]) == {"generate"}


async def test_unscorable_answers_leave_the_vote() -> None:
    def mute(request: GenerationRequest, index: int) -> str:
        return "I will not say." if "Verdict:" in asked(request) else world(request, index)

    result = await make_strategy("self_verify", n=6, seed=0, comparator=TEXT_JUDGE).run(
        "q", Context(FunctionBackend(mute))
    )
    assert result.answer == "5" and "vote stands" in result.details["why"]


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 8), budget=st.integers(20, 300))
def test_ledger_adds_up_and_the_budget_holds(n: int, budget: int) -> None:
    async def run() -> Any:
        ctx = Context(FunctionBackend(world), budget=Budget(completion_tokens=budget))
        try:
            return await make_strategy("self_verify", n=n, max_tokens=8, seed=1).run("q", ctx), ctx
        except BudgetExhausted:
            return None, ctx

    result, ctx = asyncio.run(run())
    assert ctx.ledger.total().completion_tokens <= budget
    if result is not None:
        roles = result.ledger["by_role"]
        assert sum(r["completion_tokens"] for r in roles.values()) == result.usage.completion_tokens


def test_the_same_seed_gives_the_same_result() -> None:
    def run() -> Any:
        strategy = make_strategy("self_verify", n=6, seed=3, temperature=0.8, comparator=TEXT_JUDGE)
        return asyncio.run(strategy.run("q", Context(FunctionBackend(world))))

    first, second = run(), run()
    assert (first.answer, first.details) == (second.answer, second.details)


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="compares candidates in pairs"):
        make_strategy("self_verify", comparator="arithmetic")
    with pytest.raises(ConfigError, match="margin"):
        make_strategy("self_verify", margin=2)
    with pytest.raises(ConfigError, match="max_finalists"):
        make_strategy("self_verify", max_finalists=1)


async def test_it_composes_with_a_sampler() -> None:
    def by_seed(request: GenerationRequest, index: int) -> str:
        text = asked(request)
        if "Verdict:" in text or "Which solution" in text:
            return world(request, index)
        return f"Answer: {(5, 7, 4)[((request.params.seed or 0) + index) % 3]}"

    strategy = make_strategy(
        "self_verify", n=6, seed=0, sampler="think_twice(rounds=1)", comparator=TEXT_JUDGE
    )
    result = await strategy.run("q", Context(FunctionBackend(by_seed)))
    assert len(result.candidates) == 6 and len(result.details["votes"]) >= 2
    assert result.ledger["by_role"]["verify"]["calls"] >= 2
    assert result.answer == "7"


@pytest.mark.live
def test_self_verify_on_the_embedded_model(embedded: Any) -> None:
    strategy = make_strategy("self_verify", n=4, max_tokens=24, seed=1, temperature=1.0)
    result = asyncio.run(strategy.run("What is 3 + 4?", Context(embedded)))
    roles = result.ledger["by_role"]
    assert roles["generate"]["calls"] == 1
    groups = len(result.details["votes"])
    assert ("verify" in roles) is (groups >= 2)
    assert result.details["compared"] <= 2 * 3 * 2  # at most 4 finalists, k=2
