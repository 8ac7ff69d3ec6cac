"""The one HTTP layer under every HTTP caller (the OpenAI-compatible backend, the reward-model
scorer): a pooled client per event loop, one retry policy, one error mapping, SSE reading.

    http = HttpClient("http://localhost:8000/v1", api_key=..., timeout=120, max_retries=3)
    data = await http.json("/chat/completions", body)
    async for payload in http.events("/chat/completions", {**body, "stream": True}): ...

- Retries with exponential backoff (jittered), honouring ``Retry-After``, on 408, 409, 429,
  5xx and dropped connections; other HTTP errors fail at once.
- Every failure becomes a ``ponder.errors.BackendError`` naming the URL and saying what to
  do: ``BackendUnreachable`` (no connection), ``BackendTimeout``, ``BackendHTTPError`` (with
  status, request id and ``Retry-After``), ``BackendProtocolError`` (unreadable answers); a
  400 about the context length is also a ``ContextLengthError``. Streams map errors the same
  way as plain calls.
- Server-sent events are read line by line (``data:`` payloads up to ``[DONE]``); the
  content type is not checked, since servers and proxies label streams inconsistently.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ponder.errors import (
    BackendError,
    BackendHTTPError,
    BackendProtocolError,
    BackendTimeout,
    BackendUnreachable,
    ContextLengthError,
)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})

HINTS = {
    401: "check the API key (PONDER_API_KEY or OPENAI_API_KEY)",
    403: "check the API key's permissions",
    404: "check the URL (it should end in /v1) and the model name",
    429: "the server is rate limiting; retry later or lower the concurrency",
}


class ContextLengthHTTPError(BackendHTTPError, ContextLengthError):
    """The server refused the request because it does not fit the model's context."""


class HttpClient:
    """HTTP calls to one server, with retries and errors mapped into ``ponder.errors``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self.max_retries = max_retries
        self._backoff = backoff
        self._transport = transport
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def where(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def client(self) -> httpx.AsyncClient:
        """The pooled client of the running event loop (connections are reused)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self._timeout,
                headers=self._headers,
                transport=self._transport,
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    async def send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """One call with retries; a successful response, or a BackendError."""
        attempt = 0
        while True:
            try:
                response = await self.client().request(method, path, json=body)
            except httpx.HTTPError as exc:
                error = self.transport_error(path, exc)
            else:
                if response.status_code < 400:
                    return response
                error = self.http_error(path, response)
                if response.status_code not in RETRY_STATUSES:
                    raise error
            if attempt >= self.max_retries:
                raise error
            delay = error.retry_after or self._backoff * (2**attempt) * (0.5 + random.random())
            attempt += 1
            await asyncio.sleep(delay)

    async def json(self, path: str, body: Any = None) -> dict[str, Any]:
        """POST ``body`` (GET without one) and decode the JSON object answered."""
        response = await self.send("POST" if body is not None else "GET", path, body)
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BackendProtocolError(
                f"{self.where(path)} answered with something that is not JSON: "
                f"{response.text[:200]!r}",
                url=self.where(path),
            ) from exc
        if not isinstance(data, dict):
            raise BackendProtocolError(
                f"{self.where(path)} answered JSON that is not an object", url=self.where(path)
            )
        return data

    async def events(self, path: str, body: Any) -> AsyncIterator[str]:
        """POST ``body`` and yield each server-sent event's ``data`` payload, up to
        ``[DONE]`` (not retried: a stream may have been partly consumed)."""
        try:
            async with self.client().stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self.http_error(path, response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    yield payload
        except httpx.HTTPError as exc:
            raise self.transport_error(path, exc) from exc

    def transport_error(self, path: str, exc: httpx.HTTPError) -> BackendError:
        """A failure without an HTTP answer, as a BackendError that says what to do."""
        url = self.where(path)
        if isinstance(exc, httpx.ConnectError):
            return BackendUnreachable(
                f"cannot connect to {url} ({exc}); is the server running, and are the host "
                "and port right?",
                url=url,
            )
        if isinstance(exc, httpx.TimeoutException):
            return BackendTimeout(
                f"{url} did not answer within the timeout ({exc!r}); the server may be "
                "overloaded: raise timeout= or lower the load",
                url=url,
            )
        return BackendUnreachable(f"connection to {url} failed: {exc!r}", url=url)

    def http_error(self, path: str, response: httpx.Response) -> BackendError:
        """An HTTP error answer as a BackendError carrying the server's message."""
        message = response.text[:500]
        try:
            payload = response.json()
            err = payload.get("error", payload) if isinstance(payload, dict) else payload
            if isinstance(err, dict):
                message = str(err.get("message") or err.get("detail") or err)
            elif isinstance(err, str):
                message = err
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        status = response.status_code
        hint = HINTS.get(status, "see the server's message above")
        retry_after = response.headers.get("retry-after")
        text = f"{self.where(path)} answered HTTP {status}: {message}; {hint}"
        kwargs: dict[str, Any] = {
            "url": self.where(path),
            "status": status,
            "request_id": response.headers.get("x-request-id"),
            "retry_after": float(retry_after) if retry_after and retry_after.isdigit() else None,
        }
        if status == 400 and "context" in message.lower() and "length" in message.lower():
            return ContextLengthHTTPError(text, **kwargs)
        return BackendHTTPError(text, **kwargs)
