"""``plan_search``: observations, plans from subsets of them (singles, then pairs, seeded),
one solution per plan, a vote; roles ``propose`` and ``generate``; a reply with no
observations still plans; the budget holds; the same seed gives the same result; bad input
is refused; code answers vote by behaviour; and it runs on the embedded model."""

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


def asked(request: GenerationRequest) -> str:
    return request.messages[-1].content if request.messages else ""


def world(request: GenerationRequest, index: int) -> str:
    text = asked(request)
    if "list up to" in text:
        return "Some notes:\n1. It is a sum.\n2) Order does not matter.\n- Both are small.\n"
    if "describe in a few sentences" in text:
        return "Add them." if "sum" in text else "Count up from the larger."
    if "Follow this plan" in text:
        return "Answer: 7" if "Add them" in text else "Answer: 8"
    raise AssertionError(text)


async def test_observations_become_plans_and_plans_solutions() -> None:
    strategy = make_strategy("plan_search", observations=3, plans=6, seed=0)
    result = await strategy.run("What is 3 + 4?", Context(FunctionBackend(world)))
    details = result.details
    assert details["observations"] == ["It is a sum.", "Order does not matter.", "Both are small."]
    subsets = [tuple(s) for s in details["subsets"]]
    assert sorted(subsets[:3]) == [(0,), (1,), (2,)] and sorted(subsets[3:]) == [
        (0, 1),
        (0, 2),
        (1, 2),
    ]
    # plans that saw observation 0 (the sum) answer 7: four of six
    assert result.answer == "7" and len(result.candidates) == 6
    roles = result.ledger["by_role"]
    assert roles["propose"]["calls"] == 1 + 6 and roles["generate"]["calls"] == 6


async def test_no_observations_still_plans() -> None:
    def terse(request: GenerationRequest, index: int) -> str:
        return "Nothing to note." if "list up to" in asked(request) else world(request, index)

    result = await make_strategy("plan_search", plans=2, seed=0).run(
        "q", Context(FunctionBackend(terse))
    )
    assert result.details["observations"] == [] and "alone" in result.details["why"]
    assert len(result.candidates) == 2


@settings(max_examples=20, deadline=None)
@given(plans=st.integers(1, 8), budget=st.integers(10, 200))
def test_ledger_adds_up_and_the_budget_holds(plans: int, budget: int) -> None:
    async def run() -> Any:
        ctx = Context(FunctionBackend(world), budget=Budget(completion_tokens=budget))
        strategy = make_strategy("plan_search", plans=plans, max_tokens=8, plan_tokens=16, seed=1)
        try:
            return await strategy.run("q", ctx), ctx
        except BudgetExhausted:
            return None, ctx

    result, ctx = asyncio.run(run())
    assert ctx.ledger.total().completion_tokens <= budget
    if result is not None:
        roles = result.ledger["by_role"]
        assert sum(r["completion_tokens"] for r in roles.values()) == result.usage.completion_tokens


def test_the_same_seed_gives_the_same_result() -> None:
    def run(seed: int) -> Any:
        strategy = make_strategy("plan_search", plans=4, seed=seed, temperature=0.8)
        return asyncio.run(strategy.run("q", Context(FunctionBackend(world))))

    assert run(3).details == run(3).details


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="plans"):
        make_strategy("plan_search", plans=0)
    with pytest.raises(ConfigError, match="cannot take a sampler"):
        make_strategy("plan_search", sampler="think_twice")
    with pytest.raises(PolicyError, match="prompt template"):
        Policy.default().admit("plan_search", {}, {"plan_prompt": "{question}"}, {"default"})


@pytest.mark.live
def test_plan_search_on_the_embedded_model(embedded: Any) -> None:
    strategy = make_strategy("plan_search", plans=2, max_tokens=24, plan_tokens=48, seed=1)
    result = asyncio.run(strategy.run("What is 3 + 4?", Context(embedded)))
    roles = result.ledger["by_role"]
    assert roles["propose"]["calls"] == 3 and roles["generate"]["calls"] == 2
    assert len(result.candidates) == 2
