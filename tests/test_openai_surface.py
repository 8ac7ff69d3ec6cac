"""The OpenAI surface real clients send, checked with the official ``openai`` client: a
multi-turn conversation built from ``model_dump()`` of the SDK's own messages, every field of
the current schemas accepted (those ponder does not act on listed in ``ponder.ignored``),
``GET /v1/models/{id}``, the Responses API streaming and not, progress as samples finish,
keep-alives while a run works, and no task left behind by a dropped stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from ponder.core.types import GenerationRequest, GenerationResult
from ponder.server import Running, ServeConfig, Served, create_app
from ponder.testing import FunctionBackend


def reply(request: GenerationRequest, index: int) -> str:
    asked = request.messages[-1].content if request.messages else request.prompt or ""
    return "The answer is 4." if "2 + 2" in asked else f"Reply {index} to: {asked[:40]}"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with Running(Served("m", {"m": FunctionBackend(reply)})) as url:
        yield openai.OpenAI(base_url=url, api_key="-", max_retries=0)


def test_a_conversation_from_the_sdks_own_messages(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is 2 + 2?"}]
    first = client.chat.completions.create(model="m@greedy", messages=messages)
    messages.append(first.choices[0].message.model_dump())  # refusal, audio, annotations...
    assert {"refusal", "audio", "function_call", "annotations"} <= set(messages[-1])
    messages.append({"role": "user", "content": "And 2 + 2 again?"})
    second = client.chat.completions.create(model="m@self_consistency:n=2", messages=messages)
    assert second.choices[0].message.content == "The answer is 4."


def test_every_schema_field_is_accepted_and_the_unused_listed(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="m@greedy",
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
        service_tier="auto",
        prompt_cache_key="k",
        safety_identifier="user-1",
        verbosity="low",
        modalities=["text"],
        store=False,
        metadata={"a": "b"},
        reasoning_effort="low",
        stream=False,
        extra_body={"web_search_options": {}, "prediction": None},
    )
    ignored = answer.model_extra["ponder"]["ignored"]  # type: ignore[index]
    for field in (
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
        "verbosity",
        "modalities",
        "metadata",
        "reasoning_effort",
        "web_search_options",
    ):
        assert field in ignored, field
    stream = client.chat.completions.create(
        model="m@greedy",
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
        stream=True,
        stream_options={"include_usage": True, "include_obfuscation": False},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == (
        "The answer is 4."
    )


def test_a_model_by_id(client: openai.OpenAI) -> None:
    assert client.models.retrieve("m").id == "m"
    assert client.models.retrieve("m@self_consistency:n=4").id == "m@self_consistency:n=4"
    for missing in ("nope", "m@nope", "m@best_of_n:scorer=python(function=os:system)"):
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve(missing)


def test_responses_streaming_and_not(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="m@self_consistency:n=3",
        input="What is 2 + 2?",
        instructions="Be brief.",
        max_output_tokens=32,
        metadata={"k": "v"},
    )
    assert response.output_text == "The answer is 4."
    assert response.status == "completed" and response.usage is not None
    assert response.usage.output_tokens > 0 and response.usage.input_tokens > 0
    assert response.model_extra["ponder"]["ignored"]["metadata"]  # type: ignore[index]
    conversation = client.responses.create(
        model="m@greedy",
        input=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hello"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "What is 2 + 2?"}]},
        ],
    )
    assert conversation.output_text == "The answer is 4."
    events = list(client.responses.create(model="m@greedy", input="What is 2 + 2?", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.output_item.done" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "The answer is 4." == events[-1].response.output_text
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        client.responses.create(model="m", input="x", previous_response_id="resp_1")


class SlowBackend(FunctionBackend):
    """Samples that finish one by one, 0.3 s apart: told as each finishes."""

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        await asyncio.sleep(0.3 * request.params.n)
        return await super().generate(request)

    async def generate_observed(self, request: GenerationRequest, on_sample: Any) -> Any:
        result = await super().generate(request)
        for c in result.completions:
            await asyncio.sleep(0.3)
            on_sample(c.index, c.text, c.completion_tokens, c.finish_reason)
        return result


async def _lines(app: Any, body: dict[str, Any], stop_after: int | None = None) -> list[str]:
    transport = httpx.ASGITransport(app=app)
    lines = []
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        async for line in response.aiter_lines():
            if line:
                lines.append(line)
            if stop_after is not None and len(lines) >= stop_after:
                break
    return lines


async def test_progress_as_samples_finish_and_keepalives() -> None:
    app = create_app(Served("m", {"m": SlowBackend(reply)}), ServeConfig(keepalive=0.1))
    body = {
        "model": "m@self_consistency:n=3",
        "stream": True,
        "messages": [{"role": "user", "content": "What is 2 + 2?"}],
    }
    lines = await _lines(app, body)
    assert ": keep-alive" in lines
    deltas = [json.loads(x[6:]) for x in lines if x.startswith("data: {")]
    finished = [i for i, d in enumerate(lines) if "finished" in d]
    answer = next(i for i, d in enumerate(lines) if '"content":"The answer is 4."' in d)
    assert len(finished) == 3 and finished[-1] < answer
    # a keep-alive between the samples' lines: they came one by one, not all at the end
    assert any(lines[i] == ": keep-alive" for i in range(finished[0], finished[-1]))
    assert deltas[-1]["choices"] == [] or deltas[-1].get("ponder")


async def test_a_dropped_stream_leaves_no_task() -> None:
    app = create_app(Served("m", {"m": SlowBackend(reply)}), ServeConfig(keepalive=0.1))
    before = {t for t in asyncio.all_tasks() if not t.done()}
    body = {
        "model": "m@self_consistency:n=3",
        "stream": True,
        "messages": [{"role": "user", "content": "What is 2 + 2?"}],
    }
    await _lines(app, body, stop_after=2)
    for _ in range(50):
        left = {t for t in asyncio.all_tasks() if not t.done()} - before
        left.discard(asyncio.current_task())  # type: ignore[arg-type]
        if not left:
            break
        await asyncio.sleep(0.05)
    assert not left, left


@pytest.mark.live
def test_the_embedded_engine_tells_each_sample_as_it_finishes(embedded: Any) -> None:
    """Samples of one call finish at different decode steps; each is told then (the engine's
    decoded-token count at each telling rises), not all at once after the last."""
    from ponder.runtime import Context
    from ponder.runtime.context import Progress

    seen: list[tuple[int, int]] = []

    def observer(event: Progress) -> None:
        if event.kind == "sample":
            seen.append((event.completion_tokens, embedded.stats.tokens_decoded))

    async def run() -> GenerationResult:
        ctx = Context(embedded, observer=observer)
        return await ctx.sample(
            "Write a short list of fruits.", n=6, temperature=1.0, max_tokens=48, seed=3
        )

    result = asyncio.run(run())
    assert len(seen) == 6
    lengths = sorted(c.completion_tokens for c in result.completions)
    if lengths[0] < lengths[-1]:  # samples of different lengths finish at different steps
        assert seen[0][1] < seen[-1][1], seen
    assert sorted(tokens for tokens, _ in seen) == lengths


@pytest.mark.live
def test_the_embedded_engine_says_what_produced_its_results(embedded: Any) -> None:
    env = embedded.environment()
    assert env["backend"] == "llamacpp" and env["llama_cpp_python"]
    assert env["cpu"] and isinstance(env["cpu_features"], list) and env["n_threads"] >= 1
