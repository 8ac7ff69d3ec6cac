"""The one HTTP layer under every HTTP caller (the OpenAI-compatible backend, the reward-model
scorer): a pooled client per event loop, one retry policy, one error mapping, SSE reading.

    http = HttpClient("http://localhost:8000/v1", api_key=..., timeout=120, max_retries=3)
    data = await http.json("/chat/completions", body)
    async for payload in http.events("/chat/completions", {**body, "stream": True}): ...

- Every call ends: ``timeout`` is one deadline for the whole call (connecting, every read,
  retries and the waits between them), so a server that never answers, or sends a byte every
  few seconds, cannot hold it longer; a stream must send its first event within ``timeout``
  and each next one within ``stream_idle_timeout``. An answer larger than ``max_body_bytes``
  is refused.
- Retries with exponential backoff (jittered), honouring ``Retry-After`` up to
  ``max_retry_wait`` (a server that asks for longer fails the call at once, with its message
  and the wait it asked for), on 408, 409, 429, 5xx and dropped connections; other HTTP
  errors fail at once.
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
import dataclasses
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ponder.errors import (
    BackendError,
    BackendHTTPError,
    BackendProtocolError,
    BackendTimeout,
    BackendUnreachable,
    ConfigError,
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


@dataclasses.dataclass(frozen=True)
class HttpPolicy:
    """How long and how often to try, and how much to accept (see the module docstring)."""

    timeout: float = 120.0
    connect_timeout: float = 5.0
    max_retries: int = 3
    backoff: float = 0.5
    max_retry_wait: float = 30.0
    max_body_bytes: int = 64 << 20
    stream_idle_timeout: float | None = None  # None: ``timeout``

    def __post_init__(self) -> None:
        positive = ("timeout", "connect_timeout", "max_body_bytes")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, not {getattr(self, name)!r}")
        for name in ("max_retries", "backoff", "max_retry_wait"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)!r}")
        if self.stream_idle_timeout is not None and not self.stream_idle_timeout > 0:
            raise ConfigError("stream_idle_timeout must be positive")

    @property
    def idle(self) -> float:
        return self.stream_idle_timeout or self.timeout


class HttpClient:
    """HTTP calls to one server, with retries and errors mapped into ``ponder.errors``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy or HttpPolicy()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(self.policy.timeout, connect=self.policy.connect_timeout)
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

    async def send(self, method: str, path: str, body: Any = None) -> tuple[httpx.Response, bytes]:
        """One call with retries, all within the policy's deadline: a successful response
        and its body, or a BackendError."""
        policy = self.policy
        try:
            async with asyncio.timeout(policy.timeout):
                return await self._send(method, path, body)
        except TimeoutError:
            raise BackendTimeout(
                f"{self.where(path)} did not finish answering within the deadline of "
                f"{policy.timeout:g} s (connecting, reading and retries together); the server "
                "may be overloaded or stalled: raise timeout= or lower the load",
                url=self.where(path),
            ) from None

    async def _send(self, method: str, path: str, body: Any) -> tuple[httpx.Response, bytes]:
        policy = self.policy
        attempt = 0
        while True:
            try:
                async with self.client().stream(method, path, json=body) as response:
                    content = await self._read_body(path, response)
            except httpx.HTTPError as exc:
                error = self.transport_error(path, exc)
            else:
                if response.status_code < 400:
                    return response, content
                error = self.http_error(path, response, content)
                if response.status_code not in RETRY_STATUSES:
                    raise error
            if attempt >= policy.max_retries:
                raise error
            delay = error.retry_after
            if delay is not None and delay > policy.max_retry_wait:
                error.add_note(
                    f"the server asked to retry after {delay:g} s, more than max_retry_wait="
                    f"{policy.max_retry_wait:g} s; retry later or raise max_retry_wait"
                )
                raise error
            if delay is None:
                delay = policy.backoff * (2**attempt) * (0.5 + random.random())
            attempt += 1
            await asyncio.sleep(delay)

    async def _read_body(self, path: str, response: httpx.Response) -> bytes:
        """The whole body, refused past ``max_body_bytes`` (a Content-Length that says so is
        refused before reading)."""
        cap = self.policy.max_body_bytes
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise self._too_large(path, int(declared))
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > cap:
                raise self._too_large(path, len(data))
        return bytes(data)

    def _too_large(self, path: str, size: int) -> BackendProtocolError:
        return BackendProtocolError(
            f"{self.where(path)} answered more than max_body_bytes={self.policy.max_body_bytes} "
            f"bytes ({size} so far); refused. Raise max_body_bytes if the answer is legitimate",
            url=self.where(path),
        )

    async def json(self, path: str, body: Any = None) -> dict[str, Any]:
        """POST ``body`` (GET without one) and decode the JSON object answered."""
        response, content = await self.send("POST" if body is not None else "GET", path, body)
        try:
            data = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BackendProtocolError(
                f"{self.where(path)} answered with something that is not JSON: {content[:200]!r}",
                url=self.where(path),
            ) from exc
        if not isinstance(data, dict):
            raise BackendProtocolError(
                f"{self.where(path)} answered JSON that is not an object", url=self.where(path)
            )
        return data

    async def events(self, path: str, body: Any) -> AsyncIterator[str]:
        """POST ``body`` and yield each server-sent event's ``data`` payload, up to
        ``[DONE]`` (not retried: a stream may have been partly consumed). The first event
        must come within ``timeout``, each next within ``stream_idle_timeout``; a line longer
        than ``max_body_bytes`` is refused."""
        policy = self.policy
        loop = asyncio.get_running_loop()
        waiting = "the first event"
        try:
            async with asyncio.timeout(policy.timeout) as deadline:
                async with self.client().stream("POST", path, json=body) as response:
                    if response.status_code >= 400:
                        content = await self._read_body(path, response)
                        raise self.http_error(path, response, content)
                    async for line in self._lines(path, response):
                        deadline.reschedule(loop.time() + policy.idle)
                        waiting = "the next event"
                        if not line.startswith("data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            return
                        yield payload
        except TimeoutError:
            wait = policy.timeout if waiting == "the first event" else policy.idle
            raise BackendTimeout(
                f"{self.where(path)} sent no {waiting.removeprefix('the ')} of its stream within "
                f"{wait:g} s; the server may be stalled: raise timeout= (or "
                "stream_idle_timeout=) or lower the load",
                url=self.where(path),
            ) from None
        except httpx.HTTPError as exc:
            raise self.transport_error(path, exc) from exc

    async def _lines(self, path: str, response: httpx.Response) -> AsyncIterator[str]:
        """The stream's lines, none longer than ``max_body_bytes``."""
        cap = self.policy.max_body_bytes
        pending = ""
        async for text in response.aiter_text():
            pending += text
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line.rstrip("\r")
            if len(pending) > cap:
                raise self._too_large(path, len(pending))
        if pending:
            yield pending.rstrip("\r")

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

    def http_error(self, path: str, response: httpx.Response, content: bytes) -> BackendError:
        """An HTTP error answer as a BackendError carrying the server's message."""
        message = content[:500].decode("utf-8", "replace")
        try:
            payload = json.loads(content)
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
            "retry_after": _seconds(retry_after),
        }
        if status == 400 and "context" in message.lower() and "length" in message.lower():
            return ContextLengthHTTPError(text, **kwargs)
        return BackendHTTPError(text, **kwargs)


def _seconds(retry_after: str | None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (a number or an HTTP date), or None."""
    if not retry_after:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
