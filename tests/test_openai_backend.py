"""The HTTP backend: error mapping and retries through httpx.MockTransport, then the real
thing against llama-cpp-python's own OpenAI-compatible server running the embedded model."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from ponder.backends.base import resolve_backend
from ponder.backends.openai import OpenAIBackend
from ponder.core.types import GenerationRequest, Message, Usage, make_params, sample_seed
from ponder.errors import (
    BackendHTTPError,
    BackendProtocolError,
    BackendUnreachable,
    CapabilityError,
    ConfigError,
    ContextLengthError,
)


def chat(text: str, **params: object) -> GenerationRequest:
    return GenerationRequest.chat([Message("user", text)], make_params(**params))


def reply(texts: list[str], completion_tokens: int = 3) -> dict:
    return {
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": 7,
            "completion_tokens": completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 5},
        },
    }


def mocked(handler) -> OpenAIBackend:  # type: ignore[no-untyped-def]
    return OpenAIBackend(
        "http://testserver/v1#m", transport=httpx.MockTransport(handler), backoff=0.001
    )


async def test_retries_5xx_then_succeeds() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        if len(calls) < 3:
            return httpx.Response(503, json={"error": {"message": "overloaded"}})
        return httpx.Response(200, json=reply(["hello"]))

    result = await mocked(handler).generate(chat("hi", max_tokens=5))
    assert len(calls) == 3 and calls[0]["model"] == "m" and calls[0]["max_tokens"] == 5
    assert result.completions[0].text == "hello"
    assert result.usage.prompt_tokens == 7 and result.usage.cached_prompt_tokens == 5
    assert result.completions[0].completion_tokens == 3


async def test_4xx_shows_the_server_message_and_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json={"error": {"message": "temperature too spicy"}})

    with pytest.raises(BackendHTTPError, match="temperature too spicy") as info:
        await mocked(handler).generate(chat("hi"))
    assert info.value.status == 400 and "http://testserver/v1" in str(info.value)
    assert len(calls) == 1


async def test_context_overflow_maps_to_context_length_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "maximum context length is 4096"}})

    with pytest.raises(ContextLengthError):
        await mocked(handler).generate(chat("hi"))


async def test_gives_up_after_retries_on_429() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"retry-after": "0"}, text="slow down")

    with pytest.raises(BackendHTTPError, match="429") as info:
        await mocked(handler).generate(chat("hi"))
    assert len(calls) == 4 and info.value.status == 429  # 1 try + 3 retries


async def test_malformed_json_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>not json</html>")

    with pytest.raises(BackendProtocolError, match="not JSON"):
        await mocked(handler).generate(chat("hi"))

    def missing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": [{"index": 0}]})

    with pytest.raises(BackendProtocolError, match="expected fields"):
        await mocked(missing).generate(chat("hi"))


async def test_falls_back_to_concurrent_requests_without_native_n() -> None:
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(200, json=reply([f"s{len(bodies)}"]))  # ignores n

    backend = mocked(handler)
    result = await backend.generate(chat("hi", n=3, seed=10, temperature=0.5))
    assert len(result.completions) == 3 and [c.index for c in result.completions] == [0, 1, 2]
    assert bodies[0]["n"] == 3 and [b["n"] for b in bodies[1:]] == [1, 1]
    assert sorted(b["seed"] for b in bodies[1:]) == sorted(sample_seed(10, i) for i in (1, 2))
    assert not backend.capabilities.native_n
    await backend.generate(chat("hi", n=2))
    assert [b["n"] for b in bodies[3:]] == [1, 1]  # remembered: no more n > 1


async def test_chat_continuation_needs_the_capability() -> None:
    backend = mocked(lambda r: httpx.Response(200, json=reply(["x"])))
    request = GenerationRequest.chat([Message("user", "q")], make_params(), prefix="So,")
    with pytest.raises(CapabilityError, match="continue_final_message"):
        await backend.generate(request)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=reply([" then"]))

    able = OpenAIBackend(
        "http://t/v1#m", transport=httpx.MockTransport(handler), chat_continuation=True
    )
    await able.generate(request)
    assert seen[0]["messages"][-1] == {"role": "assistant", "content": "So,"}
    assert seen[0]["continue_final_message"] is True


async def test_priority_is_sent_only_to_a_server_said_to_schedule_by_it() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=reply(["x"]))

    urgent = GenerationRequest.chat([Message("user", "q")], make_params(), priority=1)
    await mocked(handler).generate(urgent)  # plain vLLM rejects a nonzero priority
    scheduling = resolve_backend(  # as -B priority_scheduling=true reaches it
        "http://t/v1#m", transport=httpx.MockTransport(handler), priority_scheduling=True
    )
    await scheduling.generate(urgent)
    await scheduling.generate(chat("q"))
    assert "priority" not in seen[0]
    assert seen[1]["priority"] == -1  # vLLM serves lower values first
    assert "priority" not in seen[2]  # the default priority needs no field


async def test_unreachable_server_names_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1#m", max_retries=1, backoff=0.001)
    with pytest.raises(BackendUnreachable, match=f"127.0.0.1:{port}"):
        await backend.generate(chat("hi"))


def test_bad_urls_and_resolution() -> None:
    with pytest.raises(ConfigError):
        OpenAIBackend("ftp://x")
    backend = resolve_backend("http://localhost:9/#some-model")
    assert isinstance(backend, OpenAIBackend)
    assert backend.base_url == "http://localhost:9/v1" and backend.model_name == "some-model"
    assert isinstance(resolve_backend("openai:http://h:1/v1"), OpenAIBackend)


# ---------------------------------------------------------------- against a real server


@pytest.mark.live
async def test_real_server_chat(llama_server: str) -> None:
    backend = OpenAIBackend(llama_server)
    result = await backend.generate(chat("Name a color.", temperature=0, max_tokens=8))
    assert backend.model_name == "smollm2"  # discovered from /models
    c = result.completions[0]
    assert c.text and 1 <= c.completion_tokens <= 8
    assert result.usage.prompt_tokens > 5
    await backend.aclose()


@pytest.mark.live
async def test_real_server_n_logprobs_and_stream(llama_server: str) -> None:
    backend = OpenAIBackend(llama_server + "#smollm2")
    result = await backend.generate(
        chat(
            "Say a number.",
            temperature=0.9,
            max_tokens=6,
            n=2,
            seed=3,
            logprobs=True,
            top_logprobs=2,
        )
    )
    assert len(result.completions) == 2
    for c in result.completions:
        assert c.logprobs and all(lp.logprob <= 0 for lp in c.logprobs)
    text = ""
    async for chunk in backend.stream(chat("Name a fruit.", temperature=0, max_tokens=8)):
        text += chunk.text
    whole = await backend.generate(chat("Name a fruit.", temperature=0, max_tokens=8))
    assert text == whole.completions[0].text
    await backend.aclose()


@pytest.mark.live
async def test_real_server_raw_prompt_continuation(llama_server: str) -> None:
    backend = OpenAIBackend(llama_server + "#smollm2")
    request = GenerationRequest(
        params=make_params(temperature=0, max_tokens=3), prompt="1, 2, 3,", prefix=" 4,"
    )
    result = await backend.generate(request)
    assert result.completions[0].text.strip().startswith("5")
    await backend.aclose()


@pytest.mark.live
async def test_real_server_4xx_for_an_overlong_prompt(llama_server: str) -> None:
    backend = OpenAIBackend(llama_server + "#smollm2")
    with pytest.raises(ContextLengthError) as info:
        await backend.generate(chat("lorem ipsum " * 2000, max_tokens=8))
    assert isinstance(info.value, BackendHTTPError) and info.value.status == 400
    assert llama_server in str(info.value)
    await backend.aclose()


@pytest.mark.live
async def test_real_server_streams_n_without_native_n(llama_server: str) -> None:
    backend = OpenAIBackend(llama_server + "#smollm2")
    await backend.generate(chat("hi", n=2, max_tokens=2))  # learns the server has no native n
    assert not backend.capabilities.native_n
    texts: dict[int, str] = {}
    finished = set()
    async for chunk in backend.stream(chat("Name a city.", temperature=0.8, max_tokens=6, n=3)):
        texts[chunk.index] = texts.get(chunk.index, "") + chunk.text
        if chunk.finish_reason:
            finished.add(chunk.index)
    assert finished == {0, 1, 2} and all(texts[i] for i in range(3))
    await backend.aclose()


@pytest.mark.live
def test_cli_solves_through_a_real_server(llama_server: str) -> None:
    from typer.testing import CliRunner

    from ponder.cli import app

    result = CliRunner().invoke(
        app,
        [
            "solve",
            "What is 1 + 1?",
            "--model",
            llama_server,
            "-n",
            "2",
            "--max-tokens",
            "12",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["candidates"]) == 2
    assert data["usage"]["completion_tokens"] == sum(
        c["completion_tokens"] for c in data["candidates"]
    )


async def test_a_stream_cut_off_by_the_server_is_an_error() -> None:
    def event(delta: str, finish: str | None = None) -> str:
        choice = {"index": 0, "delta": {"content": delta}, "finish_reason": finish}
        return f"data: {json.dumps({'choices': [choice]})}\n\n"

    def cut(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=(event("Hel") + event("lo") + "data: [DONE]\n\n"))

    with pytest.raises(BackendProtocolError, match="ended the stream before sample"):
        async for _ in mocked(cut).stream(chat("hi")):
            pass

    def whole(request: httpx.Request) -> httpx.Response:
        body = event("Hel") + event("lo", "stop") + "data: [DONE]\n\n"
        return httpx.Response(200, content=body)

    chunks = [c async for c in mocked(whole).stream(chat("hi"))]
    assert "".join(c.text for c in chunks) == "Hello" and chunks[-1].finish_reason == "stop"


async def test_streamed_n_without_native_n_charges_every_request() -> None:
    from ponder.runtime import Context

    def handler(request: httpx.Request) -> httpx.Response:
        choice = {"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}
        usage = {"prompt_tokens": 7, "completion_tokens": 2}
        body = (
            f"data: {json.dumps({'choices': [choice]})}\n\n"
            f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
            "data: [DONE]\n\n"
        )
        return httpx.Response(200, content=body)

    backend = mocked(handler)
    backend._native_n = False  # as learned from an earlier call
    ctx = Context(backend)
    chunks = [c async for c in ctx.stream("q", n=3, max_tokens=4)]
    assert sorted(c.index for c in chunks if c.finish_reason) == [0, 1, 2]
    assert [c.usage for c in chunks if c.usage] == [Usage(21, 0, 6)]  # three requests, once
    assert ctx.ledger.total() == Usage(21, 0, 6)
