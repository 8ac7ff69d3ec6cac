"""Tool calls and response formats through ``ponder serve``: passed on to the model, voted on
by behaviour (name and arguments, normalised), returned in OpenAI's shape, and carried over
the HTTP wire by the OpenAI-compatible backend."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from ponder.backends.openai import OpenAIBackend
from ponder.core.types import Capabilities, Completion, GenerationRequest, ToolCall
from ponder.scoring.extraction import tool_call_answer
from ponder.server import Running, Served
from ponder.testing import FunctionBackend, Reply

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ASK = [{"role": "user", "content": "Weather in Paris?"}]
ARGUMENTS = ['{"city": "Paris", "unit": "c"}', '{"unit":"c",  "city":"Paris"}', '{"city": "Rome"}']


def calling(request: GenerationRequest, i: int) -> Reply:
    assert request.messages is not None
    if "rating" in request.messages[-1].content.lower():
        return "Rating: 8"
    if request.tools is None:
        return "It is sunny."
    call = ToolCall(f"call_{i}", "get_weather", ARGUMENTS[i % 3])
    return Completion("", "stop", 9, tool_calls=(call,))


def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base, api_key="-", max_retries=0)


def test_the_same_call_written_two_ways_is_one_vote() -> None:
    one, two, three = (ToolCall(f"c{i}", "get_weather", a) for i, a in enumerate(ARGUMENTS))
    assert tool_call_answer([one]) == tool_call_answer([two]) != tool_call_answer([three])
    odd = ToolCall("c", "f", "not json ")
    assert json.loads(tool_call_answer([odd])) == [{"name": "f", "arguments": "not json"}]


def test_self_consistency_votes_on_tool_calls() -> None:
    backend = FunctionBackend(calling)
    with Running(Served("m", {"m": backend})) as base:
        reply = client(base).chat.completions.create(
            model="m@self_consistency:n=3", messages=ASK, tools=[WEATHER], tool_choice="auto"
        )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "c"}
    votes = reply.model_extra["ponder"]["runs"][0]["details"]["votes"]
    assert [v["votes"] for v in votes] == [2, 1]
    request = backend.history[0]
    assert request.tools is not None and request.tools.choice == "auto"
    assert request.tools.tools[0]["function"]["name"] == "get_weather"


def test_verifiers_do_not_get_the_tools() -> None:
    backend = FunctionBackend(calling)
    with Running(Served("m", {"m": backend})) as base:
        client(base).chat.completions.create(
            model="m@best_of_n:n=2,scorer=judge(mode=text)", messages=ASK, tools=[WEATHER]
        )
    generate, *verify = backend.history
    assert generate.tools is not None
    assert verify and all(r.tools is None for r in verify)


def test_a_tool_result_is_answered() -> None:
    backend = FunctionBackend(lambda request, i: "It is 21 C in Paris.")
    conversation = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
    ]
    with Running(Served("m", {"m": backend})) as base:
        reply = client(base).chat.completions.create(
            model="m@greedy", messages=conversation, tools=[WEATHER]
        )
    assert reply.choices[0].message.content == "It is 21 C in Paris."
    sent = backend.history[0].messages
    assert sent is not None
    assert [m.role for m in sent] == ["user", "assistant", "tool"]
    assert sent[1].tool_calls[0].name == "get_weather" and sent[2].tool_call_id == "call_1"


def test_streamed_tool_calls() -> None:
    with Running(Served("m", {"m": FunctionBackend(calling)})) as base:
        stream = client(base).chat.completions.create(
            model="m@greedy", messages=ASK, tools=[WEATHER], stream=True
        )
        chunks = [c for c in stream if c.choices]
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert [tc.function.name for tc in calls if tc.function] == ["get_weather"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_backend_without_tools_refuses_them_before_work() -> None:
    plain = FunctionBackend(calling, capabilities=Capabilities(streaming=True))
    with Running(Served("m", {"m": plain})) as base:
        with pytest.raises(openai.BadRequestError) as caught:
            client(base).chat.completions.create(model="m@greedy", messages=ASK, tools=[WEATHER])
        assert "tools" in caught.value.message
        with pytest.raises(openai.BadRequestError) as caught:
            client(base).chat.completions.create(
                model="m@greedy", messages=ASK, response_format={"type": "json_object"}
            )
        assert "response_format" in caught.value.message
    assert plain.history == []


def test_strategies_that_stream_samples_refuse_tools() -> None:
    with Running(Served("m", {"m": FunctionBackend(calling)})) as base:
        response = httpx.post(
            f"{base}/chat/completions",
            json={"model": "m@early_stopping_sc:n=4", "messages": ASK, "tools": [WEATHER]},
        )
    assert response.status_code == 400
    assert "tool calls" in response.json()["error"]["message"]


def test_response_format_is_passed_on() -> None:
    backend = FunctionBackend(lambda request, i: '{"answer": 4}')
    schema = {"name": "a", "schema": {"type": "object"}}
    with Running(Served("m", {"m": backend})) as base:
        client(base).chat.completions.create(
            model="m@greedy",
            messages=ASK,
            response_format={"type": "json_schema", "json_schema": schema},
        )
    assert backend.history[0].response_format == {"type": "json_schema", "json_schema": schema}


def test_tool_calls_cross_the_http_wire_both_ways() -> None:
    """The OpenAI-compatible backend sends tools and tool turns, and reads the calls back:
    here against ponder serve itself as the upstream."""
    upstream = FunctionBackend(calling)
    with Running(Served("up", {"up": upstream})) as base:
        backend = OpenAIBackend.from_spec(f"{base}#up@greedy", max_retries=0)

        async def ask() -> Completion:
            from ponder.core.types import Message, Tools, make_params

            request = GenerationRequest.chat(
                [
                    Message("user", "Weather?"),
                    Message("assistant", "", tool_calls=(ToolCall("c0", "get_weather", "{}"),)),
                    Message("tool", "21 C", tool_call_id="c0"),
                    Message("user", "And in Paris?"),
                ],
                make_params(max_tokens=20, temperature=0),
                tools=Tools((WEATHER,), "required"),
            )
            try:
                return (await backend.generate(request)).completions[0]
            finally:
                await backend.aclose()

        completion = asyncio.run(ask())
    assert completion.tool_calls[0].name == "get_weather"
    assert json.loads(completion.tool_calls[0].arguments)["city"] == "Paris"
    sent = upstream.history[0]
    assert sent.tools is not None and sent.tools.choice == "required"
    assert sent.messages is not None and sent.messages[1].tool_calls[0].id == "c0"
    assert sent.messages[2].tool_call_id == "c0"
