"""``POST /v1/responses``: OpenAI's Responses API mapped onto the same strategy runs.

The request's ``input`` (a string, or input items: messages with ``input_text`` or
``output_text`` parts, earlier ``function_call`` items and their ``function_call_output``)
and ``instructions`` become the chat conversation ``ponder serve`` answers; ``max_output_tokens``,
``temperature``, ``top_p``, ``tools`` (function tools), ``tool_choice`` and ``text.format``
become what the chat route takes, and the strategy is chosen the same way (``MODEL@SPEC``, the
``ponder`` object, or the server's default). What ponder cannot do is refused with a 400
(``previous_response_id`` and ``conversation``: ponder keeps no state; ``background``); what it
does not act on is listed in ``ponder.ignored``.

The answer is a ``response`` object: one ``message`` output item with the winning text (or
``function_call`` items), usage in the Responses shape (input, cached, output and reasoning
tokens of every call of the run) and the ``ponder`` extension. Streamed, it is the Responses
event sequence (``response.created`` ... ``response.output_text.delta`` ...
``response.completed``, numbered), with SSE keep-alive comments while the strategy works and an
``error`` event if it fails.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field

from ponder.core.problem import Result
from ponder.errors import PonderError
from ponder.server.answers import extension, new_id, tool_calls_json, usage_of, winner
from ponder.server.errors import APIError, from_ponder, internal, invalid
from ponder.server.policy import Policy
from ponder.server.run import Plan
from ponder.server.schema import ChatRequest, PonderOptions, Strict


class InputPart(Strict):
    type: Literal["input_text", "output_text", "text", "refusal"]
    text: str | None = None
    refusal: str | None = None
    annotations: list[Any] | None = None
    logprobs: list[Any] | None = None


class InputItem(Strict):
    """A message, an earlier function call, or a function call's output."""

    type: Literal["message", "function_call", "function_call_output"] = "message"
    role: Literal["user", "assistant", "system", "developer"] | None = None
    content: str | list[InputPart] | None = None
    id: str | None = None
    status: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None


class FunctionTool(Strict):
    type: Literal["function"]
    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ResponsesRequest(Strict):
    model: str = Field(..., min_length=1, max_length=2000)
    input: str | list[InputItem]
    instructions: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stream: bool = False
    tools: list[FunctionTool] | None = Field(None, max_length=128)
    tool_choice: Any = None
    text: dict[str, Any] | None = None
    ponder: PonderOptions | None = None
    previous_response_id: str | None = None
    conversation: Any = None
    background: bool | None = None
    # accepted, not acted on
    reasoning: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    truncation: str | None = None
    include: list[str] | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    safety_identifier: str | None = None
    top_logprobs: int | None = None
    max_tool_calls: int | None = None
    stream_options: dict[str, Any] | None = None
    prompt: Any = None


NOT_ACTED_ON = (
    "reasoning",
    "metadata",
    "store",
    "parallel_tool_calls",
    "user",
    "truncation",
    "include",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "top_logprobs",
    "max_tool_calls",
    "stream_options",
)


