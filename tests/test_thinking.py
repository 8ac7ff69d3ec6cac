"""Sequential scaling: thoughts apart from replies, budget forcing's exact caps, no_thinking,
think_twice, self_refine, and composition (a sequential strategy as a parallel one's sampler)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.backends.openai import OpenAIBackend
from ponder.core.problem import Problem
from ponder.core.registry import default_registry
from ponder.core.thinking import ThinkingFormat, split_thought
from ponder.core.types import Capabilities, Completion, GenerationRequest
from ponder.errors import CapabilityError, ConfigError
from ponder.runtime import Context
from ponder.runtime.sampling import candidate_from
from ponder.testing import FunctionBackend

#: continuation but no logprobs: judges read text verdicts
CAPS = Capabilities(continuation=True, native_n=True, streaming=True)


def strategy(name: str, **options: Any) -> Any:
    return default_registry().get("strategy", name)(**options)


def thinker(words: int = 6, close: bool = True) -> Any:
    """A reasoning model: in a thought it writes ``words`` words and closes it (or not);
    after a closed thought it answers; judges and critics get short verdicts."""

    def fn(request: GenerationRequest, index: int) -> str:
        prompt = " ".join(m.content for m in request.messages or ())
        if "Rating" in prompt:
            return "Rating: 7"
        if "Solution A" in prompt:
            return "A"
        if "Yes or No" in prompt or "Yes/No" in prompt:
            return "Yes"
        if "Point out every mistake" in prompt:
            return "It is correct."
        prefix = request.prefix
        if prefix.rstrip().endswith("</think>") or not prefix:
            return f"So 2 + 2 = 4.\n\nAnswer: {4 + index % 2}"
        thought = " ".join(["hmm"] * words)
        return f"{thought}</think> more text" if close else thought

    return fn


def test_split_thought() -> None:
    assert split_thought("<think>a b</think> The answer is 4.").reasoning == "a b"
    opened_by_template = split_thought("a b</think>\nAnswer: 4")
    assert (opened_by_template.reasoning, opened_by_template.content) == ("a b", "Answer: 4")
    never = split_thought("Answer: 4")
    assert never.reasoning is None and never.content == "Answer: 4" and never.how == "none"
    unclosed = split_thought("<think>still thinking")
    assert unclosed.how == "unclosed" and unclosed.content == ""
    custom = ThinkingFormat("[T]", "[/T]")
    assert split_thought("[T]x[/T]y", custom).content == "y"
    with pytest.raises(ConfigError, match="two different"):
        ThinkingFormat("<t>", "<t>")


def test_answers_come_from_the_reply_and_say_when_from_the_thought() -> None:
    spec = Problem("q").answer
    reply = Completion("<think>It is 5? no, 4.</think>Answer: 4", "stop", 9)
    c = candidate_from(reply, spec=spec)
    assert (c.answer, c.text, c.reasoning, c.answer_source) == (
        "4",
        "Answer: 4",
        "It is 5? no, 4.",
        "content",
    )
    only_thought = candidate_from(Completion("<think>Answer: 7</think>", "stop", 5), spec=spec)
    assert only_thought.answer == "7" and only_thought.answer_source == "reasoning"
    cut = candidate_from(Completion("<think>the answer is 7 and", "length", 5), spec=spec)
    assert cut.answer is None and cut.abstained == "cut off at max_tokens"
    server = candidate_from(Completion("Answer: 3", "stop", 5, reasoning="thought apart"))
    assert server.reasoning == "thought apart" and server.answer == "3"


def test_server_reasoning_content_and_reasoning_tokens() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "choices": [
                {
                    "index": 0,
                    "message": {"content": "Answer: 4", "reasoning_content": "2 + 2 is 4"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 20,
                "completion_tokens_details": {"reasoning_tokens": 15},
            },
        }
        return httpx.Response(200, content=json.dumps(body))

    backend = OpenAIBackend("http://testserver/v1#m", transport=httpx.MockTransport(handler))

    async def run() -> Any:
        try:
            return await strategy("greedy").run("What is 2 + 2?", Context(backend))
        finally:
            await backend.aclose()

    result = asyncio.run(run())
    assert result.usage.reasoning_tokens == 15
    assert result.ledger["by_role"]["generate"]["reasoning_tokens"] == 15
    candidate = result.candidates[0]
    assert (candidate.reasoning, candidate.text, candidate.answer) == (
        "2 + 2 is 4",
        "Answer: 4",
        "4",
    )


@settings(max_examples=25, deadline=None)
@given(
    words=st.integers(1, 40),
    max_thinking=st.integers(2, 60),
    extend=st.integers(0, 4),
    wrap_up=st.booleans(),
)
def test_budget_forcing_is_exact(words: int, max_thinking: int, extend: int, wrap_up: bool) -> None:
    """Thinking never exceeds the cap; a model that closes early is told Wait exactly
    ``extend`` times unless the cap comes first; reasoning tokens are the thinking."""
    wrap_tokens = 1
    if wrap_up and max_thinking <= wrap_tokens:
        return
    s = strategy(
        "budget_forcing",
        max_thinking=max_thinking,
        extend=extend,
        wrap_up=wrap_up,
        wrap_up_tokens=wrap_tokens,
    )
    ctx = Context(FunctionBackend(thinker(words), capabilities=CAPS))
    result = asyncio.run(s.run("What is 2 + 2?", ctx))
    details = result.details
    assert details["thinking_tokens"] <= max_thinking
    assert result.usage.reasoning_tokens == details["thinking_tokens"]
    # what the rules give for a model that closes its thought after `words` tokens
    cap = max_thinking - (wrap_tokens if wrap_up else 0)
    used = waits = 0
    while True:
        if words > cap - used:
            used, forced = cap, True
            break
        used += words
        if used >= cap:
            forced = True
            break
        if waits == extend:
            forced = False
            break
        waits += 1
    if forced and wrap_up:
        used += wrap_tokens
    assert (details["thinking_tokens"], details["waits"], details["forced_close"]) == (
        used,
        waits,
        forced,
    )
    thought = result.candidates[0].reasoning or ""
    assert thought.count("Wait") == details["waits"]
    assert result.answer in ("4", "5")


def test_budget_forcing_min_thinking_and_forced_close() -> None:
    # closes after 5 words; min_thinking 12 with extend 5: Wait until 12 are thought
    s = strategy("budget_forcing", max_thinking=100, min_thinking=12, extend=5)
    ctx = Context(FunctionBackend(thinker(5), capabilities=CAPS))
    result = asyncio.run(s.run("What is 2 + 2?", ctx))
    assert result.details["waits"] == 2 and result.details["thinking_tokens"] == 15
    # never closes: forced at the cap, then the answer after the closing delimiter
    s = strategy("budget_forcing", max_thinking=10)
    backend = FunctionBackend(thinker(50, close=False), capabilities=CAPS)
    result = asyncio.run(s.run("What is 2 + 2?", Context(backend)))
    assert result.details["forced_close"] and result.details["thinking_tokens"] == 10
    assert backend.history[-1].prefix.rstrip().endswith("</think>")
    assert result.answer == "4"


def test_budget_forcing_bad_input() -> None:
    with pytest.raises(ConfigError, match="min_thinking .* is above max_thinking"):
        strategy("budget_forcing", max_thinking=10, min_thinking=20, extend=1)
    with pytest.raises(ConfigError, match="needs extend"):
        strategy("budget_forcing", max_thinking=10, min_thinking=5)
    with pytest.raises(ConfigError, match="wrap_up_tokens"):
        strategy("budget_forcing", max_thinking=10, wrap_up=True, wrap_up_tokens=10)

    class Small(FunctionBackend):
        @property
        def context_length(self) -> int:
            return 100

    s = strategy("budget_forcing", max_thinking=500)
    with pytest.raises(ConfigError, match="exceeds the model's context of 100"):
        asyncio.run(s.run("q", Context(Small(thinker(), capabilities=CAPS))))
    no_continuation = FunctionBackend(thinker(), capabilities=Capabilities())
    with pytest.raises(CapabilityError, match="needs continuation"):
        asyncio.run(strategy("no_thinking").run("q", Context(no_continuation)))


def test_scaffold_for_models_that_do_not_think() -> None:
    backend = FunctionBackend(thinker(), capabilities=CAPS)
    asyncio.run(strategy("budget_forcing", max_thinking=20).run("q", Context(backend)))
    system = backend.history[0].messages[0]  # type: ignore[index]
    assert system.role == "system" and "<think>" in system.content
    backend = FunctionBackend(thinker(), capabilities=CAPS)
    asyncio.run(strategy("no_thinking", scaffold="never").run("q", Context(backend)))
    assert backend.history[0].messages[0].role == "user"  # type: ignore[index]
    assert backend.history[0].prefix.startswith("<think>\nOkay, I think I have finished")


def test_think_twice_stops_when_two_rounds_agree() -> None:
    answers = iter(["Answer: 3", "Answer: 4", "Answer: 4", "Answer: 9"])
    backend = FunctionBackend(lambda r, i: next(answers))
    result = asyncio.run(strategy("think_twice", rounds=4).run("q", Context(backend)))
    assert result.answer == "4" and result.details["rounds"] == 3 and result.details["agreed"]
    prompts = [r.messages[-1].content for r in backend.history]  # type: ignore[index]
    assert "previous answer is: 3" in prompts[1] and "previous answer is: 4" in prompts[2]


def test_self_refine_keeps_the_best_and_stops_without_improvement() -> None:
    replies = iter(["2 + 2 = 5\n\nAnswer: 5", "wrong", "2 + 2 = 4\n\nAnswer: 4", "ok", "2 + 2 = 7"])
    backend = FunctionBackend(lambda r, i: next(replies))
    s = strategy("self_refine", rounds=4, scorer="arithmetic")
    result = asyncio.run(s.run("What is 2 + 2?", Context(backend)))
    assert result.answer == "4" and result.details["scores"] == [0.0, 1.0, 0.0]
    assert result.details["stopped"] == "no improvement"
    assert result.ledger["by_role"]["verify"]["calls"] == 2  # the critiques


PARALLEL: list[tuple[str, dict[str, Any]]] = [
    ("self_consistency", {"n": 3}),
    ("best_of_n", {"n": 2, "scorer": "judge(mode=text)"}),
    ("weighted_self_consistency", {"n": 3, "scorer": "arithmetic"}),
    ("shortest_majority", {"n": 3}),
    ("knockout", {"n": 2, "scorer": "judge(mode=text)"}),
    ("multi_verifier", {"n": 2, "mode": "text"}),
    ("model_switch", {"n": 2}),
]
SEQUENTIAL = [
    "budget_forcing(max_thinking=12,extend=1)",
    "no_thinking",
    "think_twice(rounds=2)",
    "self_refine(rounds=1,scorer=arithmetic)",
]


@pytest.mark.parametrize(("outer", "options"), PARALLEL)
@pytest.mark.parametrize("sampler", SEQUENTIAL)
def test_every_parallel_strategy_composes_with_every_sampler(
    outer: str, options: dict[str, Any], sampler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The composed run works, and its ledger is the sum of its parts: each candidate's
    own run, plus the outer strategy's own calls."""
    parts: list[Context] = []
    real_scope = Context.scope

    def scope(self: Context, model: str | None = None) -> Context:
        part = real_scope(self, model)
        parts.append(part)
        return part

    monkeypatch.setattr(Context, "scope", scope)
    backend = FunctionBackend(thinker(4), capabilities=CAPS)
    ctx = Context({"default": backend, "second": backend})
    s = strategy(outer, sampler=sampler, seed=3, **options)
    result = asyncio.run(s.run("What is 2 + 2?", ctx))
    assert result.answer in ("4", "5")
    assert parts and len(parts) >= len(result.candidates)
    whole = ctx.ledger.total()
    inner = sum((p.ledger.total() for p in parts), start=type(whole)())
    assert whole == inner + ctx.own.total()
    for candidate, part in zip(result.candidates, parts, strict=False):
        assert candidate.completion_tokens == part.ledger.total().completion_tokens


