"""Core value types shared by every layer: sampling parameters, requests, completions, usage.

Sampling parameters use the OpenAI names and are validated on construction, so a bad value
is an error before any work is spent::

    >>> SamplingParams(n=8, temperature=0.8, max_tokens=128, seed=1)
    SamplingParams(n=8, temperature=0.8, top_p=1.0, top_k=None, max_tokens=128, ...)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ponder.errors import ConfigError

logger = logging.getLogger(__name__)

FinishReason = Literal["stop", "length", "cancelled", "repetition"]
Role = Literal["system", "user", "assistant", "tool"]


class SamplingParams(BaseModel):
    """How to sample. Field names and meanings follow the OpenAI API (and vLLM's extensions)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(1, ge=1, le=4096, description="Number of independent samples.")
    temperature: float = Field(
        1.0, ge=0.0, le=10.0, description="Softmax temperature; 0 means greedy (argmax)."
    )
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass; 1 disables it.")
    top_k: int | None = Field(
        None, ge=1, description="Keep only the k most likely tokens (vLLM extension); None: off."
    )
    max_tokens: int = Field(256, ge=1, description="Most tokens to generate per sample.")
    stop: tuple[str, ...] = Field(
        (), description="Strings that end a sample; the stop string is not included in the text."
    )
    seed: int | None = Field(
        None,
        description="Base seed. Sample i draws from sample_seed(seed, i): the seed itself for "
        "the first sample, a mix of both for the others, so samples stay distinct and "
        "reproducible and requests seeded s and s + 1 share none; None draws a fresh random "
        "seed per request.",
    )
    logprobs: bool = Field(False, description="Return the log-probability of each chosen token.")
    loop_repeats: int = Field(
        0,
        ge=0,
        le=1000,
        description="End a sample, with finish_reason 'repetition', once its last tokens repeat "
        "one block this many times (ponder.backends.loops; 0: off). The embedded engine does it; "
        "other backends ignore it.",
    )
    loop_template: int = Field(
        0,
        ge=0,
        le=1000,
        description="End a sample, with finish_reason 'repetition', once its last tokens repeat "
        "one block this many times, every run of number tokens taken as one (a table that goes "
        "on changing only its numbers; ponder.backends.loops.template_loops; 0: off). The "
        "embedded engine does it; other backends ignore it.",
    )
    top_logprobs: int = Field(
        0, ge=0, le=20, description="Also return the k most likely alternatives at each position."
    )

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_tuple(cls, value: object) -> object:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        return value

    @field_validator("stop")
    @classmethod
    def _no_empty_stop(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(s == "" for s in value):
            raise ValueError("stop strings must be non-empty")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SamplingParams:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs > 0 needs logprobs=True")
        if self.n > 1 and self.temperature == 0.0:
            logger.warning("n=%d at temperature 0: every sample will be the same", self.n)
        return self

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def replace(self, **changes: object) -> SamplingParams:
        """A copy with some fields changed, validated again."""
        return make_params(**{**self.model_dump(), **changes})


_MASK64 = (1 << 64) - 1


def sample_seed(base: int, index: int) -> int:
    """The seed of sample ``index`` of a request seeded ``base`` (31 bits, as llama.cpp and
    OpenAI-compatible servers take them): ``base`` itself for the first sample, so a request
    for one sample seeded s draws what the first of many seeded s draws, and a SplitMix64
    mix of both for the others, so requests seeded s and s + 1 share no sample (with
    ``base + index`` they shared all but one)."""
    if index == 0:
        return base & 0x7FFFFFFF
    z = (base * 0x9E3779B97F4A7C15 + index * 0xD1B54A32D192ED03) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) & 0x7FFFFFFF


def make_params(**fields: object) -> SamplingParams:
    """Build SamplingParams, turning pydantic's ValidationError into a ConfigError."""
    try:
        return SamplingParams.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid sampling parameters: {problems}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class ToolCall:
    """A call of a function the model asked for: its name and its arguments, as the JSON text
    the model wrote."""

    id: str
    name: str
    arguments: str


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """One turn of a chat. An assistant turn may call tools (``tool_calls``); a ``tool`` turn
    is a call's result (``tool_call_id`` says which)."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Tools:
    """Functions the model may call, as OpenAI's ``tools`` and ``tool_choice`` (JSON objects as
    the client sent them; a backend that can pass them on does, ``Capabilities.tools``)."""

    tools: tuple[Mapping[str, Any], ...]
    choice: str | Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One call to a backend: a chat (``messages``) or a raw ``prompt``, with ``n`` samples.

    ``prefix`` continues an assistant reply that has already begun: generation starts right
    after it, and the completion text does not repeat it. Backends that cannot continue say
    so through ``Capabilities.continuation``.

    ``prefix_ids`` are the same prefix as the backend's own token ids (from the
    ``Completion.token_ids`` of the samples it continues): a backend that has them appends
    them to the prompt's tokens instead of tokenizing ``prefix``, so a continuation sees
    exactly the tokens its parent sampled (no re-tokenisation drift at step boundaries).
    ``retain`` hints that the samples will be continued: the embedded engine keeps each
    finished sample's KV as a cached prefix, so continuing it prefills nothing. A sample that
    ended by itself (end of turn) is kept too only with ``retain_ended`` (a reader continues
    whole replies; a search does not continue a finished solution). ``keep`` says how many
    such prefixes the caller will hold at once (a search's live frontier: the nodes it will
    continue and the checks it will run on them): the embedded engine sizes its cache of
    prompts to it before the work begins, so that none is evicted half-way (growing the cache
    later would empty it).

    ``priority`` is a scheduling hint: a backend that queues requests for free batch slots
    admits higher priorities first (the embedded engine does; the OpenAI-compatible backend
    sends it to a vLLM server only when told the server schedules by priority).
    """

    params: SamplingParams
    messages: tuple[Message, ...] | None = None
    prompt: str | None = None
    prefix: str = ""
    priority: int = 0
    prefix_ids: tuple[int, ...] = ()
    retain: bool = False
    retain_ended: bool = False
    keep: int = 0
    #: a cap on the thought's tokens, for a backend that enforces one natively
    #: (``Capabilities.thinking_budget``: vLLM's ``thinking_token_budget``)
    thinking_budget: int | None = None
    #: functions the model may call (``Capabilities.tools``)
    tools: Tools | None = None
    #: OpenAI's ``response_format`` (JSON mode, a JSON schema), for a backend that constrains
    #: decoding to it (``Capabilities.response_format``)
    response_format: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ConfigError("a request needs exactly one of messages or prompt")
        if self.messages is not None and not self.messages:
            raise ConfigError("a chat request needs at least one message")
        if self.keep < 0:
            raise ConfigError(f"keep must be >= 0, not {self.keep}")

    @classmethod
    def chat(
        cls,
        messages: Sequence[Message | dict[str, str]],
        params: SamplingParams,
        prefix: str = "",
        priority: int = 0,
        prefix_ids: tuple[int, ...] = (),
        retain: bool = False,
        retain_ended: bool = False,
        thinking_budget: int | None = None,
        tools: Tools | None = None,
        response_format: Mapping[str, Any] | None = None,
        keep: int = 0,
    ) -> GenerationRequest:
        msgs = tuple(
            m if isinstance(m, Message) else Message(m["role"], m["content"])  # type: ignore[arg-type]
            for m in messages
        )
        return cls(
            params=params,
            messages=msgs,
            prefix=prefix,
            priority=priority,
            prefix_ids=prefix_ids,
            retain=retain,
            retain_ended=retain_ended,
            keep=keep,
            thinking_budget=thinking_budget,
            tools=tools,
            response_format=response_format,
        )

    def needs(self) -> list[str]:
        """The capabilities this request needs beyond plain generation."""
        needed = []
        tool_turns = any(m.tool_calls or m.role == "tool" for m in self.messages or ())
        if self.tools is not None or tool_turns:
            needed.append("tools")
        if self.response_format is not None:
            needed.append("response_format")
        return needed


