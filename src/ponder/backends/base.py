"""The backend contract.

A backend is async, may have many requests in flight at once, batches them where it can, and
shares the prompt's key/value cache across the ``n`` samples of a request. Cancelling the task
that awaits ``generate`` (or closing the iterator of ``stream``) aborts the sequences and frees
their slots. Usage is exact: prompt, cached prompt and completion tokens.
"""

from __future__ import annotations

import abc
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar

from ponder.core.registry import Registry, default_registry
from ponder.core.types import (
    Capabilities,
    GenerationRequest,
    GenerationResult,
    ModelShape,
    StreamChunk,
)
from ponder.errors import CapabilityError, UnknownNameError

#: told of each sample as it finishes: (index, text, completion tokens, finish reason)
SampleObserver = Callable[[int, str, int, str], None]


class Backend(abc.ABC):
    """Base class of every backend."""

    #: The registry name, used in specs such as ``llamacpp:/path/model.gguf``.
    name: ClassVar[str]

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    @property
    @abc.abstractmethod
    def model_name(self) -> str:
        """A stable name of the model (for result keys and reports)."""

    async def identity(self) -> str:
        """What identifies the model in stored results: two different models never share
        one. The default is the backend's name and ``model_name``; backends that can tell
        models apart better (by content, by server) say so."""
        return f"{self.name}:{self.model_name}"

    @property
    def thinks(self) -> bool:
        """Whether the model thinks by itself between ``<think>`` delimiters (a reasoning
        model); strategies that control thinking scaffold the others."""
        return False

    @property
    def context_length(self) -> int | None:
        """Tokens of context available to one sequence, where known."""
        return None

    @property
    def model_shape(self) -> ModelShape | None:
        """Parameter count, layers and width, where the backend knows them (FLOP estimates)."""
        return None

    def spec(self) -> str | None:
        """How to name this model on the command line (``--model SPEC``), where it can be
        said: a GGUF's path, a server's ``URL#MODEL``."""
        return None

    def environment(self) -> dict[str, Any]:
        """What besides the model decides its outputs, stored with every eval run and shown
        in reports: the engine's build, the CPU's features, the thread count (llama.cpp's
        numerics differ between CPUs and thread counts), or the server answering."""
        import platform

        return {"backend": self.name, "python": platform.python_version()}

    def info(self) -> dict[str, Any]:
        """What the backend chose for itself (the embedded engine: its KV layout), shown by
        ``ponder solve --json``."""
        return {}

    def count_prompt_tokens(self, request: GenerationRequest) -> int | None:
        """The request's exact prompt tokens, where the backend can count them locally (used
        to charge a stream that was cancelled before the backend reported its usage)."""
        return None

    @abc.abstractmethod
    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """All ``n`` samples of the request, in index order, with exact usage."""

    async def generate_observed(
        self, request: GenerationRequest, on_sample: SampleObserver
    ) -> GenerationResult:
        """``generate``, calling ``on_sample(index, text, completion_tokens, finish_reason)``
        as each sample finishes (a server that streams progress reports each sample when it
        ends, not all of them when the last does). By default, after they all return; a
        backend that can tell sooner (the embedded engine) does."""
        result = await self.generate(request)
        for c in result.completions:
            on_sample(c.index, c.text, c.completion_tokens, c.finish_reason)
        return result

    @abc.abstractmethod
    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamChunk]:
        """Chunks of all ``n`` samples as they come, interleaved; each carries its index."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, connections, model memory)."""

    async def __aenter__(self) -> Backend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def require(self, needed: list[str], *, what: str) -> None:
        """Raise CapabilityError unless this backend has every capability in ``needed``."""
        missing = self.capabilities.missing(needed)
        if missing:
            raise CapabilityError(
                f"{what} needs {', '.join(missing)}, which backend {self.name!r} "
                f"({self.model_name}) does not offer"
            )

    @classmethod
    def claims(cls, spec: str) -> bool:
        """Whether a bare model spec (no ``name:`` prefix) is meant for this backend."""
        return False

    @classmethod
    @abc.abstractmethod
    def from_spec(cls, spec: str | None, **options: Any) -> Backend:
        """Build the backend from a model spec (a path, a URL, ...) and backend options."""


DEFAULT_BACKEND = "llamacpp"


def resolve_backend(
    spec: str | None = None, *, registry: Registry | None = None, **options: Any
) -> Backend:
    """Turn a model spec into a backend.

    - ``None``: the default backend (embedded llama.cpp with the bundled SmolLM2 model);
    - ``NAME:REST`` where NAME is a registered backend: that backend, given REST;
    - anything else: the first registered backend that claims it (a URL goes to ``openai``,
      a path to ``llamacpp``).
    """
    registry = registry or default_registry()
    if spec is None:
        return registry.get("backend", DEFAULT_BACKEND).from_spec(None, **options)  # type: ignore[no-any-return]
    head, sep, rest = spec.partition(":")
    if sep and head in registry.names("backend"):
        return registry.get("backend", head).from_spec(rest, **options)  # type: ignore[no-any-return]
    looks_named = sep and re.fullmatch(r"[a-z][a-z0-9_+.-]*", head) and not rest.startswith("//")
    if looks_named and not Path(spec).expanduser().exists():
        raise UnknownNameError("backend", head, registry.names("backend"))
    for name in registry.names("backend"):
        cls = registry.get("backend", name)
        if cls.claims(spec):
            return cls.from_spec(spec, **options)  # type: ignore[no-any-return]
    return registry.get("backend", DEFAULT_BACKEND).from_spec(spec, **options)  # type: ignore[no-any-return]
