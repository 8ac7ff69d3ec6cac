"""The OpenAI request bodies ``ponder serve`` accepts, validated before any work.

Fields follow OpenAI's chat and legacy completions APIs. Every field of OpenAI's current
schemas is accepted; those ponder does not act on (``service_tier``, ``prompt_cache_key``,
``verbosity``, ``modalities``, ...: ``IGNORED``) are listed in the answer's
``ponder.ignored``. Parameters that would change what is sampled and that ponder cannot honour
(penalties, ``logit_bias``) are refused when set to anything but their neutral value, rather
than dropped silently. Unknown fields are refused (OpenAI answers "Unrecognized request
argument"), except vLLM's ``top_k`` and the ``ponder`` object (``extra_body={"ponder":
{...}}`` in the OpenAI SDK), which chooses the strategy.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PonderOptions(Strict):
    """How to think harder about this request (the ``ponder`` object of a request body)."""

    strategy: str | None = Field(
        None,
        max_length=2000,
        description="A strategy spec, e.g. 'self_consistency:n=8' or "
        "'best_of_n:n=4,scorer=judge'. A model name suffix (MODEL@SPEC) does the same.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="More options for the strategy (name -> value)."
    )
    progress: bool = Field(
        True,
        description="When streaming, send the strategy's progress (samples started and "
        "finished, with their answers) as reasoning_content deltas before the answer.",
    )
    details: bool = Field(
        True,
        description="Return the `ponder` extension field: the ledger by role, the strategy's "
        "details (votes, scores, tree) and each run's candidates.",
    )


class TextPart(Strict):
    type: Literal["text"]
    text: str


class RefusalPart(Strict):
    """An earlier assistant turn's refusal, as the SDK writes it back."""

    type: Literal["refusal"]
    refusal: str


class FunctionCall(Strict):
    name: str
    arguments: str


class ToolCall(Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(Strict):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart | RefusalPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    #: what a reasoning model thought before an earlier reply (sent back by some clients)
    reasoning_content: str | None = None
    #: an assistant turn as the SDK dumps its own message (``model_dump()``): accepted, not
    #: read (a refusal, the deprecated function call, audio, annotations)
    refusal: str | None = None
    function_call: FunctionCall | None = None
    audio: dict[str, Any] | None = None
    annotations: list[Any] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))


class FunctionDef(Strict):
    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(Strict):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(Strict):
    name: str


class ToolChoice(Strict):
    type: Literal["function"]
    function: NamedFunction


class StreamOptions(Strict):
    include_usage: bool = False
    #: OpenAI's padding of stream events against length side channels: not needed here
    include_obfuscation: bool | None = None


#: fields of OpenAI's schemas that ponder accepts and does not act on (listed in
#: ``ponder.ignored`` when a request sets them)
IGNORED = (
    "user",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "prompt_cache_options",
    "safety_identifier",
    "verbosity",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
    "moderation",
    "functions",
    "function_call",
    "metadata",
    "store",
    "reasoning_effort",
    "parallel_tool_calls",
)


class ResponseFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class Sampling(Strict):
    """What both endpoints share."""

    model: str = Field(..., min_length=1, max_length=2000)
    n: int = Field(1, ge=1, description="Independent strategy runs, one choice each.")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1, description="vLLM's extension.")
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    safety_identifier: str | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    ponder: PonderOptions | None = None

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatRequest(Sampling):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    moderation: Any = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None


class CompletionRequest(Sampling):
    """``POST /v1/completions``: the prompt is the problem's question."""

    prompt: str | list[str] = Field(..., description="One prompt, or several (choices of each).")
    logprobs: int | None = Field(None, ge=0, le=5)
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1)
