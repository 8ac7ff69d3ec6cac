"""What guards ``ponder serve`` before a request reaches a strategy: the queue (429), the
body size (413), and text that is not text (a lone surrogate: 400)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ponder.server.errors import APIError, invalid
from ponder.server.run import ServeConfig


class Gate:
    """At most ``running`` requests at work and ``waiting`` more in line; beyond, 429."""

    def __init__(self, running: int, waiting: int) -> None:
        self.limit = running + waiting
        self.admitted = 0
        self.slots = asyncio.Semaphore(running)

    def admit(self) -> None:
        if self.admitted >= self.limit:
            raise APIError(
                429,
                f"the server is at its limit of {self.limit} requests (working and queued); "
                "retry shortly",
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": "1"},
            )
        self.admitted += 1

    def leave(self) -> None:
        self.admitted -= 1


class BodyLimit:
    """Refuses (413) a request body over ``limit`` bytes, declared or as it arrives."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # answer now; the app sees a client that left, and its answer is dropped
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        with contextlib.suppress(ClientDisconnect):
            await self.app(scope, counted, guarded)

    async def _refuse(self, send: Send) -> None:
        error = APIError(413, f"the request body is over {self.limit} bytes")
        response = JSONResponse(error.body(), status_code=413)
        await response({"type": "http"}, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def refuse_surrogates(body: BaseModel) -> None:
    """Text must be text: a lone surrogate (``\\ud800``, which JSON can carry) cannot be
    encoded for any model, so it is a 400 here rather than a failure later."""

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise invalid(
                    f"{where} holds a lone surrogate (not valid Unicode text)", param=where
                ) from None
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, where)
                walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")

    walk(body.model_dump(), "")


def with_body_limit(app: FastAPI, config: ServeConfig) -> ASGIApp:
    """The app behind the body size limit (what ``ponder serve`` runs)."""
    return BodyLimit(app, config.max_body_bytes)
