"""Runs turned back into OpenAI's answers: the chat and completions bodies, usage, the
``ponder`` extension, logprobs, and progress lines a person can read."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ponder.core.problem import Candidate, Result
from ponder.core.types import TokenLogprob, Usage
from ponder.runtime.context import Progress
from ponder.scoring.extraction import read_answer
from ponder.server.run import Plan


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage_of(results: Sequence[Result]) -> dict[str, Any]:
    """Everything the request caused: every sample and every verifier call of every run."""
    total = Usage()
    for result in results:
        total = total + result.usage
    return {
        "prompt_tokens": total.prompt_tokens,
        "completion_tokens": total.completion_tokens,
        "total_tokens": total.total_tokens,
        "prompt_tokens_details": {"cached_tokens": total.cached_prompt_tokens},
        "completion_tokens_details": {"reasoning_tokens": total.reasoning_tokens},
    }


def winner(result: Result) -> Candidate | None:
    """The candidate behind the answer: one with the answer and the text the run returned
    (tool-calling replies often share an empty text), else one with its text."""
    same = [c for c in result.candidates if c.text == result.text]
    return next((c for c in same if c.answer == result.answer), same[0] if same else None)


def finish_reason(result: Result) -> str:
    chosen = winner(result)
    if chosen is not None and chosen.tool_calls:
        return "tool_calls"
    if chosen is not None and chosen.finish_reason in ("length", "repetition"):
        return "length"
    return "stop"


def tool_calls_json(chosen: Candidate | None) -> list[dict[str, Any]] | None:
    if chosen is None or not chosen.tool_calls:
        return None
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in chosen.tool_calls
    ]


def extension(plan_: Plan, results: Sequence[Result]) -> dict[str, Any]:
    """The ``ponder`` field: the strategy, and each run's answer, ledger and details."""
    runs = []
    for result in results:
        run: dict[str, Any] = {"answer": result.answer, "ledger": result.ledger}
        if plan_.details:
            run["details"] = result.details
            run["candidates"] = [c.as_dict() for c in result.candidates]
        runs.append(run)
    return {"strategy": plan_.spec, "ignored": plan_.ignored, "runs": runs}


def chat_logprobs(tokens: Sequence[TokenLogprob] | None) -> dict[str, Any] | None:
    if tokens is None:
        return None

    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    return {
        "content": [
            {**entry(t.token, t.logprob), "top_logprobs": [entry(a, lp) for a, lp in t.top]}
            for t in tokens
        ]
    }


def chat_message(result: Result) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.text}
    chosen = winner(result)
    if chosen is not None and chosen.reasoning:
        message["reasoning_content"] = chosen.reasoning
    calls = tool_calls_json(chosen)
    if calls:
        message["tool_calls"] = calls
        message["content"] = result.text or None
    return message


def chat_response(plan_: Plan, results: Sequence[Result], model: str) -> dict[str, Any]:
    choices = []
    for index, result in enumerate(results):
        chosen = winner(result)
        choices.append(
            {
                "index": index,
                "message": chat_message(result),
                "logprobs": chat_logprobs(chosen.logprobs if chosen else None),
                "finish_reason": finish_reason(result),
            }
        )
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage_of(results),
        "ponder": extension(plan_, results),
    }


def completion_response(plan_: Plan, results: Sequence[Result], model: str) -> dict[str, Any]:
    choices = []
    for index, result in enumerate(results):
        chosen = winner(result)
        logprobs = None
        if chosen is not None and chosen.logprobs is not None:
            logprobs = {
                "tokens": [t.token for t in chosen.logprobs],
                "token_logprobs": [t.logprob for t in chosen.logprobs],
                "top_logprobs": [dict(t.top) for t in chosen.logprobs],
            }
        choices.append(
            {
                "index": index,
                "text": result.text,
                "logprobs": logprobs,
                "finish_reason": finish_reason(result),
            }
        )
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage_of(results),
        "ponder": extension(plan_, results),
    }


class ProgressText:
    """A run's progress as lines a person can read ("generate 3/8 finished (57 tokens): 42")."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0

    def line(self, event: Progress) -> str | None:
        if event.kind == "call":
            self.started += event.n
            what = "sample" if event.n == 1 else "samples"
            return f"{event.role}: {event.n} {what} started ({self.started} in all)\n"
        if event.kind == "sample":
            self.finished += 1
            reading = read_answer(event.text) if event.finish_reason == "stop" else None
            answer = reading.answer if reading and reading.answer is not None else "no answer"
            if event.finish_reason not in ("stop", None):
                answer = f"{answer}, {event.finish_reason}"
            return (
                f"{event.role} {self.finished}/{self.started} finished "
                f"({event.completion_tokens} tokens): {_short(answer)}\n"
            )
        return None


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sse(data: Mapping[str, Any] | str) -> str:
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {body}\n\n"