def test_samplers_that_cannot_compose_say_why() -> None:
    with pytest.raises(ConfigError, match="cannot take a sampler: it stops samples early"):
        strategy("early_stopping_sc", sampler="budget_forcing")
    with pytest.raises(ConfigError, match="cannot be a sampler"):
        strategy("self_consistency", sampler="best_of_n")
    with pytest.raises(ConfigError, match="cannot take a sampler"):
        strategy("beam_search", sampler="no_thinking", scorer="arithmetic")
    with pytest.raises(ConfigError, match="min_thinking"):
        strategy(
            "self_consistency", sampler="budget_forcing(max_thinking=5,min_thinking=9,extend=1)"
        )


@pytest.mark.live
def test_budget_forcing_live_is_exact(embedded: Any) -> None:
    """On the embedded model (scaffolded: it does not think by itself) the thought stays
    within the cap and the Waits are exactly the ones asked for."""
    s = strategy(
        "budget_forcing", max_thinking=40, extend=2, answer_tokens=24, temperature=0.0, seed=1
    )
    ctx = Context(embedded)
    result = asyncio.run(s.run("What is 3 + 4?", ctx))
    details = result.details
    assert 0 < details["thinking_tokens"] <= 40
    assert result.usage.reasoning_tokens == details["thinking_tokens"]
    assert result.candidates[0].reasoning is not None
    assert result.candidates[0].reasoning.count(" Wait") >= details["waits"]
    assert details["waits"] == 2 or details["forced_close"]


