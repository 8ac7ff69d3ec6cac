"""OpenAI-compatible HTTP backend: vLLM, SGLang, llama.cpp's server, Ollama, hosted APIs.

    backend = OpenAIBackend("http://localhost:8000/v1", model="Qwen/Qwen2.5-7B-Instruct")
    backend = resolve_backend("http://localhost:8000/v1#Qwen/Qwen2.5-7B-Instruct")

- One pooled async client per event loop (connections are reused).
- ``n``: sent to the server; if the server returns fewer choices than asked (llama.cpp's
  servers ignore ``n``), the rest are drawn as concurrent requests, and the backend remembers
  that this server has no native ``n``.
- Chat requests go to ``/chat/completions``; raw prompts to ``/completions``, which also makes
  continuation of a raw prompt work on every server. Continuing a *chat* from an assistant
  prefix uses vLLM's and SGLang's ``continue_final_message``; say ``chat_continuation=True``
  when the server has it.
- ``priority_scheduling=True`` sends each request's priority (``GenerationRequest.priority``)
  as vLLM's ``priority`` field, negated: vLLM serves lower values first, ponder higher. Only
  for a vLLM server started with ``--scheduling-policy priority``; any other vLLM rejects a
  nonzero priority, which is why it is off by default. It lets the stopping strategies'
  replacement samples go ahead of new problems' first samples, as on the embedded engine.
- Timeouts; retries with exponential backoff (honouring ``Retry-After``) on 429, 5xx and
  dropped connections; every failure mapped into ``ponder.errors`` naming the URL.
- Usage is what the server reports, summed over the HTTP calls made (cached prompt tokens from
  ``prompt_tokens_details.cached_tokens``). When ``n`` > 1 comes back in one response, the
  backend asks for logprobs so that each sample's token count is exact.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from ponder.backends.base import Backend
from ponder.backends.http import HttpClient, HttpPolicy
from ponder.backends.openai.wire import (
    finish_reason,
    message_json,
    parse_logprobs,
    parse_tool_calls,
    parse_usage,
    stop_reason,
    tool_fields,
)
from ponder.core.types import (
    Capabilities,
    Completion,
    GenerationRequest,
    GenerationResult,
    StreamChunk,
    Usage,
    sample_seed,
)
from ponder.errors import (
    BackendProtocolError,
    CapabilityError,
    ConfigError,
)


class OpenAIBackend(Backend):
    """Any server that speaks the OpenAI chat/completions API."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        chat_continuation: bool = False,
        priority_scheduling: bool = False,
        thinks: bool = False,
        thinking_budget: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        **policy: Any,
    ) -> None:
        """``policy``: the HTTP policy's options (``ponder.backends.http.HttpPolicy``):
        timeout, connect_timeout, max_retries, backoff, max_retry_wait, max_body_bytes,
        stream_idle_timeout."""
        url, _, fragment = base_url.partition("#")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{base_url!r} is not an http(s) URL of an OpenAI-compatible server")
        if parts.path in ("", "/"):
            url = url.rstrip("/") + "/v1"
        policy_options = HttpPolicy(**policy)
        self.base_url = url.rstrip("/")
        self._model = model or fragment or None
        self._http = HttpClient(
            self.base_url,
            api_key=api_key or os.environ.get("PONDER_API_KEY") or os.environ.get("OPENAI_API_KEY"),
            policy=policy_options,
            transport=transport,
        )
        self._chat_continuation = chat_continuation
        self._priority_scheduling = priority_scheduling
        self._thinks = thinks
        self._thinking_budget = thinking_budget
        self._native_n: bool | None = None  # unknown until the server shows it

    @classmethod
    def claims(cls, spec: str) -> bool:
        return spec.startswith(("http://", "https://"))

    @property
    def thinks(self) -> bool:
        """Said by the user (``thinks=true``): the server's model is a reasoning model."""
        return self._thinks

    @classmethod
    def from_spec(cls, spec: str | None, **options: Any) -> OpenAIBackend:
        if not spec:
            raise ConfigError(
                "the openai backend needs a URL, e.g. openai:http://localhost:8000/v1"
            )
        try:
            return cls(spec, **options)
        except TypeError as exc:
            known = ", ".join(
                ["api_key", *HttpPolicy.__dataclass_fields__, "chat_continuation"]
                + ["priority_scheduling", "thinks", "thinking_budget"]
            )
            raise ConfigError(
                f"unknown openai backend option ({exc}); known options: {known}"
            ) from exc

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            logprobs=True,
            max_top_logprobs=20,
            continuation=self._chat_continuation,
            thinking_budget=self._thinking_budget,
            native_n=self._native_n is not False,
            streaming=True,
            prefix_caching=False,
            tools=True,
            response_format=True,
        )

    @property
    def model_name(self) -> str:
        return self._model or f"{self.base_url} (model not yet known)"

    # -- HTTP

    async def aclose(self) -> None:
        await self._http.aclose()

    def _where(self, path: str) -> str:
        return self._http.where(path)

    async def _json(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._http.json(path, body)

    def environment(self) -> dict[str, Any]:
        return {**super().environment(), "server": self.base_url, "model": self._model}

    def spec(self) -> str | None:
        return f"{self.base_url}#{self._model}" if self._model else self.base_url

    async def identity(self) -> str:
        """The server and the model it serves: ``openai:URL#MODEL``."""
        return f"{self.name}:{self.base_url}#{await self.model_id()}"

    async def model_id(self) -> str:
        """The model to ask for: as given, else the server's first listed model."""
        if self._model is None:
            data = await self._json("/models")
            models = data.get("data") or []
            if not models or not isinstance(models[0], dict) or "id" not in models[0]:
                raise BackendProtocolError(
                    f"{self._where('/models')} lists no models; pass one as URL#MODEL",
                    url=self._where("/models"),
                )
            self._model = str(models[0]["id"])
        return self._model

    # -- requests

    async def _body(
        self, request: GenerationRequest, n: int, seed: int | None
    ) -> tuple[str, dict[str, Any]]:
        p = request.params
        body: dict[str, Any] = {
            "model": await self.model_id(),
            "n": n,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
        }
        if p.top_k is not None:
            body["top_k"] = p.top_k
        if p.stop:
            body["stop"] = list(p.stop)
        if seed is not None:
            body["seed"] = seed
        if request.thinking_budget is not None:
            if not self._thinking_budget:
                raise CapabilityError(
                    f"a native thinking budget needs a server that enforces one; "
                    f"{self.base_url} is not marked so. Pass thinking_budget=true for a vLLM "
                    "server with a reasoning parser (it honours thinking_token_budget)"
                )
            body["thinking_token_budget"] = request.thinking_budget
        if self._priority_scheduling and request.priority:
            body["priority"] = -request.priority  # vLLM serves lower values first
        want_logprobs = p.logprobs or n > 1
        if request.messages is None:
            body["prompt"] = (request.prompt or "") + request.prefix
            if want_logprobs:
                body["logprobs"] = max(p.top_logprobs, 1) if p.logprobs else 0
            return "/completions", body
        messages = [message_json(m) for m in request.messages]
        body.update(tool_fields(request))
        if request.prefix:
            if not self._chat_continuation:
                raise CapabilityError(
                    f"continuing a chat from an assistant prefix needs a server with "
                    f"continue_final_message (vLLM, SGLang); {self.base_url} is not marked so. "
                    "Pass chat_continuation=True if it has it, or send a raw prompt instead"
                )
            messages.append({"role": "assistant", "content": request.prefix})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        body["messages"] = messages
        if want_logprobs:
            body["logprobs"] = True
            if p.top_logprobs:
                body["top_logprobs"] = p.top_logprobs
        return "/chat/completions", body

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        p = request.params
        path, body = await self._body(request, p.n, p.seed)
        completions: list[Completion] = []
        usage = Usage()
        if self._native_n is not False or p.n == 1:
            data = await self._json(path, body)
            got, usage = self._parse(path, data, request, first_index=0)
            completions.extend(got)
            if p.n > 1:
                self._native_n = len(got) >= p.n
        missing = p.n - len(completions)
        if missing > 0:
            start = len(completions)
            calls = []
            for i in range(start, p.n):
                seed = sample_seed(p.seed, i) if p.seed is not None else None
                _, one = await self._body(request, 1, seed)
                calls.append(self._json(path, one))
            for i, data in enumerate(await asyncio.gather(*calls)):
                got, used = self._parse(path, data, request, first_index=start + i)
                completions.extend(got[:1])
                usage = usage + used
        return GenerationResult(tuple(completions[: p.n]), usage)

    def _parse(
        self, path: str, data: dict[str, Any], request: GenerationRequest, first_index: int
    ) -> tuple[list[Completion], Usage]:
        try:
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            usage = parse_usage(data.get("usage"))
            completions = []
            for k, choice in enumerate(choices):
                reasoning = None
                if "message" in choice:
                    message = choice["message"]
                    text = message.get("content") or ""
                    # vLLM's and DeepSeek's reasoning parsers; some servers say "reasoning"
                    reasoning = message.get("reasoning_content") or message.get("reasoning")
                    if reasoning is not None and not isinstance(reasoning, str):
                        raise TypeError(f"reasoning_content is {type(reasoning).__name__}")
                else:
                    text = choice["text"]
                logprobs = parse_logprobs(choice.get("logprobs"))
                if logprobs is not None:
                    count = len(logprobs)
                elif len(choices) == 1:
                    count = usage.completion_tokens
                else:
                    count = 0
                completions.append(
                    Completion(
                        text=text,
                        finish_reason=finish_reason(choice.get("finish_reason")),
                        completion_tokens=count,
                        index=first_index + k,
                        logprobs=logprobs if request.params.logprobs else None,
                        seed=None,
                        stop_reason=stop_reason(choice),
                        reasoning=reasoning,
                        tool_calls=parse_tool_calls(choice.get("message") or {}),
                    )
                )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackendProtocolError(
                f"{self._where(path)} answered JSON without the expected fields ({exc!r}): "
                f"{json.dumps(data)[:300]}",
                url=self._where(path),
            ) from exc
        return completions, usage

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamChunk]:
        p = request.params
        if p.n == 1 or self._native_n:
            async for chunk in self._stream_one(request, p.n, p.seed, 0):
                yield chunk
            return
        queue: asyncio.Queue[StreamChunk | BaseException | None] = asyncio.Queue()

        async def pump(i: int) -> None:
            try:
                seed = sample_seed(p.seed, i) if p.seed is not None else None
                async for chunk in self._stream_one(request, 1, seed, i):
                    await queue.put(chunk)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                await queue.put(exc)
            finally:
                await queue.put(None)

        tasks = [asyncio.create_task(pump(i)) for i in range(p.n)]
        total: Usage | None = None
        try:
            running = p.n
            while running:
                item = await queue.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                elif item.usage is not None:  # each request's usage: summed, reported once
                    total = item.usage if total is None else total + item.usage
                else:
                    yield item
            if total is not None:
                yield StreamChunk(0, "", (), None, 0, total)
        finally:
            for task in tasks:
                task.cancel()

    async def _stream_one(
        self, request: GenerationRequest, n: int, seed: int | None, first_index: int
    ) -> AsyncIterator[StreamChunk]:
        path, body = await self._body(request, n, seed)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        counts: dict[int, int] = {}
        finished: set[int] = set()
        async for payload in self._http.events(path, body):
            try:
                data = json.loads(payload)
                if data.get("usage") and not data.get("choices"):
                    usage = parse_usage(data["usage"])
                    yield StreamChunk(first_index, "", (), None, counts.get(0, 0), usage)
                    continue
                for choice in data.get("choices") or []:
                    k = int(choice.get("index", 0))
                    if "delta" in choice:
                        delta = choice["delta"].get("content")
                    else:
                        delta = choice.get("text")
                    logprobs = parse_logprobs(choice.get("logprobs")) or ()
                    counts[k] = counts.get(k, 0) + max(len(logprobs), 1 if delta else 0)
                    finish = choice.get("finish_reason")
                    if finish:
                        finished.add(k)
                    yield StreamChunk(
                        first_index + k,
                        delta or "",
                        logprobs if request.params.logprobs else (),
                        finish_reason(finish) if finish else None,
                        counts[k],
                    )
            except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
                raise BackendProtocolError(
                    f"{self._where(path)} streamed a malformed event: {payload[:200]!r}",
                    url=self._where(path),
                ) from exc
        unfinished = sorted(set(counts) - finished)
        if unfinished:
            raise BackendProtocolError(
                f"{self._where(path)} ended the stream before sample(s) "
                f"{[first_index + k for k in unfinished]} finished; servers that interrupt "
                "running requests when a new one arrives do this (llama-cpp-python's server "
                "unless started with --interrupt_requests False)",
                url=self._where(path),
            )