def as_chat(body: ResponsesRequest) -> tuple[ChatRequest, dict[str, str]]:
    """The chat request the response answers, and the fields accepted but not acted on."""
    for field, why in (
        ("previous_response_id", "ponder keeps no responses: send the whole conversation"),
        ("conversation", "ponder keeps no conversations: send the whole conversation"),
        ("prompt", "ponder has no stored prompts: send the input"),
    ):
        if getattr(body, field) is not None:
            raise invalid(f"{field} is not supported ({why})", param=field)
    if body.background:
        raise invalid("background responses are not supported: stream instead", param="background")
    messages: list[dict[str, Any]] = []
    if body.instructions:
        messages.append({"role": "developer", "content": body.instructions})
    items = (
        [InputItem(role="user", content=body.input)] if isinstance(body.input, str) else body.input
    )
    for item in items:
        messages += _messages(item)
    fields: dict[str, Any] = {
        "model": body.model,
        "messages": messages,
        "max_tokens": body.max_output_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "ponder": body.ponder,
    }
    if body.tools:
        fields["tools"] = [
            {"type": "function", "function": t.model_dump(exclude={"type"}, exclude_none=True)}
            for t in body.tools
        ]
        choice = body.tool_choice
        if isinstance(choice, dict) and choice.get("type") == "function":
            choice = {"type": "function", "function": {"name": choice.get("name")}}
        fields["tool_choice"] = choice
    text_format = (body.text or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        schema = {k: v for k, v in text_format.items() if k != "type"}
        fields["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif text_format.get("type") == "json_object":
        fields["response_format"] = {"type": "json_object"}
    try:
        chat = ChatRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValueError as exc:
        raise invalid(f"the input does not make a conversation: {str(exc)[:300]}") from None
    ignored = {
        f: "accepted; ponder does not act on it"
        for f in NOT_ACTED_ON
        if getattr(body, f) is not None
    }
    return chat, ignored


def _messages(item: InputItem) -> list[dict[str, Any]]:
    if item.type == "function_call":
        call = {
            "id": item.call_id or item.id or "call",
            "type": "function",
            "function": {"name": item.name or "", "arguments": item.arguments or "{}"},
        }
        return [{"role": "assistant", "content": None, "tool_calls": [call]}]
    if item.type == "function_call_output":
        return [
            {"role": "tool", "tool_call_id": item.call_id or "call", "content": item.output or ""}
        ]
    if isinstance(item.content, str) or item.content is None:
        text = item.content or ""
    else:
        text = "".join(p.text or "" for p in item.content if p.type != "refusal")
    return [{"role": item.role or "user", "content": text}]


def response_body(
    plan_: Plan,
    result: Result,
    model: str,
    started: int,
    ignored: dict[str, str],
    status: str = "completed",
) -> dict[str, Any]:
    output = output_items(result)
    usage = usage_of([result])
    details = extension(plan_, [result])
    details["ignored"] = {**details["ignored"], **ignored}
    return {
        "id": new_id("resp"),
        "object": "response",
        "created_at": started,
        "status": status,
        "model": model,
        "output": output,
        "output_text": result.text,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "usage": {
            "input_tokens": usage["prompt_tokens"],
            "input_tokens_details": {
                "cached_tokens": usage["prompt_tokens_details"]["cached_tokens"]
            },
            "output_tokens": usage["completion_tokens"],
            "output_tokens_details": {
                "reasoning_tokens": usage["completion_tokens_details"]["reasoning_tokens"]
            },
            "total_tokens": usage["total_tokens"],
        },
        "ponder": details,
    }


def output_items(result: Result) -> list[dict[str, Any]]:
    calls = tool_calls_json(winner(result))
    if calls:
        return [
            {
                "type": "function_call",
                "id": new_id("fc"),
                "call_id": c["id"],
                "name": c["function"]["name"],
                "arguments": c["function"]["arguments"],
                "status": "completed",
            }
            for c in calls
        ]
    return [message_item(result.text, "completed")]


def message_item(text: str | None, status: str, item_id: str | None = None) -> dict[str, Any]:
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": []}]
    return {
        "type": "message",
        "id": item_id or new_id("msg"),
        "status": status,
        "role": "assistant",
        "content": content,
    }


class Events:
    """The numbered Responses stream events of one response."""

    def __init__(self) -> None:
        self.number = 0

    def event(self, kind: str, **fields: Any) -> str:
        body = {"type": kind, "sequence_number": self.number, **fields}
        self.number += 1
        return f"event: {kind}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n"


async def stream_response(
    handler: Any, plan_: Plan, chat: ChatRequest, model: str, ignored: dict[str, str]
) -> AsyncIterator[str]:
    """The Responses event sequence of one run: created and in progress at once, the answer
    (streamed as decoded where the strategy's answer is one sample), then completed."""
    from ponder.server.run import chat_problem

    out = Events()
    started = int(time.time())
    shell = {
        "id": new_id("resp"),
        "object": "response",
        "created_at": started,
        "model": model,
        "status": "in_progress",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
    }
    item_id = new_id("msg")
    opened = False
    pieces: list[str] = []
    try:
        yield out.event("response.created", response=shell)
        yield out.event("response.in_progress", response=shell)
        results: list[Result] = []
        async with contextlib.aclosing(handler.progress(plan_, [chat_problem(chat)])) as items:
            async for item in items:
                if item is None:
                    yield ": keep-alive\n\n"
                elif isinstance(item, list):
                    results = item
                elif item[1].kind == "answer":
                    if not opened:
                        opened = True
                        for line in _open(out, item_id):
                            yield line
                    pieces.append(item[1].text)
                    yield out.event(
                        "response.output_text.delta",
                        item_id=item_id,
                        output_index=0,
                        content_index=0,
                        delta=item[1].text,
                        logprobs=[],
                    )
        result = results[0]
        body = response_body(plan_, result, model, started, ignored)
        body["id"] = shell["id"]
        if body["output"][0]["type"] == "message":
            body["output"][0]["id"] = item_id
            if not opened:
                for line in _open(out, item_id):
                    yield line
                yield out.event(
                    "response.output_text.delta",
                    item_id=item_id,
                    output_index=0,
                    content_index=0,
                    delta=result.text,
                    logprobs=[],
                )
            part = {"type": "output_text", "text": result.text, "annotations": []}
            yield out.event(
                "response.output_text.done",
                item_id=item_id,
                output_index=0,
                content_index=0,
                text=result.text,
                logprobs=[],
            )
            yield out.event(
                "response.content_part.done",
                item_id=item_id,
                output_index=0,
                content_index=0,
                part=part,
            )
        for index, done in enumerate(body["output"]):
            if done["type"] != "message":
                yield out.event(
                    "response.output_item.added",
                    output_index=index,
                    item={**done, "status": "in_progress"},
                )
            yield out.event("response.output_item.done", output_index=index, item=done)
        yield out.event("response.completed", response=body)
    except (PonderError, APIError) as exc:
        error = from_ponder(exc) if isinstance(exc, PonderError) else exc
        yield out.event(
            "error", code=error.code or error.type, message=error.message, param=error.param
        )
    except Exception as exc:  # a failure of ours: an error event, never a cut
        error = internal(exc)
        yield out.event("error", code=error.code, message=error.message, param=None)
    finally:
        handler.gate.leave()


def _open(out: Events, item_id: str) -> list[str]:
    return [
        out.event(
            "response.output_item.added",
            output_index=0,
            item=message_item(None, "in_progress", item_id),
        ),
        out.event(
            "response.content_part.added",
            item_id=item_id,
            output_index=0,
            content_index=0,
            part={"type": "output_text", "text": "", "annotations": []},
        ),
    ]


def register_responses(app: FastAPI, handler: Any, authorised: Any, policy: Policy) -> None:
    """``POST /v1/responses`` on ``app``, answered by ``handler`` (``ponder.server.app``)."""
    from ponder.server.guards import refuse_surrogates
    from ponder.server.run import chat_problem, plan

    served, config = handler.served, handler.config

    @app.post("/v1/responses", dependencies=[Depends(authorised)], response_model=None)
    async def responses(
        body: ResponsesRequest, request: Request
    ) -> JSONResponse | StreamingResponse:
        refuse_surrogates(body)
        chat, ignored = as_chat(body)
        chosen = plan(chat, served, config, policy)
        if body.stream:
            handler.gate.admit()  # a full queue is refused here, before the 200 goes out
            events = stream_response(handler, chosen, chat, body.model, ignored)
            return StreamingResponse(
                events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
            )
        started = int(time.time())
        results = await handler.answer(request, chosen, [chat_problem(chat)])
        return JSONResponse(response_body(chosen, results[0], body.model, started, ignored))
