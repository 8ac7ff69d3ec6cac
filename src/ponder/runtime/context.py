"""The runtime a strategy talks to: sampling calls, the ledger, the budget, the trace.

A strategy never touches a backend; it asks its Context::

    result = await ctx.sample(messages, n=8, temperature=0.8, max_tokens=256)
    ctx.ledger.total().completion_tokens

Every call is recorded in the ledger under a role (``generate``, ``verify``, ``probe``), and
refused *before* it starts if its worst case (prompt + n x max_tokens) could overrun the
budget, so a run never spends more than it was given.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, Literal

from ponder.backends.base import Backend
from ponder.core.problem import DEFAULT_MODEL
from ponder.core.types import (
    Completion,
    GenerationRequest,
    GenerationResult,
    Message,
    SamplingParams,
    StreamChunk,
    Tools,
    Usage,
    make_params,
)
from ponder.errors import (
    BudgetExhausted,
    CapabilityError,
    ConfigError,
    LimitExceeded,
    UnknownNameError,
)
from ponder.runtime.ledger import Budget, Ledger


@dataclasses.dataclass(frozen=True)
class TraceEvent:
    role: str
    model: str
    n: int
    usage: Usage
    seconds: float


@dataclasses.dataclass(frozen=True)
class Progress:
    """What an observer of a run hears as it goes (``Context(observer=...)``): a call began
    (``call``), a sample finished (``sample``: its text and tokens), or a piece of the answer
    was decoded (``answer``: from a call a strategy marks as its answer, see ``sample``)."""

    kind: Literal["call", "sample", "answer"]
    role: str
    model: str
    n: int = 1
    index: int = 0
    text: str = ""
    completion_tokens: int = 0
    finish_reason: str | None = None


Observer = Callable[[Progress], None]


class Context:
    """Per-run state: the models a strategy may call, the ledger, the budget and the trace.
    ``observer`` hears the run's progress (a server streams it to its client). ``tools`` and
    ``response_format`` (a client's, through ``ponder serve``) go with every call that writes
    candidates (role ``generate``), not with verifiers' calls."""

    def __init__(
        self,
        backend: Backend | Mapping[str, Backend],
        *,
        budget: Budget | None = None,
        observer: Observer | None = None,
        tools: Tools | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> None:
        self.models: dict[str, Backend] = (
            {DEFAULT_MODEL: backend} if isinstance(backend, Backend) else dict(backend)
        )
        if DEFAULT_MODEL not in self.models:
            raise ConfigError(f"a Context needs a model named {DEFAULT_MODEL!r}")
        self.budget = budget or Budget()
        self.ledger = Ledger()
        #: the calls made through this Context itself, not through its parts (``scope``):
        #: ``ledger`` is ``own`` plus the parts' ledgers
        self.own = Ledger()
        self.trace: list[TraceEvent] = []
        self._reserved = Usage()
        self.observer = observer
        self.tools = tools
        self.response_format = response_format
        #: the Context this one is a part of (``scope``); None for a whole run
        self._parent: Context | None = None

    def scope(self, model: str | None = None) -> Context:
        """A part of this run (one candidate of a composed sampler, say): its calls are
        charged to this run's budget and ledger as usual, and also to the part's own
        ``ledger``, so a part's cost is known and the parts add up to the whole. ``model``:
        the part's default model is that one of this run's models."""
        models = dict(self.models)
        if model is not None:
            models[DEFAULT_MODEL] = self.model(model)
        part = Context(
            models,
            budget=self.budget,
            observer=self.observer,
            tools=self.tools,
            response_format=self.response_format,
        )
        part.trace = self.trace
        part._parent = self
        return part

    @property
    def _run(self) -> Context:
        """The whole run: its ledger and reservations are what the budget is checked against."""
        return self if self._parent is None else self._parent._run

    @property
    def backend(self) -> Backend:
        return self.models[DEFAULT_MODEL]

    def model(self, name: str | None = None) -> Backend:
        name = name or DEFAULT_MODEL
        if name not in self.models:
            error = UnknownNameError("model", name, self.models)
            error.add_note(
                "name more models with --extra-model NAME=SPEC (ponder solve, ponder eval), "
                "named_models={NAME: backend} (ponder.solve), or Context({'default': a, NAME: b})"
            )
            raise error
        return self.models[name]

    def request(
        self,
        messages: Sequence[Message | dict[str, str]] | str,
        params: SamplingParams | None = None,
        *,
        prefix: str = "",
        raw: bool = False,
        priority: int = 0,
        prefix_ids: tuple[int, ...] = (),
        retain: bool = False,
        retain_ended: bool = False,
        keep: int = 0,
        thinking_budget: int | None = None,
        tools: Tools | None = None,
        response_format: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> GenerationRequest:
        """Build a request: a question string becomes one user message unless ``raw``.
        ``prefix`` continues an assistant reply (``prefix_ids``: the same as the backend's
        token ids; ``retain``: the samples will be continued, ``keep``: how many prefixes the
        caller holds at once, see ``GenerationRequest``)."""
        params = params.replace(**overrides) if params else make_params(**overrides)
        common: dict[str, Any] = {
            "prefix": prefix,
            "priority": priority,
            "prefix_ids": prefix_ids,
            "retain": retain,
            "retain_ended": retain_ended,
            "keep": keep,
            "thinking_budget": thinking_budget,
            "tools": tools,
            "response_format": response_format,
        }
        if isinstance(messages, str):
            if raw:
                return GenerationRequest(params=params, prompt=messages, **common)
            messages = [Message("user", messages)]
        return GenerationRequest.chat(messages, params, **common)

    async def sample(
        self,
        messages: Sequence[Message | dict[str, str]] | str,
        params: SamplingParams | None = None,
        *,
        role: str = "generate",
        model: str | None = None,
        prefix: str = "",
        raw: bool = False,
        thinking: bool = False,
        answer: bool = False,
        **overrides: Any,
    ) -> GenerationResult:
        """Draw ``n`` samples; recorded in the ledger under ``role``. ``overrides`` are
        sampling parameters and ``request``'s options (``priority``, ``prefix_ids``, ...).
        ``thinking``: everything this call generates is thought (a strategy that runs the
        thinking itself, as budget forcing does), counted as ``reasoning_tokens``.
        ``answer``: this call's one sample is the run's answer as it is generated; with an
        observer and a backend that streams, it is streamed and the observer hears each
        piece (the completion then lacks ``token_ids`` and ``stop_reason``). A part of a run
        (``scope``: one candidate of a composed sampler) is not the run's answer."""
        backend = self.model(model)
        if role == "generate":
            overrides.setdefault("tools", self.tools)
            overrides.setdefault("response_format", self.response_format)
        request = self.request(messages, params, prefix=prefix, raw=raw, **overrides)
        streams = answer and self._parent is None and backend.capabilities.streaming
        streams = streams and request.tools is None
        if streams and self.observer is not None and request.params.n == 1:
            return await self._streamed(request, role, model)
        name, n = model or DEFAULT_MODEL, request.params.n
        self._tell(Progress("call", role, name, n))
        worst = self._reserve(request, backend)
        start = time.perf_counter()

        def finished(index: int, text: str, tokens: int, finish_reason: str) -> None:
            self._tell(Progress("sample", role, name, n, index, text, tokens, finish_reason))

        try:
            if self.observer is None:
                result = await backend.generate(request)
            else:  # the observer hears each sample as it finishes
                result = await backend.generate_observed(request, finished)
        finally:
            self._run._reserved = _minus(self._run._reserved, worst)
        if thinking:
            usage = dataclasses.replace(
                result.usage, reasoning_tokens=result.usage.completion_tokens
            )
            result = dataclasses.replace(result, usage=usage)
        self._record(role, model, n, result.usage, time.perf_counter() - start)
        return result

    async def _streamed(
        self, request: GenerationRequest, role: str, model: str | None
    ) -> GenerationResult:
        """One sample drawn through ``stream``, each piece told to the observer as ``answer``."""
        pieces: list[str] = []
        logprobs: list[Any] = []
        last: StreamChunk | None = None
        usage: Usage | None = None
        async for chunk in self._stream_request(request, role, model):
            pieces.append(chunk.text)
            logprobs.extend(chunk.logprobs)
            if chunk.text:
                self._tell(Progress("answer", role, model or DEFAULT_MODEL, text=chunk.text))
            last = chunk if chunk.finish_reason else last
            usage = chunk.usage or usage
        if last is None or last.finish_reason is None or usage is None:
            raise ConfigError(f"backend {self.model(model).name!r} ended a stream unfinished")
        completion = Completion(
            "".join(pieces),
            last.finish_reason,
            last.completion_tokens,
            logprobs=tuple(logprobs) if request.params.logprobs else None,
            seed=request.params.seed,
        )
        return GenerationResult((completion,), usage)

    async def stream(
        self,
        messages: Sequence[Message | dict[str, str]] | str,
        params: SamplingParams | None = None,
        *,
        role: str = "generate",
        model: str | None = None,
        prefix: str = "",
        raw: bool = False,
        priority: int = 0,
        **overrides: Any,
    ) -> AsyncGenerator[StreamChunk, None]:
        """Stream ``n`` samples; completion tokens are recorded as the samples finish."""
        if role == "generate":
            overrides.setdefault("tools", self.tools)
            overrides.setdefault("response_format", self.response_format)
        request = self.request(
            messages, params, prefix=prefix, raw=raw, priority=priority, **overrides
        )
        if request.tools is not None:
            raise CapabilityError(
                "streamed samples do not carry tool calls: strategies that stop samples early "
                "cannot vote on them; use self_consistency, best_of_n or greedy with tools"
            )
        async for chunk in self._stream_request(request, role, model):
            yield chunk

    async def _stream_request(
        self, request: GenerationRequest, role: str, model: str | None
    ) -> AsyncGenerator[StreamChunk, None]:
        backend = self.model(model)
        name = model or DEFAULT_MODEL
        self._tell(Progress("call", role, name, request.params.n))
        worst = self._reserve(request, backend)
        start = time.perf_counter()
        produced: dict[int, int] = {}
        texts: dict[int, list[str]] = {}
        final: Usage | None = None
        try:
            async for chunk in backend.stream(request):
                produced[chunk.index] = chunk.completion_tokens
                final = chunk.usage or final
                if self.observer is not None:
                    texts.setdefault(chunk.index, []).append(chunk.text)
                    if chunk.finish_reason is not None:
                        text = "".join(texts.pop(chunk.index))
                        self._tell(
                            Progress(
                                "sample",
                                role,
                                name,
                                request.params.n,
                                chunk.index,
                                text,
                                chunk.completion_tokens,
                                chunk.finish_reason,
                            )
                        )
                yield chunk
        finally:
            self._run._reserved = _minus(self._run._reserved, worst)
            # exact when the backend reported usage; a stream cut short (or a server that
            # sends none) is charged its tokens so far, and its prompt as the backend counts
            # it (the bound where it cannot)
            if final is None:
                counted = backend.count_prompt_tokens(request)
                prompt = worst.prompt_tokens if counted is None else counted
                final = Usage(prompt_tokens=prompt, completion_tokens=sum(produced.values()))
            usage = final
            self._record(role, model, request.params.n, usage, time.perf_counter() - start)

    def _tell(self, event: Progress) -> None:
        if self.observer is not None:
            self.observer(event)

    # -- budget

    def remaining(self) -> Usage | None:
        """What is left of the budget's completion tokens, if that is limited."""
        spent = self._run.ledger.total()
        if self.budget.completion_tokens is None:
            return None
        left = self.budget.completion_tokens - spent.completion_tokens
        return Usage(completion_tokens=max(0, left))

    def affordable(
        self,
        messages: Sequence[Message | dict[str, str]] | str,
        n: int,
        max_tokens: int,
    ) -> int:
        """How many of ``n`` samples of at most ``max_tokens`` the budget still admits (what
        is reserved by calls in flight counts as spent); adaptive strategies launch only
        what fits, so they stop at the budget instead of failing."""
        request = self.request(messages, max_tokens=max_tokens)
        for k in range(n, 0, -1):
            try:
                self._check(request.params.replace(n=k), _prompt_estimate(request))
            except BudgetExhausted:
                continue
            return k
        return 0

    def _check(self, params: SamplingParams, prompt_guess: int) -> Usage:
        b = self.budget
        _check_limits(b, params)
        worst = Usage(prompt_tokens=prompt_guess, completion_tokens=params.n * params.max_tokens)
        spent = self._run.ledger.total() + self._run._reserved
        if b.completion_tokens is not None and (
            spent.completion_tokens + worst.completion_tokens > b.completion_tokens
        ):
            raise BudgetExhausted(
                f"this call could generate {worst.completion_tokens} tokens (n={params.n} x "
                f"max_tokens={params.max_tokens}) but only "
                f"{b.completion_tokens - spent.completion_tokens} completion tokens are left "
                "in the budget; raise the budget or lower n or max_tokens"
            )
        if b.total_tokens is not None and spent.total_tokens + worst.total_tokens > b.total_tokens:
            raise BudgetExhausted(
                f"this call could spend about {worst.total_tokens} tokens but only "
                f"{b.total_tokens - spent.total_tokens} are left in the budget; raise the budget "
                "or lower n or max_tokens"
            )
        return worst

    def _reserve(self, request: GenerationRequest, backend: Backend) -> Usage:
        missing = backend.capabilities.missing(request.needs())
        if missing:
            raise CapabilityError(
                f"this request needs {', '.join(missing)}, which backend {backend.name!r} "
                f"({backend.model_name}) does not offer; use a server that does "
                "(an OpenAI-compatible URL as the model), or leave them out"
            )
        worst = self._check(request.params, _prompt_estimate(request))
        self._run._reserved = self._run._reserved + worst
        return worst

    def record(
        self, role: str, usage: Usage, seconds: float, *, model: str | None = None, n: int = 1
    ) -> None:
        """Charge work done outside ``sample``/``stream`` (a reward-model server, a sandbox
        run) to the ledger and the trace, so every call a strategy causes is counted."""
        self._record(role, model, n, usage, seconds)

    def _record(self, role: str, model: str | None, n: int, usage: Usage, seconds: float) -> None:
        self.own.record(role, usage, seconds)
        part: Context | None = self
        while part is not None:
            part.ledger.record(role, usage, seconds)
            part = part._parent
        self.trace.append(TraceEvent(role, model or DEFAULT_MODEL, n, usage, seconds))


def _check_limits(budget: Budget, params: SamplingParams) -> None:
    """Refuse a call over a per-call limit, whichever strategy (or option) asked for it."""
    if budget.sample_tokens is not None and params.max_tokens > budget.sample_tokens:
        raise LimitExceeded(
            f"a call asked for max_tokens={params.max_tokens} a sample, over the limit of "
            f"{budget.sample_tokens}: lower the option that sets it (max_tokens, "
            "answer_tokens, max_thinking, step_tokens, reply_tokens, ...)"
        )
    if budget.stop_strings is not None and len(params.stop) > budget.stop_strings:
        raise LimitExceeded(
            f"a call gave {len(params.stop)} stop strings, over the limit of {budget.stop_strings}"
        )
    longest = max((len(s) for s in params.stop), default=0)
    if budget.stop_chars is not None and longest > budget.stop_chars:
        raise LimitExceeded(
            f"a stop string of {longest} characters is over the limit of {budget.stop_chars}"
        )


def _prompt_estimate(request: GenerationRequest) -> int:
    """A bound on prompt tokens before tokenizing: a token holds at least one byte, plus room
    for what a chat template adds (role markers, a default system prompt). The ledger records
    the exact count once the call returns."""
    if request.messages is not None:
        size = sum(len(m.content.encode()) + 16 for m in request.messages) + 128
    else:
        size = len((request.prompt or "").encode())
    return size + len(request.prefix.encode())


def _minus(a: Usage, b: Usage) -> Usage:
    return Usage(
        a.prompt_tokens - b.prompt_tokens,
        a.cached_prompt_tokens - b.cached_prompt_tokens,
        a.completion_tokens - b.completion_tokens,
        a.reasoning_tokens - b.reasoning_tokens,
    )
