"""A request, turned into strategy runs, and the runs turned back into OpenAI's answer.

The strategy comes from the model name's suffix (``MODEL@self_consistency:n=8``), the
request's ``ponder`` object, or the server's default, in that order (giving two that differ
is an error). The request's sampling fields become the strategy's options where the strategy
has them (``temperature``, ``top_p``, ``top_k``, ``max_tokens``, ``stop``, ``seed``,
``logprobs``); options the spec sets itself win, and what was not used is listed in the
answer's ``ponder.ignored``. ``n`` runs the strategy ``n`` times, independently (run ``i``
seeded ``seed + i``), one choice each. Each run has a budget (``ServeConfig.run_tokens``), so
no request can ask for unbounded work: a call that could overrun it is refused before it
starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from ponder.api import make_strategy
from ponder.backends.base import Backend
from ponder.core.problem import DEFAULT_MODEL, Problem, Result
from ponder.core.spec import parse_spec
from ponder.core.trust import MODELS
from ponder.core.types import Message, ToolCall, Tools
from ponder.errors import PonderError, UnknownNameError
from ponder.runtime import Budget, Context
from ponder.runtime.context import Progress
from ponder.server.errors import APIError, from_ponder, invalid
from ponder.server.policy import Policy, PolicyError, token_field
from ponder.server.schema import IGNORED, ChatMessage, ChatRequest, CompletionRequest, Sampling
from ponder.strategies.base import Strategy


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """What ``ponder serve`` allows and defaults to."""

    #: the strategy of requests that name none
    strategy: str = "self_consistency"
    #: strategy specs listed in ``/v1/models`` as ``MODEL@SPEC``
    presets: tuple[str, ...] = ()
    #: keys a client must send as ``Authorization: Bearer KEY`` (none: no check)
    api_keys: frozenset[str] = frozenset()
    #: the most ``n`` (runs) and ``max_tokens`` (per sample) a request may ask for
    max_n: int = 8
    max_tokens: int = 4096
    #: the completion tokens one strategy run may spend, every call of it together
    run_tokens: int = 65536
    #: requests worked on at once, and waiting beyond those (more: 429)
    max_concurrent: int = 16
    max_queue: int = 64
    #: the largest request body, in bytes (more: 413)
    max_body_bytes: int = 4 * 1024 * 1024
    #: seconds a request may take before it is cancelled and answered 504 (None: no limit)
    timeout: float | None = 600.0
    #: seconds without a progress event after which a stream gets a keep-alive comment
    keepalive: float = 0.5
    #: what requests may reach (None: ``Policy.default``, capped at ``max_tokens``)
    policy: Policy | None = None
    #: every call of a run: the most stop strings, and the longest (the request's own ``stop``
    #: is held to OpenAI's 4)
    stop_strings: int = 16
    stop_chars: int = 256

    def admission(self) -> Policy:
        policy = self.policy or Policy.default()
        return dataclasses.replace(policy, sample_tokens=self.max_tokens)

    def budget(self) -> Budget:
        """What one run may spend, and what each of its calls may ask for."""
        return Budget(
            completion_tokens=self.run_tokens,
            sample_tokens=self.max_tokens,
            stop_strings=self.stop_strings,
            stop_chars=self.stop_chars,
        )


@dataclasses.dataclass
class Served:
    """The models a server answers for: ids as clients name them -> backends. ``main`` is
    the id of ``--model``; the others are ``--extra-model`` names, which strategies that use
    several models (``model_switch``, a judge's ``model=``) also reach by name."""

    main: str
    backends: dict[str, Backend]

    def resolve(self, model: str) -> tuple[str, str | None]:
        """(served id, strategy spec or None) of a request's ``model``."""
        base, sep, spec = model.partition("@")
        if base not in self.backends:
            raise APIError(
                404,
                f"the model {base!r} does not exist here; choose one of: "
                f"{', '.join(self.backends)} (optionally with @STRATEGY, e.g. "
                f"{self.main}@self_consistency:n=8)",
                code="model_not_found",
                param="model",
            )
        if sep and not spec:
            raise invalid("nothing follows '@' in the model name: give a strategy", param="model")
        return base, spec or None

    def context_models(self, chosen: str) -> dict[str, Backend]:
        extras = {name: b for name, b in self.backends.items() if name != self.main}
        return {**extras, DEFAULT_MODEL: self.backends[chosen]}


#: request field -> the strategy option it sets, where the strategy has that option
SAMPLING_OPTIONS = ("temperature", "top_p", "top_k", "max_tokens", "stop", "seed")


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a request will run: the strategy spec and options for each of its ``n`` runs."""

    model: str
    spec: str
    name: str
    options: list[dict[str, Any]]
    ignored: dict[str, str]
    progress: bool
    details: bool
    tools: Tools | None = None
    response_format: dict[str, Any] | None = None

    def strategies(self) -> list[Strategy]:
        return [make_strategy(self.name, **options) for options in self.options]


def plan(
    request: Sampling, served: Served, config: ServeConfig, policy: Policy | None = None
) -> Plan:
    """Validate the request against the limits and the policy and choose its strategy,
    before any work. The operator's own specs (``--strategy``, ``--preset``) may set what a
    request may not (``ponder.server.policy``)."""
    model, from_name = served.resolve(request.model)
    given = request.ponder.strategy if request.ponder else None
    if from_name and given and from_name != given:
        raise invalid(
            f"two strategies given: {from_name!r} in the model name and {given!r} in "
            "ponder.strategy; give one",
            param="ponder.strategy",
        )
    spec = from_name or given or config.strategy
    if request.n > config.max_n:
        raise invalid(f"n={request.n} is over this server's limit of {config.max_n}", param="n")
    policy = policy or config.admission()
    models = set(served.context_models(model))
    try:
        name, spec_options = parse_spec(spec)
        trusted = spec in (config.strategy, *config.presets)
        requested = {} if trusted else spec_options
        requested.update(request.ponder.options if request.ponder else {})
        options = policy.admit(name, spec_options if trusted else {}, requested, models)
        strategy = make_strategy(name, **options)
    except PolicyError as exc:
        raise invalid(str(exc), param=exc.param, code="not_allowed") from None
    except UnknownNameError as exc:
        raise invalid(str(exc), param="ponder.strategy", code="unknown_strategy") from None
    except PonderError as exc:
        raise from_ponder(exc) from None
    _check_models(strategy, models)
    known = type(strategy.config).model_fields
    wanted = _sampling_fields(request)
    ignored: dict[str, str] = {}
    for field, value in wanted.items():
        if field in options:
            ignored[field] = f"the strategy spec sets {field} itself"
        elif field not in known:
            ignored[field] = f"strategy {name!r} has no {field} option"
        else:
            options[field] = value
    for field in IGNORED:
        if getattr(request, field, None) is not None:
            ignored[field] = "accepted; ponder does not act on it"
    _cap_tokens(options, known, ignored, config.max_tokens)
    if wanted.get("logprobs") and "logprobs" not in known:
        raise invalid(
            f"logprobs need a strategy whose answer is one sample (greedy); {name!r} is not",
            param="logprobs",
        )
    runs = []
    for i in range(request.n):
        run = dict(options)
        if request.n > 1 and run.get("seed") is not None:
            run["seed"] = run["seed"] + 7919 * i
        runs.append(run)
    try:
        make_strategy(name, **runs[0])  # the request's options, validated
    except PonderError as exc:
        raise from_ponder(exc) from None
    ponder = request.ponder
    tools, response_format = _client_tools(request)
    return Plan(
        model,
        spec,
        name,
        runs,
        ignored,
        progress=ponder.progress if ponder else True,
        details=ponder.details if ponder else True,
        tools=tools,
        response_format=response_format,
    )


def _check_models(strategy: Strategy, models: set[str]) -> None:
    """The models a strategy's options name (its defaults too) are served: checked before
    any sample is drawn."""
    for key, field in type(strategy.config).model_fields.items():
        extra = field.json_schema_extra
        if not isinstance(extra, dict) or MODELS not in extra:
            continue
        value = getattr(strategy.config, key)
        for model in value if isinstance(value, list) else [value]:
            if model not in models:
                raise invalid(
                    f"strategy {strategy.name!r} would call the model {model!r} ({key}), which "
                    f"this server does not serve; its models: {', '.join(sorted(models))}",
                    param=key,
                    code="model_not_found",
                )


def _cap_tokens(
    options: dict[str, Any], known: dict[str, Any], ignored: dict[str, str], cap: int
) -> None:
    """Refuse a sample's tokens over the server's cap (max_tokens, answer_tokens,
    max_thinking, ...); lower a strategy's default that is over."""
    for key, field in known.items():
        if not token_field(key):
            continue
        default = field.default
        if key not in options and isinstance(default, int) and default > cap:
            options[key] = cap
            ignored[key] = f"the strategy's default {default} is over this server's limit"
        limit = options.get(key, default)
        if isinstance(limit, int) and limit > cap:
            raise invalid(f"{key}={limit} is over this server's limit of {cap}", param=key)


def _client_tools(request: Sampling) -> tuple[Tools | None, dict[str, Any] | None]:
    """The client's tools and response format (JSON mode, a schema), to pass on."""
    if not isinstance(request, ChatRequest):
        return None, None
    tools = None
    if request.tools:
        choice = request.tool_choice
        tools = Tools(
            tuple(t.model_dump(exclude_none=True) for t in request.tools),
            choice.model_dump() if isinstance(choice, BaseModel) else choice,
        )
    response_format = None
    if request.response_format is not None and request.response_format.type != "text":
        response_format = request.response_format.model_dump(exclude_none=True)
    return tools, response_format


def _sampling_fields(request: Sampling) -> dict[str, Any]:
    """The sampling fields the client set, as strategy option values."""
    _refuse_unsupported(request)
    wanted: dict[str, Any] = {}
    for field in SAMPLING_OPTIONS:
        value = getattr(request, field)
        if value is not None:
            wanted[field] = value
    if request.stop is not None:
        wanted["stop"] = list(request.stops())
        if not wanted["stop"]:
            del wanted["stop"]
    if isinstance(request, ChatRequest):
        if request.max_completion_tokens is not None:
            wanted["max_tokens"] = request.max_completion_tokens
        if request.logprobs:
            wanted["logprobs"] = True
            if request.top_logprobs:
                wanted["top_logprobs"] = request.top_logprobs
        elif request.top_logprobs:
            raise invalid("top_logprobs needs logprobs=true", param="top_logprobs")
    elif isinstance(request, CompletionRequest) and request.logprobs:
        wanted["logprobs"] = True
        wanted["top_logprobs"] = request.logprobs
    return wanted


def _refuse_unsupported(request: Sampling) -> None:
    neutral = {"presence_penalty": 0.0, "frequency_penalty": 0.0}
    for field, value in neutral.items():
        if getattr(request, field) not in (None, value):
            raise invalid(f"{field} is not supported by ponder serve; leave it unset", param=field)
    if request.logit_bias:
        raise invalid("logit_bias is not supported by ponder serve", param="logit_bias")
    if any(not s for s in request.stops()):
        raise invalid("stop strings must be non-empty", param="stop")
    if len(request.stops()) > 4:
        raise invalid("at most 4 stop strings", param="stop")
    if any(len(s) > 256 for s in request.stops()):
        raise invalid("a stop string may have at most 256 characters", param="stop")
    if isinstance(request, CompletionRequest) and (
        request.echo or request.suffix or (request.best_of or 1) > 1
    ):
        raise invalid(
            "echo, suffix and best_of are not supported: choose a strategy "
            "(best_of_n:n=K) instead of best_of",
            param="best_of",
        )
    if isinstance(request, ChatRequest):  # noqa: SIM102
        if request.tool_choice is not None and not request.tools:
            raise invalid("tool_choice needs tools", param="tool_choice")


def chat_problem(request: ChatRequest) -> Problem:
    """The conversation as a problem: system (and developer) messages join the system
    prompt, the last user message is the question, the turns before it are its history, and
    the turns after it (the assistant's tool calls and their results) come after it."""
    system = [m.text() for m in request.messages if m.role in ("system", "developer")]
    turns = [_turn(m) for m in request.messages if m.role not in ("system", "developer")]
    asks = [i for i, turn in enumerate(turns) if turn.role == "user"]
    if not asks:
        raise invalid("the messages need a user message: ponder answers it", param="messages")
    last = asks[-1]
    after = turns[last + 1 :]
    if after and (after[-1].role != "tool" or any(not t.tool_calls for t in after[:1])):
        raise invalid(
            "the last message must be the user's, or a tool's result that follows the "
            "assistant's tool calls: ponder answers it",
            param="messages",
        )
    return Problem(
        question=turns[last].content,
        system="\n\n".join(system) or None,
        history=tuple(turns[:last]),
        after=tuple(after),
    )


def _turn(message: ChatMessage) -> Message:
    if message.role == "function":  # the deprecated function-calling turn: its result
        return Message("tool", message.text(), tool_call_id=message.name or "function")
    if message.role == "tool":
        if message.tool_call_id is None:
            raise invalid("a tool message needs its tool_call_id", param="messages")
        return Message("tool", message.text(), tool_call_id=message.tool_call_id)
    calls = tuple(
        ToolCall(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()
    )
    role: Literal["user", "assistant"] = "assistant" if message.role == "assistant" else "user"
    return Message(role, message.text(), tool_calls=calls)


# -- running


ProgressSink = Callable[[int, Progress], None]


async def run_plan(
    plan_: Plan,
    problems: Sequence[Problem],
    served: Served,
    config: ServeConfig,
    sink: ProgressSink | None = None,
) -> list[Result]:
    """Every run of the plan on every problem, at once; choice ``p x n + i`` is run ``i`` of
    problem ``p``. Cancelling this cancels every run (their samples are aborted)."""
    import asyncio

    models = served.context_models(plan_.model)
    strategies = plan_.strategies()

    async def one(index: int, problem: Problem, strategy: Strategy) -> Result:
        observer = (lambda event: sink(index, event)) if sink else None
        ctx = Context(
            models,
            budget=config.budget(),
            observer=observer,
            tools=plan_.tools,
            response_format=plan_.response_format,
        )
        return await strategy.run(problem, ctx)

    jobs = [
        one(p * len(strategies) + i, problem, strategy)
        for p, problem in enumerate(problems)
        for i, strategy in enumerate(strategies)
    ]
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
