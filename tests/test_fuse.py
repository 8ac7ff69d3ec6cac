"""``fuse``: split votes merged into one revised solution (role ``aggregate``), settled votes
left alone; the ledger is the sum of its parts; the budget holds; the same seed gives the same
result; bad input is refused; a request cannot set the merge prompt; it composes with a
sampler; and it runs on the embedded model."""

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
from ponder.server.policy import Policy, PolicyError
from ponder.testing import FunctionBackend


def split(request: GenerationRequest, index: int) -> str:
    """Samples split 5 / 4 / 3; the merge settles on 7."""
    asked = request.messages[-1].content if request.messages else ""
    if "Several attempts" in asked:
        return "Both used 3 + 4. The answer is 7.\nAnswer: 7"
    return f"I think it is {(5, 4, 5, 3)[index % 4]}.\nAnswer: {(5, 4, 5, 3)[index % 4]}"


def settled(request: GenerationRequest, index: int) -> str:
    return "Answer: 6" if index % 8 else "Answer: 2"


async def test_a_split_vote_is_merged() -> None:
    result = await make_strategy("fuse", n=4, seed=0).run(
        "What is 3 + 4?", Context(FunctionBackend(split))
    )
    assert result.answer == "7" and result.details["fused"] is True
    assert [g["answer"] for g in result.details["merged"]] == ["5", "4"]
    assert result.ledger["by_role"]["aggregate"]["calls"] == 1
    assert len(result.candidates) == 5 and result.candidates[-1].answer == "7"


async def test_a_settled_vote_is_not_merged() -> None:
    result = await make_strategy("fuse", n=8, seed=0).run("q", Context(FunctionBackend(settled)))
    assert result.answer == "6" and result.details["fused"] is False
    assert "aggregate" not in result.ledger["by_role"]
    always = make_strategy("fuse", n=8, seed=0, when="always")
    merged = await always.run("q", Context(FunctionBackend(settled)))
    assert merged.details["fused"] is True


async def test_a_merge_without_an_answer_keeps_the_vote() -> None:
    def mute(request: GenerationRequest, index: int) -> str:
        asked = request.messages[-1].content if request.messages else ""
        return "" if "Several attempts" in asked else split(request, index)

    result = await make_strategy("fuse", n=4, seed=0).run("q", Context(FunctionBackend(mute)))
    assert result.answer == "5" and result.details["fused_answer"] is None
    assert "winner stands" in result.details["why"]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 8), budget=st.integers(20, 200))
def test_ledger_adds_up_and_the_budget_holds(n: int, budget: int) -> None:
    async def run() -> Any:
        ctx = Context(FunctionBackend(split), budget=Budget(completion_tokens=budget))
        try:
            return await make_strategy("fuse", n=n, max_tokens=8, seed=1).run("q", ctx), ctx
        except BudgetExhausted:
            return None, ctx

    result, ctx = asyncio.run(run())
    assert ctx.ledger.total().completion_tokens <= budget
    if result is not None:
        roles = result.ledger["by_role"]
        total = sum(r["completion_tokens"] for r in roles.values())
        assert total == result.usage.completion_tokens


def test_the_same_seed_gives_the_same_result() -> None:
    def run() -> Any:
        return asyncio.run(
            make_strategy("fuse", n=6, seed=3).run("q", Context(FunctionBackend(split)))
        )

    first, second = run(), run()
    assert (first.answer, first.details) == (second.answer, second.details)


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="n"):
        make_strategy("fuse", n=1)
    with pytest.raises(ConfigError, match="when"):
        make_strategy("fuse", when="sometimes")
    with pytest.raises(PolicyError, match="prompt template"):
        Policy.default().admit("fuse", {}, {"merge_prompt": "{question}"}, {"default"})


async def test_it_composes_with_a_sampler() -> None:
    def by_seed(request: GenerationRequest, index: int) -> str:
        asked = request.messages[-1].content if request.messages else ""
        if "Several attempts" in asked:
            return "Answer: 7"
        return f"Answer: {(5, 4, 3)[((request.params.seed or 0) + index) % 3]}"

    strategy = make_strategy("fuse", n=4, seed=0, sampler="think_twice(rounds=1)")
    result = await strategy.run("What is 3 + 4?", Context(FunctionBackend(by_seed)))
    assert len(result.details["votes"]) >= 2  # each candidate one sampler run, its own seed
    assert result.answer == "7" and result.details["fused"] is True


@pytest.mark.live
def test_fuse_on_the_embedded_model(embedded: Any) -> None:
    strategy = make_strategy("fuse", n=4, when="always", max_tokens=24, seed=1)
    result = asyncio.run(strategy.run("What is 3 + 4?", Context(embedded)))
    roles = result.ledger["by_role"]
    assert roles["generate"]["calls"] == 1
    assert result.details["fused"] is (len(result.details["votes"]) >= 2)
    if result.details["fused"]:
        assert roles["aggregate"]["calls"] == 1