@pytest.mark.live
def test_solve_json_shows_reasoning_apart() -> None:
    from typer.testing import CliRunner

    from ponder.cli import app

    args = ["solve", "What is 3 + 4?", "-s", "budget_forcing:max_thinking=24,answer_tokens=16"]
    result = CliRunner().invoke(app, [*args, "--json", "--seed", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # a cut-off warning may go to stderr
    assert 0 < data["usage"]["reasoning_tokens"] <= 24
    candidate = data["candidates"][0]
    assert "reasoning" in candidate and candidate["text"] != candidate["reasoning"]


def test_native_thinking_budget_is_sent_to_a_server_that_has_one() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        body = {
            "choices": [
                {
                    "index": 0,
                    "message": {"content": "Answer: 4", "reasoning_content": "short"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 9,
                "completion_tokens": 12,
                "completion_tokens_details": {"reasoning_tokens": 7},
            },
        }
        return httpx.Response(200, content=json.dumps(body))

    backend = OpenAIBackend(
        "http://testserver/v1#m", transport=httpx.MockTransport(handler), thinking_budget=True
    )

    async def run() -> Any:
        try:
            s = strategy("budget_forcing", max_thinking=64, answer_tokens=16)
            return await s.run("What is 2 + 2?", Context(backend))
        finally:
            await backend.aclose()

    result = asyncio.run(run())
    assert seen[0]["thinking_token_budget"] == 64 and seen[0]["max_tokens"] == 80
    assert result.details["native"] and result.details["thinking_tokens"] == 7
    assert result.answer == "4" and result.candidates[0].reasoning == "short"
