from __future__ import annotations

import pytest

from ponder.api import asolve, make_strategy
from ponder.core.problem import Problem
from ponder.core.registry import default_registry
from ponder.core.types import Capabilities
from ponder.errors import CapabilityError, ConfigError, UnknownNameError
from ponder.runtime import Context
from ponder.strategies.greedy import Greedy
from ponder.strategies.self_consistency import SelfConsistency
from ponder.testing import FunctionBackend, ScriptedBackend


async def test_greedy_samples_once_at_temperature_zero() -> None:
    backend = ScriptedBackend(["Let me see. The answer is 12."])
    result = await Greedy(max_tokens=32).run("What is 3 * 4?", Context(backend))
    assert result.answer == "12"
    (request,) = backend.history
    assert request.params.temperature == 0.0 and request.params.n == 1
    assert request.params.max_tokens == 32
    assert request.messages is not None and request.messages[-1].content == "What is 3 * 4?"


async def test_self_consistency_takes_the_equivalent_majority() -> None:
    replies = ["It is 0.5", "the answer is 1/2", "\\boxed{3}", "I don't know", "so 3"]
    backend = ScriptedBackend(replies)
    result = await SelfConsistency(n=5, seed=7).run(
        Problem("q", system="be brief"), Context(backend)
    )
    # 0.5 and 1/2 agree (2 votes); 3 has 2 votes too; "I don't know" has none numeric
    votes = {v["answer"]: v["votes"] for v in result.details["votes"]}
    assert votes["0.5"] == 2 and votes["3"] == 2
    assert result.answer == "0.5"  # tie broken toward the earliest group
    assert result.text == "It is 0.5"
    (request,) = backend.history
    assert request.params.n == 5 and request.params.seed == 7
    assert request.params.temperature == 0.4  # the measured default
    assert request.messages is not None and request.messages[0].role == "system"
    assert result.usage.completion_tokens == sum(c.completion_tokens for c in result.candidates)


async def test_self_consistency_with_no_answers() -> None:
    result = await SelfConsistency(n=2).run("q", Context(ScriptedBackend(["", ""])))
    assert result.answer is None
    assert result.details["abstained"] == 2


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        make_strategy("tree_of_magic")
    assert "greedy" in str(info.value) and "self_consistency" in str(info.value)


def test_bad_strategy_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="n"):
        SelfConsistency(n=0)
    with pytest.raises(ConfigError, match="its options"):
        Greedy(n=4)
    with pytest.raises(ConfigError, match="temperature"):
        make_strategy("self_consistency", temperature=-1)


def test_builtins_come_from_entry_points() -> None:
    registry = default_registry()
    assert {"greedy", "self_consistency"} <= set(registry.names("strategy"))
    assert {"llamacpp", "openai"} <= set(registry.names("backend"))
    assert registry.get("strategy", "greedy") is Greedy


async def test_a_plugin_registers_like_a_builtin() -> None:
    class Echo(Greedy):
        name = "echo"

    registry = default_registry().with_component("strategy", "echo", Echo)
    backend = FunctionBackend(lambda request, i: "answer: echo")
    result = await asolve("q", strategy="echo", backend=backend, registry=registry)
    assert result.strategy == "echo" and result.answer == "echo"
    assert "echo" not in default_registry().names("strategy")


async def test_missing_capability_fails_before_sampling() -> None:
    class NeedsLogprobs(Greedy):
        name = "needs_logprobs"
        requires = ("logprobs",)

    backend = ScriptedBackend(["x"], capabilities=Capabilities())
    with pytest.raises(CapabilityError, match="needs logprobs"):
        await NeedsLogprobs().run("q", Context(backend))
    assert backend.history == []


def test_unknown_backend_prefix_lists_the_known_backends() -> None:
    from ponder.backends.base import resolve_backend

    with pytest.raises(UnknownNameError, match="choose one of: llamacpp, openai"):
        resolve_backend("vllm:Qwen/Qwen2.5-7B-Instruct")
