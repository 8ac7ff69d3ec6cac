"""``s_star``: programs grouped by behaviour on the examples, split further by model-written
inputs (literal calls only: anything else is dropped), the leading groups compared by a model
that sees where they differ; roles ``generate``, ``test-gen``, ``verify``; the budget holds;
the same seed gives the same result; bad input is refused; and it runs on the embedded
model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ponder.api import make_strategy
from ponder.core.problem import AnswerSpec, Problem
from ponder.core.types import GenerationRequest
from ponder.errors import BudgetExhausted, ConfigError
from ponder.runtime import Budget, Context
from ponder.server.policy import Policy, PolicyError
from ponder.strategies.s_star import calls_in, literal_call, results_of
from ponder.testing import FunctionBackend

RIGHT = "def add(a, b):\n    return a + b"
SMALL_ONLY = "def add(a, b):\n    return a + b if a < 10 else 0"
PRODUCT = "def add(a, b):\n    return a * b"
PROBLEM = Problem(
    "Write add(a, b), the sum of a and b.",
    answer=AnswerSpec(
        "code",
        examples=("add(1, 2)",),
        code_prompt='def add(a, b):\n    """The sum of a and b."""\n',
        entry_point="add",
    ),
)


def asked(request: GenerationRequest) -> str:
    return request.messages[-1].content if request.messages else ""


def world(request: GenerationRequest, index: int) -> str:
    """Samples: SMALL_ONLY three times, RIGHT twice, PRODUCT once. SMALL_ONLY and RIGHT agree
    on the example; the generated inputs split them; the comparer prefers RIGHT."""
    text = asked(request)
    if "would return different results" in text:
        return "add(20, 1)\nadd(__import__('os').getpid(), 1)\nprint('hi')\nadd(-5, 5)"
    if "Which solution is correct" in text:
        first = text.split("Solution A:")[1].split("Solution B:")[0]
        return "A" if RIGHT in first and "else 0" not in first else "B"
    program = (SMALL_ONLY, SMALL_ONLY, SMALL_ONLY, RIGHT, RIGHT, PRODUCT)[index % 6]
    return f"```python\n{program}\n```"


async def test_generated_inputs_split_a_group_and_the_comparison_settles_it() -> None:
    result = await make_strategy("s_star", n=6, seed=0).run(
        PROBLEM, Context(FunctionBackend(world))
    )
    details = result.details
    assert details["groups_before"] == 2 and details["groups_after"] == 3
    assert details["generated_inputs"] == ["add(20, 1)", "add(-5, 5)"]
    assert details["dropped_inputs"] == 1  # the call that is not all literals
    assert RIGHT in result.text and details["chosen"] == 3
    roles = result.ledger["by_role"]
    assert roles["test-gen"]["calls"] == 1
    assert roles["verify"]["calls"] == 3 * 2  # three groups: three pairs, each both ways


async def test_programs_that_agree_spend_nothing_more() -> None:
    same = await make_strategy("s_star", n=4, seed=0).run(
        PROBLEM, Context(FunctionBackend(lambda r, i: f"```python\n{RIGHT}\n```"))
    )
    assert set(same.ledger["by_role"]) == {"generate"} and RIGHT in same.text


def test_literal_calls_only() -> None:
    assert literal_call("add(1, [2, 3], k={'a': (1, None)})", "add") == (
        "add(1, [2, 3], k={'a': (1, None)})"
    )
    assert literal_call("add(-1.5, 'x')", "add") == "add(-1.5, 'x')"
    for hostile in [
        "add(__import__('os').getpid())",
        "add(x)",
        "add(*[1, 2])",
        "add(**{'a': 1})",
        "sub(1, 2)",
        "add(1, 2).real",
        "add([i for i in range(3)])",
        "add(" + "[" * 200 + "]" * 200 + ")",
        "add(1" + ", 1" * 300 + ")",
    ]:
        assert literal_call(hostile, "add") is None, hostile


def test_calls_are_found_however_the_model_frames_them() -> None:
    assert calls_in("assert add(1, 2) == 3", "add") == ["add(1, 2)"]
    assert calls_in("print(add([1, (2, 3)]))", "add") == ["add([1, (2, 3)])"]
    assert calls_in("1. `add('a')` and add(2)", "add") == ["add('a')", "add(2)"]
    for none in ["x.add(1)", "my_add(1)", "add(x)", "add(__import__('os'))", "add(1"]:
        assert calls_in(none, "add") == [], none


def test_results_of_reads_each_calls_result() -> None:
    calls = ("f(1)", "f('a; b -> c')")
    answer = "f(1) -> [1, 2]; f('a; b -> c') -> 'x; y'"
    assert results_of(answer, calls) == ["[1, 2]", "'x; y'"]
    assert results_of("something else", calls) == []


def test_budget_ledger_and_seed() -> None:
    async def run(budget: int | None) -> Any:
        limit = None if budget is None else Budget(completion_tokens=budget)
        ctx = Context(FunctionBackend(world), budget=limit)
        try:
            return await make_strategy("s_star", n=6, seed=2).run(PROBLEM, ctx), ctx
        except BudgetExhausted:
            return None, ctx

    for budget in (30, 60, 120):
        result, ctx = asyncio.run(run(budget))
        assert ctx.ledger.total().completion_tokens <= budget
        if result is not None:
            roles = result.ledger["by_role"]
            total = sum(r["completion_tokens"] for r in roles.values())
            assert total == result.usage.completion_tokens
    (first, _), (second, _) = asyncio.run(run(None)), asyncio.run(run(None))
    assert (first.answer, first.details) == (second.answer, second.details)


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="code problem"):
        asyncio.run(make_strategy("s_star").run("What is 2 + 2?", Context(FunctionBackend(world))))
    with pytest.raises(ConfigError, match="max_groups"):
        make_strategy("s_star", max_groups=1)
    with pytest.raises(PolicyError, match="prompt template"):
        Policy.default().admit("s_star", {}, {"inputs_prompt": "{question}"}, {"default"})


@pytest.mark.live
def test_s_star_on_the_embedded_model(embedded: Any) -> None:
    strategy = make_strategy("s_star", n=3, max_tokens=64, seed=1, temperature=1.0)
    result = asyncio.run(strategy.run(PROBLEM, Context(embedded)))
    roles = result.ledger["by_role"]
    assert roles["generate"]["calls"] == 1 and len(result.candidates) == 3
    split = len(result.details["votes"]) >= 2
    assert ("test-gen" in roles) is split


async def test_programs_shown_are_clipped_to_the_models_context() -> None:
    from ponder.strategies.base import CHARS_PER_TOKEN, TEMPLATE_TOKENS

    padding = "\n".join(f"    # step {i}: nothing happens here yet" for i in range(120))

    def long_programs(request: GenerationRequest, index: int) -> str:
        text = world(request, index)
        if text.startswith("```python"):  # each program 4,000 characters long
            return text.replace("\n```", f"\n{padding}\n```")
        return text

    class SmallContext(FunctionBackend):
        @property
        def context_length(self) -> int:
            return 1500

    backend = SmallContext(long_programs)
    result = await make_strategy("s_star", n=6, seed=0, max_tokens=2000).run(
        PROBLEM, Context(backend)
    )
    assert result.details["comparisons"]  # the comparisons ran, each prompt within reach
    room = (1500 - TEMPLATE_TOKENS) * CHARS_PER_TOKEN
    shown = [asked(r) for r in backend.history if "Solution" in asked(r)]
    assert shown and all(len(text) <= room for text in shown)
