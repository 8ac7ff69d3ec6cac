"""``moa`` and ``debate``: layers and rounds that read each other, with roles that say what the
tokens were for (``propose``, ``debate``, ``aggregate``); the ledger is the sum of its parts;
the budget holds; the same seed gives the same result; models are checked before anything
is spent; bad input is refused; a request cannot set their prompts; they compose with a
sampler; and they run on the embedded model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.api import make_strategy
from ponder.core.types import GenerationRequest
from ponder.errors import BudgetExhausted, ConfigError, UnknownNameError
from ponder.runtime import Budget, Context
from ponder.server.policy import Policy, PolicyError
from ponder.testing import FunctionBackend


def asked(request: GenerationRequest) -> str:
    return request.messages[-1].content if request.messages else ""


def mixture(request: GenerationRequest, index: int) -> str:
    """First answers split 5 / 4 / 5; a layer that reads responses says 7."""
    if "Responses to this problem" in asked(request):
        return "Checking them, 3 + 4 = 7.\nAnswer: 7"
    return f"Answer: {(5, 4, 5)[((request.params.seed or 0) + index) % 3]}"


def arguing(request: GenerationRequest, index: int) -> str:
    """Agents start split; after reading the others, an agent adopts 7."""
    text = asked(request)
    if "Several agents debated" in text:
        return "The debate settles on 7.\nAnswer: 7"
    if "latest responses of other agents" in text:
        return "Answer: 7"
    return f"Answer: {(5, 4, 6)[((request.params.seed or 0) + index) % 3]}"


async def test_moa_layers_read_the_layer_before_and_the_aggregator_answers() -> None:
    seen: list[str] = []

    def record(request: GenerationRequest, index: int) -> str:
        seen.append(asked(request))
        return mixture(request, index)

    ctx = Context(FunctionBackend(record))
    result = await make_strategy("moa", layers=2, seed=0).run("What is 3 + 4?", ctx)
    assert result.answer == "7"
    roles = result.ledger["by_role"]
    assert roles["propose"]["calls"] == 2  # one request a layer: three proposals of one model
    assert roles["aggregate"]["calls"] == 1 and "generate" not in roles
    assert len(result.candidates) == 3 + 3 + 1
    layers = result.details["layers"]
    assert len(layers) == 2 and layers[1]["answers"] == ["7", "7", "7"]
    assert any("Response 3:" in text for text in seen)  # a later layer saw all three


async def test_moa_with_several_models_keeps_each_proposals_model() -> None:
    models = {
        "default": FunctionBackend(mixture),
        "gemma": FunctionBackend(lambda r, i: "Answer: 9"),
    }
    strategy = make_strategy("moa", proposers=["default", "gemma", "default"], layers=1, seed=0)
    result = await strategy.run("q", Context(models))
    assert result.details["layers"][0]["models"] == ["default", "gemma", "default"]
    assert result.details["layers"][0]["answers"][1] == "9"
    with pytest.raises(UnknownNameError, match="qwen"):
        await make_strategy("moa", proposers=["default", "qwen"]).run("q", Context(models))


async def test_moa_without_an_aggregated_answer_keeps_the_last_layers_vote() -> None:
    def mute(request: GenerationRequest, index: int) -> str:
        return "" if "Responses to this" in asked(request) else "Answer: 5"

    result = await make_strategy("moa", layers=1, seed=0).run("q", Context(FunctionBackend(mute)))
    assert result.answer == "5" and "vote stands" in result.details["why"]


async def test_debate_rounds_and_the_final_vote() -> None:
    result = await make_strategy("debate", rounds=2, seed=0).run(
        "What is 3 + 4?", Context(FunctionBackend(arguing))
    )
    assert result.answer == "7"
    roles = result.ledger["by_role"]
    assert roles["propose"]["calls"] == 1 and roles["debate"]["calls"] == 3
    # after round 1 every agent says 7: round 2 is not spent
    assert result.details["stopped_early_after"] == 1
    assert [r["answers"] for r in result.details["rounds"]][1] == ["7", "7", "7"]


async def test_debate_that_agrees_at_once_spends_nothing_more() -> None:
    ctx = Context(FunctionBackend(lambda r, i: "Answer: 6"))
    result = await make_strategy("debate", rounds=3, seed=0).run("q", ctx)
    assert result.details["stopped_early_after"] == 0
    assert "debate" not in result.ledger["by_role"]
    without = await make_strategy("debate", rounds=2, seed=0, early_stop=False).run(
        "q", Context(FunctionBackend(lambda r, i: "Answer: 6"))
    )
    assert without.ledger["by_role"]["debate"]["calls"] == 6


async def test_an_agent_whose_last_reply_gives_no_answer_keeps_its_latest_one() -> None:
    # round 0: 6, 6, 5 (no agreement); round 1: the first two stop answering, the third says 5
    def fading(request: GenerationRequest, index: int) -> str:
        if "latest responses of other agents" not in asked(request):
            return f"Answer: {(6, 6, 5)[((request.params.seed or 0) + index) % 3]}"
        assert request.messages is not None
        own = request.messages[-2].content  # the agent's own latest response
        return "Answer: 5" if "5" in own else "Let me think about this more carefully"

    result = await make_strategy("debate", rounds=1, seed=0).run(
        "q", Context(FunctionBackend(fading))
    )
    answers = result.details["rounds"][1]["answers"]
    assert answers.count(None) >= 1  # some agent's last reply gave none
    kept = result.details["kept_earlier_answer"]
    assert kept and all(answers[i] is None for i in kept)
    assert result.answer == "6"  # the standing answers: the silent agents' 6s still count


async def test_debate_judge_settles_a_split_last_round() -> None:
    def stubborn(request: GenerationRequest, index: int) -> str:
        if "Several agents debated" in asked(request):
            return "Answer: 7"
        return f"Answer: {(5, 4, 6)[((request.params.seed or 0) + index) % 3]}"

    strategy = make_strategy("debate", rounds=1, final="judge", seed=0)
    result = await strategy.run("q", Context(FunctionBackend(stubborn)))
    assert result.answer == "7" and result.details["judged"] is True
    assert result.ledger["by_role"]["aggregate"]["calls"] == 1


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(["moa", "debate"]),
    budget=st.integers(10, 160),
    seed=st.integers(0, 5),
)
def test_ledger_adds_up_and_the_budget_holds(name: str, budget: int, seed: int) -> None:
    reply = mixture if name == "moa" else arguing
    requests: list[int] = []

    def counted(request: GenerationRequest, index: int) -> str:
        if index == 0:
            requests.append(1)
        return reply(request, index)

    async def run() -> Any:
        ctx = Context(FunctionBackend(counted), budget=Budget(completion_tokens=budget))
        try:
            result = await make_strategy(name, max_tokens=8, seed=seed).run("q", ctx)
            return result, ctx
        except BudgetExhausted:
            return None, ctx

    result, ctx = asyncio.run(run())
    assert ctx.ledger.total().completion_tokens <= budget
    if result is not None:
        roles = result.ledger["by_role"]
        assert sum(r["completion_tokens"] for r in roles.values()) == result.usage.completion_tokens
        assert sum(r["calls"] for r in roles.values()) == len(requests)


@pytest.mark.parametrize("name", ["moa", "debate"])
def test_the_same_seed_gives_the_same_result(name: str) -> None:
    reply = mixture if name == "moa" else arguing

    def run() -> Any:
        strategy = make_strategy(name, seed=3, temperature=0.8)
        return asyncio.run(strategy.run("q", Context(FunctionBackend(reply))))

    first, second = run(), run()
    assert (first.answer, first.details) == (second.answer, second.details)


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="layers"):
        make_strategy("moa", layers=0)
    with pytest.raises(ConfigError, match="proposers"):
        make_strategy("moa", proposers=[])
    with pytest.raises(ConfigError, match="agents"):
        make_strategy("debate", agents=["default"])
    with pytest.raises(ConfigError, match="final"):
        make_strategy("debate", final="coin")
    policy = Policy.default()
    with pytest.raises(PolicyError, match="prompt template"):
        policy.admit("moa", {}, {"synthesize_prompt": "{question}"}, {"default"})
    with pytest.raises(PolicyError, match="prompt template"):
        policy.admit("debate", {}, {"update_prompt": "{responses}"}, {"default"})
    with pytest.raises(PolicyError, match="nope"):
        policy.admit("debate", {}, {"agents": ["default", "nope"]}, {"default"})


async def test_they_compose_with_a_sampler() -> None:
    def by_seed(request: GenerationRequest, index: int) -> str:
        if "Responses to this" in asked(request) or "other agents" in asked(request):
            return "Answer: 7"
        return f"Answer: {(5, 4, 3)[((request.params.seed or 0) + index) % 3]}"

    settings_of: list[tuple[str, dict[str, Any]]] = [("moa", {"layers": 1}), ("debate", {})]
    for name, more in settings_of:
        strategy = make_strategy(name, seed=0, sampler="think_twice(rounds=1)", **more)
        result = await strategy.run("What is 3 + 4?", Context(FunctionBackend(by_seed)))
        assert result.answer == "7"
        assert "propose" not in result.ledger["by_role"]  # the sampler's calls are its own


@pytest.mark.live
@pytest.mark.parametrize("name", ["moa", "debate"])
def test_on_the_embedded_model(embedded: Any, name: str) -> None:
    options: dict[str, Any] = {"moa": {"layers": 2}, "debate": {"rounds": 1}}[name]
    strategy = make_strategy(name, max_tokens=24, seed=1, **options)
    result = asyncio.run(strategy.run("What is 3 + 4?", Context(embedded)))
    roles = result.ledger["by_role"]
    assert roles["propose"]["calls"] == (2 if name == "moa" else 1)  # a request a layer
    if name == "moa":
        assert roles["aggregate"]["calls"] == 1 and len(result.candidates) == 7
    else:
        spent = 0 if result.details["stopped_early_after"] == 0 else 3
        assert roles.get("debate", {"calls": 0})["calls"] == spent
    assert result.usage.completion_tokens == sum(r["completion_tokens"] for r in roles.values())


def test_bracketed_lists_of_names_in_specs() -> None:
    from ponder.core.spec import expand_spec, parse_value

    assert parse_value("[default,gemma, qwen]") == ["default", "gemma", "qwen"]
    assert parse_value("[1,2]") == [1, 2] and parse_value("x[1]") == "x[1]"
    ((_, name, options),) = expand_spec("debate:agents=[default,default],rounds=1")
    assert make_strategy(name, **options).config.agents == ["default", "default"]  # type: ignore[attr-defined]


async def test_the_readme_composition_verifies_mixtures_of_forced_proposals() -> None:
    """The README's composed spec: best_of_n whose candidates are each a moa of budget-forced
    proposals, verified by gen_verify; its ledger by role."""
    from ponder.core.spec import expand_spec

    def scripted(request: GenerationRequest, index: int) -> str:
        text = asked(request)
        if "Verdict:" in text:
            return "Verdict: correct" if "Answer: 7" in text else "Verdict: incorrect"
        if "Responses to this problem" in text:
            return "Answer: 7"
        return "Let me think. 3 + 4 = 7.\nAnswer: 7"

    spec = (
        "best_of_n:n=2,scorer=gen_verify(m=2),"
        "sampler=moa(layers=1,proposers=[default,default],sampler=budget_forcing(max_thinking=32))"
    )
    ((_, name, options),) = expand_spec(spec)
    result = await make_strategy(name, **options).run(
        "What is 3 + 4?", Context(FunctionBackend(scripted))
    )
    assert result.answer == "7"
    roles = result.ledger["by_role"]
    assert roles["aggregate"]["calls"] == 2  # one aggregator per mixture
    assert roles["verify"]["calls"] == 2  # one request of m=2 chains per mixture
    assert {"aggregate", "verify"} < set(roles) and len(roles) >= 3


class SmallContext(FunctionBackend):
    """A model of 1,000 tokens of context whose replies run long (2,400 characters in a few of
    the fake backend's word-tokens)."""

    @property
    def context_length(self) -> int:
        return 1000


def rambling(request: GenerationRequest, index: int) -> str:
    seed = (request.params.seed or 0) + index
    return "1+2=3;" * 400 + f"\nAnswer: {(5, 4, 6)[seed % 3]}"


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "debate", "rounds": 1, "final": "judge", "early_stop": False},
        {"name": "moa", "layers": 2},
        {"name": "fuse", "n": 4, "when": "always"},
    ],
)
async def test_shown_replies_are_clipped_to_the_models_context(spec: dict[str, Any]) -> None:
    from ponder.strategies.base import CHARS_PER_TOKEN, TEMPLATE_TOKENS

    backend = SmallContext(rambling)
    options = {k: v for k, v in spec.items() if k != "name"}
    await make_strategy(spec["name"], max_tokens=100, seed=0, **options).run(
        "What is 3 + 4?", Context(backend)
    )
    room = (1000 - 100 - TEMPLATE_TOKENS) * CHARS_PER_TOKEN
    shown = [r for r in backend.history if len(r.messages[-1].content) > 1000]
    assert shown  # prompts that show other replies were made, and each fits the room
    for request in backend.history:  # (an agent's own earlier reply is counted in tokens)
        assert len(request.messages[-1].content) <= room
    # without a context the backend states, the configured limits stand
    plain = FunctionBackend(rambling)
    await make_strategy(spec["name"], max_tokens=100, seed=0, **options).run(
        "What is 3 + 4?", Context(plain)
    )
    assert max(len(r.messages[-1].content) for r in plain.history) > room