@dataclasses.dataclass(frozen=True, slots=True)
class TokenLogprob:
    """The chosen token at one position, its log-probability and the top alternatives."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Completion:
    """One sample.

    ``completion_tokens`` counts every token the model sampled for this sample, including an
    end-of-generation token and any tokens cut off by a stop string (as vLLM counts them).

    ``stop_reason`` says what ended a sample whose ``finish_reason`` is "stop": the stop string
    that matched (cut from ``text``), or "" for the model's end of generation; None where the
    backend could not tell (a server that does not report it). ``token_ids`` are the tokens
    sampled (the end-of-generation token left out, a stop string's tokens kept), where the
    backend exposes them: ``GenerationRequest.prefix_ids`` continues from them.
    """

    text: str
    finish_reason: FinishReason
    completion_tokens: int
    index: int = 0
    logprobs: tuple[TokenLogprob, ...] | None = None
    seed: int | None = None
    stop_reason: str | None = None
    token_ids: tuple[int, ...] | None = dataclasses.field(default=None, repr=False)
    #: the model's thought, where the backend returns it apart from ``text`` (a server's
    #: ``reasoning_content``); None where it does not (a thought may then be inside ``text``)
    reasoning: str | None = None
    #: the functions the sample calls (a request with ``tools``)
    tool_calls: tuple[ToolCall, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one or more calls.

    ``prompt_tokens`` counts the prompt once per request, whatever ``n`` is (as the OpenAI API
    does); ``cached_prompt_tokens`` is the part of it served from a prefix cache, not computed.
    ``reasoning_tokens`` is the part of ``completion_tokens`` spent thinking (as a server
    reports it, or as a strategy that controls the thinking counts it).
    """

    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.cached_prompt_tokens + other.cached_prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        record = {
            "prompt_tokens": self.prompt_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.reasoning_tokens:
            record["reasoning_tokens"] = self.reasoning_tokens
        return record


@dataclasses.dataclass(frozen=True, slots=True)
class GenerationResult:
    """What a backend returns for one request: its samples (in index order) and their usage."""

    completions: tuple[Completion, ...]
    usage: Usage


@dataclasses.dataclass(frozen=True, slots=True)
class StreamChunk:
    """A piece of one sample while it streams.

    The last chunk of a sample has ``finish_reason``; the last chunk of the whole stream carries
    the request's exact ``usage``. ``completion_tokens`` is the sample's count so far.
    """

    index: int
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    finish_reason: FinishReason | None = None
    completion_tokens: int = 0
    usage: Usage | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do. Strategies check these before they start."""

    logprobs: bool = False
    max_top_logprobs: int = 0
    continuation: bool = False
    native_n: bool = False
    streaming: bool = False
    prefix_caching: bool = False
    #: enforces a cap on thinking tokens itself (``GenerationRequest.thinking_budget``)
    thinking_budget: bool = False
    #: passes tools on and returns the calls the model makes (``GenerationRequest.tools``)
    tools: bool = False
    #: constrains decoding to ``GenerationRequest.response_format``
    response_format: bool = False

    def missing(self, needed: Sequence[str]) -> list[str]:
        """The names in ``needed`` that this backend lacks."""
        return [name for name in needed if not getattr(self, name)]


@dataclasses.dataclass(frozen=True, slots=True)
class ModelShape:
    """What cost estimates need to know of a model: parameters, layers, model width, and
    for the Kinetics cost (attention's memory traffic) its query heads, KV heads and head
    size, where known."""

    n_params: int
    n_layer: int
    d_model: int
    n_head: int | None = None
    n_kv_head: int | None = None
    head_dim: int | None = None
