"""Fakes for testing strategies and applications without a model.

``ScriptedBackend`` replays a queue of replies and records every request::

    backend = ScriptedBackend(["The answer is 4.", "It is 5.", "4"])
    result = await SelfConsistency(n=3).run("2 + 2?", Context(backend))
    assert result.answer == "4"
    assert backend.history[0].params.n == 3

``FunctionBackend`` lets a plain function play the model::

    backend = FunctionBackend(lambda request, index: f"sample {index}")

Token counts of fake replies are their whitespace-separated words (at least one), and a
reply longer than ``max_tokens`` words is cut there with ``finish_reason="length"``, so budget
and accounting tests see realistic numbers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from ponder.backends.base import Backend
from ponder.core.types import (
    Capabilities,
    Completion,
    GenerationRequest,
    GenerationResult,
    StreamChunk,
    Usage,
)
from ponder.errors import RunError

Reply = str | Completion

FULL_CAPABILITIES = Capabilities(
    logprobs=True,
    max_top_logprobs=20,
    continuation=True,
    native_n=True,
    streaming=True,
    prefix_caching=False,
    tools=True,
    response_format=True,
)


def _as_completion(
    reply: Reply, index: int, max_tokens: int, stops: tuple[str, ...] = ()
) -> Completion:
    """A reply as the sample a backend returns: a string is cut at the request's first stop
    string (``stop_reason`` names it; "" when the reply ends by itself) and at ``max_tokens``
    words; a Completion is returned as it is, cut at ``max_tokens``."""
    if isinstance(reply, Completion):
        if reply.completion_tokens > max_tokens:  # a backend never samples past max_tokens
            words = reply.text.split(" ")[:max_tokens]
            logprobs = reply.logprobs[:max_tokens] if reply.logprobs else reply.logprobs
            return dataclasses.replace(
                reply,
                text=" ".join(words),
                finish_reason="length",
                completion_tokens=max_tokens,
                index=index,
                logprobs=logprobs,
            )
        return dataclasses.replace(reply, index=index)
    hits = [(at, stop) for stop in stops if (at := reply.find(stop)) >= 0]
    cut, stop_reason = min(hits) if hits else (len(reply), "")
    words = reply[:cut].split(" ")
    if len(words) > max_tokens:
        return Completion(" ".join(words[:max_tokens]), "length", max_tokens, index)
    return Completion(reply[:cut], "stop", max(1, len(words)), index, stop_reason=stop_reason)


def _prompt_tokens(request: GenerationRequest) -> int:
    if request.messages is not None:
        text = " ".join(m.content for m in request.messages)
    else:
        text = request.prompt or ""
    return len((text + request.prefix).split())


class _FakeBackend(Backend):
    name = "fake"

    def __init__(
        self,
        capabilities: Capabilities = FULL_CAPABILITIES,
        delay: float = 0.0,
        step_delay: float = 0.0,
    ):
        self._capabilities = capabilities
        self.delay = delay
        #: seconds between decode steps of ``stream`` (0: as fast as possible)
        self.step_delay = step_delay
        self.history: list[GenerationRequest] = []

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def model_name(self) -> str:
        return self.name

    @classmethod
    def from_spec(cls, spec: str | None, **options: Any) -> Backend:
        raise RunError(f"{cls.__name__} is built in code, not from a spec")

    def _reply(self, request: GenerationRequest, index: int) -> Reply:
        raise NotImplementedError

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        self.history.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        completions = tuple(
            _as_completion(
                self._reply(request, i), i, request.params.max_tokens, request.params.stop
            )
            for i in range(request.params.n)
        )
        usage = Usage(
            prompt_tokens=_prompt_tokens(request),
            completion_tokens=sum(c.completion_tokens for c in completions),
        )
        return GenerationResult(completions, usage)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamChunk]:
        """The samples decode side by side, one word (token) each per step, so shorter samples
        finish first, as on a real batching backend; logprobs are handed out one per word."""
        result = await self.generate(request)
        words = {c.index: c.text.split(" ") for c in result.completions}
        left = len(result.completions)
        for step in range(max(len(w) for w in words.values())):
            if self.step_delay:
                await asyncio.sleep(self.step_delay)
            for c in result.completions:
                mine = words[c.index]
                if step >= len(mine):
                    continue
                last = step == len(mine) - 1
                left -= last
                lp = c.logprobs[step : step + 1] if c.logprobs else ()
                if last and c.logprobs:
                    lp = c.logprobs[step:]
                yield StreamChunk(
                    c.index,
                    mine[step] if step == 0 else " " + mine[step],
                    tuple(lp),
                    c.finish_reason if last else None,
                    c.completion_tokens if last else step + 1,
                    result.usage if last and left == 0 else None,
                )


class ScriptedBackend(_FakeBackend):
    """Replies from a queue, one per sample, in order; ``history`` records each request."""

    name = "scripted"

    def __init__(self, replies: Iterable[Reply] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replies: deque[Reply] = deque(replies)

    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def _reply(self, request: GenerationRequest, index: int) -> Reply:
        if not self.replies:
            raise RunError("ScriptedBackend ran out of replies; enqueue more")
        return self.replies.popleft()


class FunctionBackend(_FakeBackend):
    """A function ``(request, sample_index) -> str | Completion`` plays the model."""

    name = "function"

    def __init__(self, fn: Callable[[GenerationRequest, int], Reply], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fn = fn

    def _reply(self, request: GenerationRequest, index: int) -> Reply:
        return self.fn(request, index)


class MisbehavingServer:
    """An HTTP server on loopback that misbehaves on purpose, for testing that every HTTP
    call through ponder ends (``with MisbehavingServer("slow_loris") as url: ...``).

    Behaviours: ``silent`` (accepts, never answers), ``slow_loris`` (headers, then one byte
    every ``interval`` seconds, forever), ``retry_after`` (429 asking to retry after
    ``wait`` seconds), ``huge_body`` (a body without end, no length given), ``cut_stream``
    (two server-sent events, then the connection drops), ``stall_stream`` (two events, then
    silence), ``garbage`` (200 with a body that is not JSON). It serves until closed; every
    handler ends within ``lifetime`` seconds.
    """

    BEHAVIOURS = (
        "silent",
        "slow_loris",
        "retry_after",
        "huge_body",
        "cut_stream",
        "stall_stream",
        "garbage",
    )

    def __init__(
        self, behaviour: str, *, interval: float = 0.2, wait: float = 100_000, lifetime: float = 30
    ) -> None:
        if behaviour not in self.BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; one of {self.BEHAVIOURS}")
        self.behaviour = behaviour
        self.interval = interval
        self.wait = wait
        self.lifetime = lifetime
        self.requests = 0
        self._closed = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/v1"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + self.lifetime
        with conn:
            conn.settimeout(self.lifetime)
            try:
                self._read_request(conn)
                self.requests += 1
                getattr(self, f"_{self.behaviour}")(conn, deadline)
            except OSError:
                pass  # the client went away: that is what it should do

    def _read_request(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("client closed")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            body += conn.recv(65536)

    def _sleep(self, deadline: float) -> bool:
        """Wait one interval; False once the server is closing or past its lifetime."""
        return not self._closed.wait(self.interval) and time.monotonic() < deadline

    def _silent(self, conn: socket.socket, deadline: float) -> None:
        while self._sleep(deadline):
            pass

    def _slow_loris(self, conn: socket.socket, deadline: float) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
        conn.sendall(b"content-length: 100000\r\n\r\n{")
        while self._sleep(deadline):
            conn.sendall(b" ")

    def _garbage(self, conn: socket.socket, deadline: float) -> None:
        body = b"<html>certainly not the JSON you asked for"
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def _retry_after(self, conn: socket.socket, deadline: float) -> None:
        body = b'{"error": {"message": "slow down"}}'
        conn.sendall(
            b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n"
            + f"retry-after: {self.wait:g}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def _huge_body(self, conn: socket.socket, deadline: float) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
        )
        chunk = b"[" + b"0," * 32768
        while not self._closed.is_set() and time.monotonic() < deadline:
            conn.sendall(chunk)

    def _events(self, conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        for word in ("Hel", "lo"):
            event = (
                f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': word}}]})}\n\n"
            )
            conn.sendall(f"{len(event.encode()):x}\r\n".encode() + event.encode() + b"\r\n")

    def _cut_stream(self, conn: socket.socket, deadline: float) -> None:
        self._events(conn)
        conn.sendall(b'40\r\ndata: {"choi')  # a chunk that never completes; then gone

    def _stall_stream(self, conn: socket.socket, deadline: float) -> None:
        self._events(conn)
        while self._sleep(deadline):
            pass


ServerReply = Callable[[str, int, int | None], str]


class ScriptedServer:
    """An OpenAI-compatible server on loopback whose model is a plain function (``reply(
    question, index, seed) -> text``: the last user message, or the prompt, the choice's
    index and the request's seed), for testing the HTTP path end to end, command lines
    included (``ponder solve --model URL#scripted``)::

        with ScriptedServer(lambda q, i, seed: "The answer is 4.") as url:
            ponder.solve("2 + 2?", backend=f"{url}#scripted")

    It serves ``GET /v1/models``, ``POST /v1/chat/completions`` and ``/v1/completions``
    (``n`` choices, streamed when asked, usage counted in words, a reply over ``max_tokens``
    words cut there with ``finish_reason="length"``) and counts the generation requests it
    gets in ``requests``."""

    def __init__(self, reply: ServerReply) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        server = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                server.requests += 1
                messages = body.get("messages") or []
                users = [m for m in messages if m.get("role") == "user"]
                content = users[-1].get("content") if users else body.get("prompt", "")
                question = content if isinstance(content, str) else json.dumps(content)
                texts = [
                    reply(question, i, body.get("seed")) for i in range(int(body.get("n") or 1))
                ]
                limit = body.get("max_completion_tokens") or body.get("max_tokens")
                cut = [bool(limit) and len(t.split()) > limit for t in texts]
                texts = [
                    " ".join(t.split()[:limit]) if c else t for t, c in zip(texts, cut, strict=True)
                ]
                words = sum(max(1, len(t.split())) for t in texts)
                usage = {"prompt_tokens": len(question.split()) + 4, "completion_tokens": words}
                usage["total_tokens"] = usage["prompt_tokens"] + words
                chat = "messages" in body
                choices: list[dict[str, Any]] = [
                    {"index": i, "finish_reason": "length" if cut[i] else "stop"}
                    | ({"message": {"role": "assistant", "content": t}} if chat else {"text": t})
                    for i, t in enumerate(texts)
                ]
                if not body.get("stream"):
                    self._send(
                        {"id": "s", "object": "chat.completion", "choices": choices, "usage": usage}
                    )
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for choice in choices:
                    if chat:
                        choice["delta"] = choice.pop("message")
                    self.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
                self.wfile.write(
                    f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode()
                )
                self.wfile.write(b"data: [DONE]\n\n")

            def _send(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
