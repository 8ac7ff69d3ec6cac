from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.core.types import Usage
from ponder.errors import BudgetExhausted, ConfigError, UnknownNameError
from ponder.runtime import Budget, Context
from ponder.testing import FunctionBackend, ScriptedBackend


async def test_ledger_counts_by_role() -> None:
    backend = ScriptedBackend(["one two three", "four", "yes"])
    ctx = Context(backend)
    await ctx.sample("question here", n=2, max_tokens=10)
    await ctx.sample("is it right?", n=1, max_tokens=5, role="verify")
    gen, ver = ctx.ledger.roles["generate"], ctx.ledger.roles["verify"]
    assert (gen.calls, gen.completion_tokens, gen.prompt_tokens) == (1, 4, 2)
    assert (ver.calls, ver.completion_tokens) == (1, 1)
    assert ctx.ledger.total().completion_tokens == 5
    assert [e.role for e in ctx.trace] == ["generate", "verify"]
    assert ctx.ledger.as_dict()["by_role"]["verify"]["calls"] == 1


async def test_budget_refuses_a_call_before_it_starts() -> None:
    backend = ScriptedBackend(["a"] * 10)
    ctx = Context(backend, budget=Budget(completion_tokens=100))
    await ctx.sample("q", n=2, max_tokens=40)  # worst case 80: allowed
    with pytest.raises(BudgetExhausted, match="only 98 completion tokens are left"):
        await ctx.sample("q", n=4, max_tokens=40)
    assert len(backend.history) == 1  # the refused call never reached the backend


def test_budget_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        Budget(completion_tokens=0)


async def test_concurrent_calls_reserve_their_worst_case() -> None:
    backend = ScriptedBackend(["a b c"] * 10, delay=0.01)
    ctx = Context(backend, budget=Budget(completion_tokens=50))
    results = await asyncio.gather(
        ctx.sample("q", n=1, max_tokens=30),
        ctx.sample("q", n=1, max_tokens=30),
        return_exceptions=True,
    )
    assert sum(isinstance(r, BudgetExhausted) for r in results) == 1
    assert len(backend.history) == 1


async def test_unknown_model_name() -> None:
    ctx = Context(ScriptedBackend(["a"]))
    with pytest.raises(UnknownNameError, match="choose one of: default"):
        await ctx.sample("q", model="judge")


async def test_streaming_is_recorded() -> None:
    ctx = Context(ScriptedBackend(["alpha beta gamma"]))
    chunks = [c async for c in ctx.stream("q", max_tokens=10)]
    assert "".join(c.text for c in chunks) == "alpha beta gamma"
    assert chunks[-1].finish_reason == "stop"
    assert ctx.ledger.roles["generate"].completion_tokens == 3


@given(
    budget=st.integers(1, 200),
    calls=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 30)), max_size=12),
    words=st.integers(1, 40),
)
@settings(max_examples=150, deadline=None)
def test_never_spends_more_than_the_budget(
    budget: int, calls: list[tuple[int, int]], words: int
) -> None:
    backend = FunctionBackend(lambda request, index: " ".join(["w"] * words))
    ctx = Context(backend, budget=Budget(completion_tokens=budget))

    async def run() -> None:
        for n, max_tokens in calls:
            with contextlib.suppress(BudgetExhausted):
                await ctx.sample("q", n=n, max_tokens=max_tokens)

    asyncio.run(run())
    assert ctx.ledger.total().completion_tokens <= budget


async def test_stream_records_the_backends_exact_usage() -> None:
    backend = ScriptedBackend(["a b", "c d e"])
    ctx = Context(backend)
    async for _ in ctx.stream("one two three", n=2, max_tokens=10):
        pass
    assert ctx.ledger.total() == Usage(prompt_tokens=3, completion_tokens=5)
