"""``ponder serve``: an OpenAI-compatible endpoint in front of any backend, thinking harder.

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``POST /v1/responses``
(``ponder.server.responses``), ``GET /v1/models``, ``GET /v1/models/{id}``, ``GET /health``,
and FastAPI's ``/openapi.json`` and ``/docs``.

- **Streaming is real**: the first chunk leaves before any work; the strategy's progress
  follows as ``reasoning_content`` deltas as samples finish; a single-sample answer (greedy,
  budget forcing's answer) streams token by token as it is decoded; then the answer, the
  finish reason, and a usage chunk (``stream_options.include_usage``).
- **Usage is exact**: every sample and verifier call of the request, from the runs' ledgers;
  the ``ponder`` field carries the ledger by role, the strategy's details and candidates.
- **A client that goes away cancels its work**: a dropped stream, or a non-streaming client
  that disconnects, cancels every run, and so every sample in the backend.
- **Protection**: API keys (401), a body size limit (413), a concurrency limit with a queue
  (429 and ``Retry-After`` when full), limits on ``n``, ``max_tokens`` and what one run may
  spend (``ServeConfig``), a deadline per request (504), upstream failures as 502/504.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ponder.core.problem import Problem, Result
from ponder.core.spec import parse_spec
from ponder.errors import PonderError
from ponder.runtime.context import Progress
from ponder.server.answers import (
    ProgressText,
    chat_logprobs,
    chat_response,
    completion_response,
    extension,
    finish_reason,
    new_id,
    sse,
    tool_calls_json,
    usage_of,
    winner,
)
from ponder.server.errors import APIError, from_ponder, internal, invalid
from ponder.server.guards import Gate, refuse_surrogates
from ponder.server.responses import register_responses
from ponder.server.run import Plan, ServeConfig, Served, chat_problem, plan, run_plan
from ponder.server.schema import ChatRequest, CompletionRequest

T = TypeVar("T")


class ChunkWriter:
    """Stream chunks of one response, in the chat or the legacy completions shape."""

    def __init__(self, model: str, *, chat: bool) -> None:
        self.id = new_id("chatcmpl" if chat else "cmpl")
        self.created = int(time.time())
        self.model = model
        self.chat = chat

    def chunk(self, choice: dict[str, Any] | None, **extra: Any) -> str:
        return sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk" if self.chat else "text_completion",
                "created": self.created,
                "model": self.model,
                "choices": [] if choice is None else [choice],
                **extra,
            }
        )

    def delta(self, index: int, finish: str | None = None, **fields: Any) -> str:
        return self.chunk(self.choice(index, finish, **fields))

    def choice(self, index: int, finish: str | None = None, **fields: Any) -> dict[str, Any]:
        if self.chat:
            return {"index": index, "delta": fields, "logprobs": None, "finish_reason": finish}
        text = fields.get("content", "")
        return {"index": index, "text": text, "logprobs": None, "finish_reason": finish}

    def ending(self, index: int, result: Result) -> str:
        """The chunk that ends a choice: its finish reason (and the winner's logprobs)."""
        choice = self.choice(index, finish_reason(result))
        chosen = winner(result)
        if self.chat and chosen is not None and chosen.logprobs is not None:
            choice["logprobs"] = chat_logprobs(chosen.logprobs)
        calls = tool_calls_json(chosen) if self.chat else None
        if calls:
            choice["delta"] = {"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]}
        return self.chunk(choice)


class Handler:
    """What the routes do: plan, run under the gate and the deadline, answer or stream."""

    def __init__(self, served: Served, config: ServeConfig) -> None:
        self.served = served
        self.config = config
        self.gate = Gate(config.max_concurrent, config.max_queue)

    async def answer(self, request: Request, plan_: Plan, problems: list[Problem]) -> list[Result]:
        """The runs' results, under the gate and the deadline; cancelled if the client goes
        away."""
        self.gate.admit()
        try:
            async with self.gate.slots:
                task = asyncio.ensure_future(self.deadline(self.run(plan_, problems)))
                try:
                    while True:
                        done, _ = await asyncio.wait({task}, timeout=0.25)
                        if done:
                            return task.result()
                        if await request.is_disconnected():
                            raise APIError(499, "the client went away", code="cancelled")
                finally:
                    await _cancel(task)
        except PonderError as exc:
            raise from_ponder(exc) from None
        finally:
            self.gate.leave()

    def run(
        self, plan_: Plan, problems: list[Problem], sink: Any = None
    ) -> Awaitable[list[Result]]:
        return run_plan(plan_, problems, self.served, self.config, sink)

    async def deadline(self, work: Awaitable[T]) -> T:
        timeout = self.config.timeout
        if timeout is None:
            return await work
        try:
            async with asyncio.timeout(timeout):
                return await work
        except TimeoutError:
            raise APIError(
                504,
                f"the request took over {timeout:g} s and was cancelled; ask for less work "
                "(a smaller n, fewer samples)",
                type="timeout",
                code="timeout",
            ) from None

    def stream(
        self, plan_: Plan, problems: list[Problem], model: str, usage: bool, *, chat: bool
    ) -> StreamingResponse:
        self.gate.admit()  # a full queue is refused here, before the 200 goes out
        chunks = self.chunks(plan_, problems, ChunkWriter(model, chat=chat), usage)
        return StreamingResponse(
            chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    async def progress(
        self, plan_: Plan, problems: list[Problem]
    ) -> AsyncGenerator[tuple[int, Progress] | list[Result] | None, None]:
        """The work of a streamed request, under the gate's slots and the deadline: each
        progress event ``(choice, event)`` as it comes, None when there has been none for
        ``keepalive`` seconds, and the results last. Closing it early cancels the work."""
        async with self.gate.slots:
            events: asyncio.Queue[tuple[int, Progress]] = asyncio.Queue()
            sink = lambda i, e: events.put_nowait((i, e))  # noqa: E731
            work = asyncio.ensure_future(self.deadline(self.run(plan_, problems, sink)))
            try:
                async for item in _events(events, work, self.config.keepalive):
                    yield item
                yield work.result()
            finally:
                await _cancel(work)

    async def chunks(
        self, plan_: Plan, problems: list[Problem], out: ChunkWriter, include_usage: bool
    ) -> AsyncIterator[str]:
        """The role chunk at once, progress and streamed answers as they come, then each
        choice's answer and ending, the usage, and ``[DONE]``; the work is cancelled when the
        client stops reading."""
        choices = len(problems) * len(plan_.options)
        streamed = [False] * choices
        try:
            if out.chat:
                for i in range(choices):
                    yield out.delta(i, role="assistant", content="")
            progress = [ProgressText() for _ in range(choices)]
            results: list[Result] = []
            async with contextlib.aclosing(self.progress(plan_, problems)) as items:
                async for item in items:
                    if item is None:
                        yield ": keep-alive\n\n"  # an SSE comment: clients skip it
                    elif isinstance(item, list):
                        results = item
                    else:
                        index, event = item
                        if event.kind == "answer":
                            streamed[index] = True
                            yield out.delta(index, content=event.text)
                        elif plan_.progress and out.chat and not streamed[index]:
                            line = progress[index].line(event)
                            if line:
                                yield out.delta(index, reasoning_content=line)
            for index, result in enumerate(results):
                if not streamed[index]:
                    yield out.delta(index, content=result.text)
                yield out.ending(index, result)
            tail: dict[str, Any] = {"ponder": extension(plan_, results)}
            if include_usage:
                tail["usage"] = usage_of(results)
            yield out.chunk(None, **tail)
            yield sse("[DONE]")
        except (PonderError, APIError) as exc:
            error = from_ponder(exc) if isinstance(exc, PonderError) else exc
            yield sse(error.body())
        except Exception as exc:  # a failure of ours: still an error event, never a cut
            yield sse(internal(exc).body())
        finally:
            self.gate.leave()


async def _events(
    events: asyncio.Queue[tuple[int, Progress]], work: asyncio.Future[Any], quiet: float
) -> AsyncIterator[tuple[int, Progress] | None]:
    """The runs' progress events as they come, until the work is done and all are read; None
    after ``quiet`` seconds without one (the caller sends a keep-alive). A consumer that stops
    early (the client left) leaves no task behind."""
    getter: asyncio.Future[tuple[int, Progress]] | None = None
    try:
        while not (work.done() and events.empty()):
            getter = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait(
                {getter, work}, timeout=quiet, return_when=asyncio.FIRST_COMPLETED
            )
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
                if not done:
                    yield None
            getter = None
    finally:
        if getter is not None and not getter.done():
            getter.cancel()


async def _cancel(task: asyncio.Future[Any]) -> None:
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def create_app(served: Served, config: ServeConfig | None = None) -> FastAPI:
    """The app, over backends that are open (the caller closes them)."""
    config = config or ServeConfig()
    app = FastAPI(
        title="ponder",
        summary="An OpenAI-compatible endpoint that spends more inference compute, wisely.",
        version="0.1.0",
    )
    handler = Handler(served, config)
    app.state.handler = handler
    policy = config.admission()
    _error_handlers(app)
    keys = [k.encode() for k in config.api_keys]

    async def authorised(request: Request) -> None:
        if not keys:
            return
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        given = key.strip().encode()
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(given, k) for k in keys):
            raise APIError(
                401,
                "a valid API key is needed: send Authorization: Bearer KEY",
                code="invalid_api_key",
            )

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        """Cheap; the load only to a client that could send requests (a valid key)."""
        try:
            await authorised(request)
        except APIError:
            return {"status": "ok"}
        return {"status": "ok", "requests": handler.gate.admitted}

    @app.get("/v1/models", dependencies=[Depends(authorised)])
    async def models() -> dict[str, Any]:
        created = int(time.time())
        ids = [
            model_id
            for name in served.backends
            for model_id in (name, *(f"{name}@{p}" for p in config.presets))
        ]
        data = [{"id": i, "object": "model", "created": created, "owned_by": "ponder"} for i in ids]
        return {"object": "list", "data": data}

    @app.get("/v1/models/{model_id:path}", dependencies=[Depends(authorised)])
    async def model(model_id: str) -> dict[str, Any]:
        """A served model, or ``MODEL@SPEC`` with a strategy this server offers."""
        base, spec = served.resolve(model_id)
        if spec is not None:
            try:
                name, options = parse_spec(spec)
                policy.admit(name, options, {}, set(served.context_models(base)))
            except PonderError as exc:
                raise APIError(
                    404,
                    f"the model {model_id!r} is not offered here: {exc}",
                    code="model_not_found",
                    param="model",
                ) from None
        return {
            "id": model_id,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "ponder",
        }

    register_responses(app, handler, authorised, policy)

    @app.post("/v1/chat/completions", dependencies=[Depends(authorised)], response_model=None)
    async def chat(body: ChatRequest, request: Request) -> JSONResponse | StreamingResponse:
        refuse_surrogates(body)
        chosen = plan(body, served, config, policy)
        problems = [chat_problem(body)]
        if body.stream:
            usage = body.stream_options.include_usage if body.stream_options else False
            return handler.stream(chosen, problems, body.model, usage, chat=True)
        results = await handler.answer(request, chosen, problems)
        return JSONResponse(chat_response(chosen, results, body.model))

    @app.post("/v1/completions", dependencies=[Depends(authorised)], response_model=None)
    async def completions(
        body: CompletionRequest, request: Request
    ) -> JSONResponse | StreamingResponse:
        refuse_surrogates(body)
        chosen = plan(body, served, config, policy)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts or len(prompts) * body.n > config.max_n:
            raise invalid(
                f"{len(prompts)} prompt(s) x n={body.n}: give 1 to {config.max_n} choices in all",
                param="prompt",
            )
        problems = [Problem(p) for p in prompts]
        if body.stream:
            usage = body.stream_options.include_usage if body.stream_options else False
            return handler.stream(chosen, problems, body.model, usage, chat=False)
        results = await handler.answer(request, chosen, problems)
        return JSONResponse(completion_response(chosen, results, body.model))

    return app


def _error_handlers(app: FastAPI) -> None:
    """Every error in OpenAI's shape; a validation error is a 400, as OpenAI answers it."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0].get("loc", ())[1:]) if errors else ""
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg')}"
            for e in errors[:5]
        ]
        error = invalid("invalid request: " + "; ".join(parts), param=where or None)
        return JSONResponse(error.body(), status_code=400)

    @app.exception_handler(Exception)
    async def _ours(request: Request, exc: Exception) -> JSONResponse:
        error = internal(exc)
        return JSONResponse(error.body(), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = APIError(exc.status_code, str(exc.detail))
        return JSONResponse(error.body(), status_code=exc.status_code, headers=exc.headers)
