"""The OpenAI wire format: reading usage, finish reasons and logprobs out of answers."""

from __future__ import annotations

import json
from typing import Any

from ponder.core.types import (
    FinishReason,
    GenerationRequest,
    Message,
    TokenLogprob,
    ToolCall,
    Usage,
)


def parse_usage(raw: Any) -> Usage:
    raw = raw or {}
    details = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens", 0)),
        cached_prompt_tokens=int(details.get("cached_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens", 0)),
        reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
    )


def finish_reason(reason: Any) -> FinishReason:
    return "length" if reason == "length" else "stop"


def parse_logprobs(raw: Any) -> tuple[TokenLogprob, ...] | None:
    """Both shapes: chat (``content: [{token, logprob, top_logprobs}]``) and completions
    (``tokens``, ``token_logprobs``, ``top_logprobs: [{token: logprob}]``)."""
    if not raw:
        return None
    if isinstance(raw, dict) and "content" in raw:
        items = raw["content"] or []
        return tuple(
            TokenLogprob(
                str(item["token"]),
                float(item["logprob"]),
                tuple(
                    (str(t["token"]), float(t["logprob"])) for t in item.get("top_logprobs") or []
                ),
            )
            for item in items
        )
    if isinstance(raw, dict) and "tokens" in raw:
        tops = raw.get("top_logprobs") or [None] * len(raw["tokens"])
        return tuple(
            TokenLogprob(
                str(token),
                float(lp if lp is not None else 0.0),
                tuple(
                    sorted(
                        ((str(k), float(v)) for k, v in (top or {}).items()), key=lambda kv: -kv[1]
                    )
                ),
            )
            for token, lp, top in zip(raw["tokens"], raw["token_logprobs"], tops, strict=False)
        )
    return None


def stop_reason(choice: dict[str, Any]) -> str | None:
    """What ended a choice, as ``Completion.stop_reason``: vLLM and SGLang report the stop
    string that matched (``matched_stop`` in SGLang), a stop token's id, or null for the end
    of generation; a server that reports neither leaves it unknown (None)."""
    if choice.get("finish_reason") != "stop":
        return None
    for key in ("stop_reason", "matched_stop"):
        if key in choice:
            value = choice[key]
            return value if isinstance(value, str) else ""
    return None


def message_json(message: Message) -> dict[str, Any]:
    """A chat turn as OpenAI writes it (tool calls and tool results included)."""
    body: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        body["content"] = message.content or None
        body["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        body["tool_call_id"] = message.tool_call_id
    return body


def tool_fields(request: GenerationRequest) -> dict[str, Any]:
    """The request's tools, tool choice and response format, as body fields."""
    fields: dict[str, Any] = {}
    if request.tools is not None:
        fields["tools"] = list(request.tools.tools)
        if request.tools.choice is not None:
            fields["tool_choice"] = request.tools.choice
    if request.response_format is not None:
        fields["response_format"] = dict(request.response_format)
    return fields


def parse_tool_calls(message: dict[str, Any]) -> tuple[ToolCall, ...]:
    """The function calls of an answer's message (none: ``()``)."""
    calls = message.get("tool_calls") or []
    return tuple(
        ToolCall(
            str(call.get("id") or f"call_{i}"),
            str(call["function"]["name"]),
            _arguments(call["function"].get("arguments")),
        )
        for i, call in enumerate(calls)
    )


def _arguments(raw: Any) -> str:
    if raw is None:
        return "{}"
    return raw if isinstance(raw, str) else json.dumps(raw)
