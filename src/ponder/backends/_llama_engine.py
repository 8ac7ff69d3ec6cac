"""The embedded engine: continuous batching over llama.cpp's low-level API.

One worker thread owns the llama.cpp context. Every step it gathers one token from every live
sequence, plus a chunk of any prompt still being prefilled, into a single ``llama_decode``
batch, then samples each sequence's next token with its own native sampler chain
(temperature, top-k, top-p, seeded distribution; all in C).

KV layout. By default every sequence has a KV *stream* of its own (llama.cpp's non-unified
cache, ``kv_unified=False``): attention for a token spans only its own sequence's cells, so a
batch of 32 samples costs little more per token than a batch of 8. (In the unified cache every
token of a batch attends over the span of all occupied cells, masked: on 2 CPU cores decode
falls from ~280 to ~130 tokens/s at 32 sequences of ~300 tokens.) llama.cpp fuses into one
compute only *consecutive* sequence ids, given in increasing order, so the engine orders each
batch by sequence id, gives a new sample the lowest free id, and when a sample ends and leaves
a gap it moves the highest live sample down into it (one stream copy, a few milliseconds).
``kv_unified=True`` keeps one shared cache of ``n_ctx`` cells instead: less memory, slower
wide batches.

Prefix sharing. A prompt is prefilled once into a *prompt sequence*; each of its samples gets
its own sequence that starts as a copy of the prompt sequence (``llama_memory_seq_cp``: across
streams llama.cpp copies the stream's buffer at the next decode; in the unified cache it only
tags the same cells with one more sequence id). Either way nothing is recomputed. Prompt
sequences stay in an LRU cache after their request ends, so a later request that shares a prefix
(the same system prompt and question, say) prefills only the part that differs. Requests that
arrive together and share a long prefix (a judge's prompts, one per candidate, say) do the same:
the later ones wait a step while the first prefills the common part, then copy it. With the
unified cache, the prompt cache is trimmed to the most recent prompt when the engine falls idle,
since there idle cached prompts would make every later sequence slower.

The first token of every sample comes from re-decoding the last prompt token in the sample's
own sequence: one token per sample, in the same batch as everybody else's decode step. It keeps
the engine uniform (a sample is always "one pending token at a position") and lets samples of
one prompt be admitted in waves when the KV cache cannot hold them all at once.

Cancellation: ``Job.cancel()`` sets a flag that the worker checks before building every batch;
a cancelled sequence is removed from the KV cache and its slot freed before the next decode, so
it costs at most the decode step already under way.

Numerics: a single sequence on a fresh engine reproduces plain llama-cpp-python token for
token, and seeded requests on engines in the same state give the same samples. Where the KV
layout differs (other sequences in the batch, another prefix-cache state), floating-point sums
group differently, so a near-tie can resolve differently: a greedy sample may differ from its
twin in the same batch, and a seeded sample from an earlier run of the same request. vLLM has
the same batch-composition effect.

This module is private: ``ponder.backends.llamacpp`` is the public face.
"""

from __future__ import annotations

import codecs
import ctypes
import dataclasses
import logging
import os
import queue
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ponder.errors import BackendError, ConfigError, ContextLengthError, ModelLoadError
from ponder.types import (
    Completion,
    FinishReason,
    GenerationResult,
    SamplingParams,
    StreamChunk,
    TokenLogprob,
    Usage,
)

logger = logging.getLogger(__name__)


def _llama() -> Any:
    import llama_cpp

    return llama_cpp


#: a request waits for a prompt being prefilled when it would share this many more tokens
_MIN_SHARED_WAIT = 32


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """Sizes of the engine.

    ``n_ctx`` is the most tokens (prompt + completion) one sequence can hold (llama.cpp rounds
    it up to a multiple of 256). By default each of the ``n_parallel + n_prompt_slots``
    sequences has ``n_ctx`` KV cells of its own (memory grows with all three; SmolLM2-135M
    needs 23 KB per cell, about 1.9 GB for the defaults). With ``kv_unified=True`` all
    sequences share ``n_ctx`` cells: less memory, slower wide batches.
    """

    n_ctx: int = 2048
    n_batch: int = 512
    n_parallel: int = 32  # most samples decoding at once
    n_prompt_slots: int = 8  # cached prompt sequences
    n_threads: int = 0  # 0: all cores
    flash_attn: bool = True  # ~15% faster decode at 32 sequences on CPU
    kv_unified: bool = False

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise ConfigError(f"llamacpp option {field.name} must be true or false")
            elif not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"llamacpp option {field.name} must be an integer, not {value!r}")
            elif value < (0 if field.name == "n_threads" else 1):
                raise ConfigError(f"llamacpp option {field.name} must be positive, not {value}")
        if self.n_parallel + self.n_prompt_slots > 256:
            raise ConfigError("llamacpp: n_parallel + n_prompt_slots must be at most 256")


@dataclasses.dataclass
class EngineStats:
    """Counters of the work the engine really did (for tests and the ledger)."""

    decode_calls: int = 0
    tokens_decoded: int = 0
    prompt_tokens_computed: int = 0
    prompt_tokens_reused: int = 0
    samples_cancelled: int = 0
    samples_moved: int = 0  # moved to a lower sequence id to keep the batch's ids consecutive


class _Prompt:
    """A prompt sequence in the KV cache: tokens[:-1] are decoded into ``seq``."""

    def __init__(self, seq: int, tokens: list[int], reused: int) -> None:
        self.seq = seq
        self.tokens = tokens
        self.decoded = reused  # prompt tokens (of tokens[:-1]) in the cache so far
        self.pins = 0

    @property
    def ready(self) -> bool:
        return self.decoded >= len(self.tokens) - 1


class _Sample:
    __slots__ = (
        "job",
        "index",
        "seq",
        "chain",
        "pending",
        "pos",
        "n_sampled",
        "out_idx",
        "decoder",
        "text",
        "emitted",
        "logprobs",
        "lp_emitted",
        "seed",
        "stop_scan",
    )

    def __init__(self, job: Job, index: int, seq: int, chain: Any, seed: int | None) -> None:
        self.job = job
        self.index = index
        self.seq = seq
        self.chain = chain
        self.seed = seed
        prompt = job.prompt_tokens
        self.pending = prompt[-1]
        self.pos = len(prompt) - 1
        self.n_sampled = 0
        self.out_idx = -1
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = ""
        self.emitted = 0
        self.stop_scan = 0
        self.logprobs: list[TokenLogprob] | None = [] if job.params.logprobs else None
        self.lp_emitted = 0


class Job:
    """One request inside the engine. Thread-safe to cancel from any thread."""

    def __init__(
        self,
        prompt_tokens: list[int],
        params: SamplingParams,
        on_chunk: Callable[[StreamChunk], None] | None,
        on_done: Callable[[GenerationResult | BaseException], None],
        priority: int = 0,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.params = params
        self.priority = priority
        self.on_chunk = on_chunk
        self.on_done = on_done
        self.cancelled = threading.Event()
        base = params.seed if params.seed is not None else random.getrandbits(31)
        self.seeds = [(base + i) & 0x7FFFFFFF for i in range(params.n)]
        self.next_index = 0
        self.live = 0
        self.prompt: _Prompt | None = None
        self.pinned = False  # holds its prompt sequence (until its last sample has started)
        self.cached = 0
        self.results: list[Completion | None] = [None] * params.n
        self.finished = False

    def cancel(self) -> None:
        self.cancelled.set()

    @property
    def waiting_samples(self) -> int:
        return self.params.n - self.next_index


class Engine:
    """Owns a llama.cpp model and context and the worker thread that drives them."""

    def __init__(self, path: str, config: EngineConfig) -> None:
        self.path = path
        self.config = config
        self.stats = EngineStats()
        # jobs; an Event: drop the prompt cache, then set it; None: stop
        self._inbox: queue.SimpleQueue[Job | threading.Event | None] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._closed = False
        self._crash: str | None = None
        self._load()
        self._jobs: list[Job] = []  # admitted order (FIFO)
        self._samples: list[_Sample] = []
        self._prompts: OrderedDict[int, _Prompt] = OrderedDict()  # seq -> prompt, LRU order
        self._free_sample_seqs = list(range(config.n_parallel))
        self._free_prompt_seqs = list(
            range(config.n_parallel, config.n_parallel + config.n_prompt_slots)
        )
        self._thread = threading.Thread(target=self._run, name="ponder-llama", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- loading and vocabulary

    def _load(self) -> None:
        ll = _llama()
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        ll.llama_backend_init()
        mparams = ll.llama_model_default_params()
        model = ll.llama_model_load_from_file(self.path.encode(), mparams)
        if not model:
            raise ModelLoadError(
                f"llama.cpp could not load {self.path!r}: the file is not a valid GGUF model "
                "(corrupt, truncated or another format). Re-download it or pass another path."
            )
        self._model = model
        self._vocab = ll.llama_model_get_vocab(model)
        self.n_vocab = ll.llama_vocab_n_tokens(self._vocab)
        self.n_ctx_train = ll.llama_model_n_ctx_train(model)
        self.n_params = ll.llama_model_n_params(model)
        self.n_layer = ll.llama_model_n_layer(model)
        self.n_embd = ll.llama_model_n_embd(model)
        cfg = self.config
        cparams = ll.llama_context_default_params()
        n_seq = cfg.n_parallel + cfg.n_prompt_slots
        cparams.n_ctx = cfg.n_ctx if cfg.kv_unified else cfg.n_ctx * n_seq
        cparams.n_batch = cfg.n_batch
        cparams.n_ubatch = cfg.n_batch
        cparams.n_seq_max = n_seq
        threads = cfg.n_threads or (os.cpu_count() or 1)
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.kv_unified = cfg.kv_unified
        cparams.no_perf = True
        cparams.flash_attn_type = 1 if cfg.flash_attn else 0
        ctx = ll.llama_init_from_model(model, cparams)
        if not ctx:
            ll.llama_model_free(model)
            raise ModelLoadError(
                f"llama.cpp could not create a context for {self.path!r} with n_ctx={cfg.n_ctx}, "
                f"n_parallel={cfg.n_parallel}, n_prompt_slots={cfg.n_prompt_slots}; try smaller "
                "ones (each sequence has n_ctx KV cells of its own unless kv_unified=True)"
            )
        self._ctx = ctx
        self._mem = ll.llama_get_memory(ctx)
        self.n_ctx = ll.llama_n_ctx(ctx)  # all KV cells
        self.n_ctx_seq = ll.llama_n_ctx_seq(ctx)  # the cells one sequence can use
        self._batch = ll.llama_batch_init(cfg.n_batch, 0, 1)
        self._piece_buf = ctypes.create_string_buffer(256)

    def metadata(self, key: str) -> str | None:
        ll = _llama()
        buf = ctypes.create_string_buffer(1 << 16)
        n = ll.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def chat_template(self) -> str | None:
        ll = _llama()
        raw = ll.llama_model_chat_template(self._model, None)
        return raw.decode("utf-8") if raw else None

    def token_text(self, token: int, special: bool = True) -> str:
        return self._piece(token, special).decode("utf-8", "replace")

    def _piece(self, token: int, special: bool = False) -> bytes:
        ll = _llama()
        buf = self._piece_buf
        n = ll.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            big = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self._vocab, token, big, len(big), 0, special)
            return big.raw[:n]
        return buf.raw[:n]

    @property
    def add_bos(self) -> bool:
        return bool(_llama().llama_vocab_get_add_bos(self._vocab))

    def bos_eos_text(self) -> tuple[str, str]:
        ll = _llama()
        bos, eos = ll.llama_vocab_bos(self._vocab), ll.llama_vocab_eos(self._vocab)
        return (
            self.token_text(bos) if bos >= 0 else "",
            self.token_text(eos) if eos >= 0 else "",
        )

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        ll = _llama()
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (ll.llama_token * cap)()
        n = ll.llama_tokenize(self._vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (ll.llama_token * cap)()
            n = ll.llama_tokenize(
                self._vocab, data, len(data), buf, cap, add_special, parse_special
            )
        return list(buf[:n])

    # ---------------------------------------------------------------- public, any thread

    def max_sample_tokens(self) -> int:
        """Most prompt + completion tokens one sample can hold."""
        return min(int(self.n_ctx_seq), int(self.n_ctx_train))

    def submit(self, job: Job) -> None:
        need = len(job.prompt_tokens) + job.params.max_tokens
        if need > self.max_sample_tokens():
            raise ContextLengthError(
                f"prompt ({len(job.prompt_tokens)} tokens) + max_tokens "
                f"({job.params.max_tokens}) = {need} exceeds the context of "
                f"{self.max_sample_tokens()} tokens; lower max_tokens or shorten the prompt"
            )
        if self._closed:
            if self._crash:
                raise BackendError(
                    f"the embedded engine stopped after an internal error ({self._crash}); "
                    "create a new backend"
                )
            raise BackendError("the embedded engine is closed")
        self._inbox.put(job)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def clear_prompt_cache(self) -> None:
        """Drop every cached prompt that no running request uses (for cold-cache timings)."""
        if self._closed:
            return
        done = threading.Event()
        self._inbox.put(done)
        self._wake.set()
        done.wait(timeout=60)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._inbox.put(None)
        self._wake.set()
        self._thread.join(timeout=30)
        ll = _llama()
        ll.llama_batch_free(self._batch)
        ll.llama_free(self._ctx)
        ll.llama_model_free(self._model)

    # ---------------------------------------------------------------- worker thread

    def _run(self) -> None:
        try:
            while True:
                if not self._drain_inbox():
                    break
                self._reap_cancelled()
                self._admit()
                self._compact()
                n_tokens, prefilling = self._build_batch()
                if n_tokens == 0:
                    if not self._jobs:
                        self._trim_idle_cache()
                    self._wake.wait(timeout=0.5)
                    self._wake.clear()
                    continue
                self._decode(n_tokens, prefilling)
        except BaseException as exc:  # the worker must never die silently
            logger.exception("embedded engine failed")
            self._crash = f"{type(exc).__name__}: {exc}"
            for job in list(self._jobs):
                self._fail(job, BackendError(f"embedded engine failed: {exc}"))
            self._closed = True
        finally:
            for job in list(self._jobs):
                self._fail(job, BackendError("the embedded engine was closed"))
            while True:
                try:
                    left = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if isinstance(left, Job):
                    left.on_done(BackendError("the embedded engine was closed"))
                elif left is not None:
                    left.set()

    def _drain_inbox(self) -> bool:
        while True:
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                return True
            if job is None:
                return False
            if isinstance(job, threading.Event):
                while self._evict_one():
                    pass
                job.set()
                continue
            self._jobs.append(job)

    def _reap_cancelled(self) -> None:
        for job in [j for j in self._jobs if j.cancelled.is_set()]:
            for sample in [s for s in self._samples if s.job is job]:
                self.stats.samples_cancelled += 1
                self._finish_sample(sample, "cancelled")
            self._release_job(job)
            job.on_done(_result(job))  # the samples finished before the cancel

    def _fail(self, job: Job, error: BaseException) -> None:
        for sample in [s for s in self._samples if s.job is job]:
            self._drop_sample(sample)
        self._release_job(job)
        job.on_done(error)

    # -- admission

    def _admit(self) -> None:
        # higher priority first (a problem already under way before a new one), FIFO within
        for job in sorted(self._jobs, key=lambda j: -j.priority):
            if job.waiting_samples == 0:
                continue
            if job.prompt is None:
                attached = self._attach_prompt(job)
                if attached is None:
                    continue  # its prefix is being prefilled for another job: next step
                if not attached:
                    # no prompt slot free: try next step. Jobs that hold a prompt go on (a
                    # queued job of lower priority may hold the slot this one waits for); a
                    # later job cannot take a slot first, as none can be freed in this pass
                    continue
            prompt = job.prompt
            assert prompt is not None
            if not prompt.ready:
                continue
            while job.waiting_samples and self._free_sample_seqs:
                if not self._kv_fits(job.params.max_tokens + 1):
                    return
                self._start_sample(job)
            if not self._free_sample_seqs:
                return

    def _kv_reserved(self) -> int:
        cells = sum(len(p.tokens) for p in self._prompts.values())
        cells += sum(s.job.params.max_tokens + 1 for s in self._samples)
        return cells

    def _kv_fits(self, extra: int) -> bool:
        if not self.config.kv_unified:
            return True  # every sequence has n_ctx_seq cells of its own; submit() checked
        while self._kv_reserved() + extra > self.n_ctx:
            if not self._evict_one():
                return not self._samples  # alone it must fit; submit() checked that
        return True

    def _trim_idle_cache(self) -> None:
        """Idle: keep only the most recently used prompt. In the unified KV cache every
        sequence attends over the span of all occupied cells, so idle cached prompts slow
        everybody down; the latest prompt is the one a sequential caller is likely to reuse,
        and while the engine is busy the whole LRU cache serves concurrent requests. With a KV
        stream per sequence cached prompts cost no attention, and all of them stay."""
        if not self.config.kv_unified:
            return
        while len(self._prompts) > 1 and self._evict_one():
            pass

    def _evict_one(self) -> bool:
        for seq, prompt in self._prompts.items():  # least recently used first
            if prompt.pins == 0:
                _llama().llama_memory_seq_rm(self._mem, seq, -1, -1)
                del self._prompts[seq]
                self._free_prompt_seqs.append(seq)
                return True
        return False

    def _attach_prompt(self, job: Job) -> bool | None:
        """Give the job a prompt sequence: a cached one holding its whole prompt, or a new one
        that starts as a copy of the longest cached prefix. False if no slot or KV room yet;
        None if a longer prefix is being prefilled for another job right now (wait for it)."""
        tokens = job.prompt_tokens
        for prompt in self._prompts.values():
            if prompt.tokens == tokens:
                # the same prompt, cached or still being prefilled for another request: share
                # it (concurrent single-sample requests of one prompt pay for one prefill)
                self._pin(job, prompt, len(tokens) - 1)
                return True
        best, best_len = self._longest_cached_prefix(tokens)
        if self._prefix_in_flight(tokens, best_len):
            return None
        if not self._free_prompt_seqs and not self._evict_one():
            return False
        if not self._kv_fits(len(tokens)):
            return False
        best, best_len = self._longest_cached_prefix(tokens)  # eviction may have taken it
        seq = self._free_prompt_seqs.pop()
        ll = _llama()
        if best is not None:
            self._copy_cells(best.seq, seq, best_len)
            if best.pins == 0 and best_len == len(best.tokens) - 1:
                # the new prompt extends the cached one, which is now redundant
                ll.llama_memory_seq_rm(self._mem, best.seq, -1, -1)
                del self._prompts[best.seq]
                self._free_prompt_seqs.append(best.seq)
        prompt = _Prompt(seq, tokens, best_len)
        self._prompts[seq] = prompt
        self._pin(job, prompt, best_len)
        return True

    def _prefix_in_flight(self, tokens: list[int], cached: int) -> bool:
        """Whether a prompt still being prefilled shares at least ``_MIN_SHARED_WAIT`` more
        tokens with ``tokens`` than the cache holds: concurrent requests that differ only in
        their ends (a judge's prompts, one per candidate) then prefill the common part once.
        Prefill is compute-bound, so waiting a step for it costs no throughput."""
        for prompt in self._prompts.values():
            if prompt.ready or prompt.pins == 0:
                continue
            common = _common_prefix(prompt.tokens[:-1], tokens[:-1])
            if common - cached >= _MIN_SHARED_WAIT and prompt.decoded < common:
                return True
        return False

    def _longest_cached_prefix(self, tokens: list[int]) -> tuple[_Prompt | None, int]:
        best, best_len = None, 0
        for prompt in self._prompts.values():
            n = _common_prefix(prompt.tokens[: prompt.decoded], tokens[:-1])
            if n > best_len:
                best, best_len = prompt, n
        return best, best_len

    def _pin(self, job: Job, prompt: _Prompt, reused: int) -> None:
        prompt.pins += 1
        self._prompts.move_to_end(prompt.seq)
        job.prompt = prompt
        job.pinned = True
        job.cached = reused
        self.stats.prompt_tokens_reused += reused

    def _copy_cells(self, src: int, dst: int, n: int | None = None) -> None:
        """Make the empty sequence ``dst`` a copy of the first ``n`` cells of ``src`` (all of
        them if None)."""
        ll = _llama()
        if self.config.kv_unified:
            ll.llama_memory_seq_cp(self._mem, src, dst, 0, -1 if n is None else n)
            return
        # across streams llama.cpp copies whole streams (at the next decode); then cut the tail
        ll.llama_memory_seq_cp(self._mem, src, dst, -1, -1)
        if n is not None:
            ll.llama_memory_seq_rm(self._mem, dst, n, -1)

    def _take_sample_seq(self) -> int:
        seq = min(self._free_sample_seqs)  # the lowest: keep live ids consecutive
        self._free_sample_seqs.remove(seq)
        return seq

    def _compact(self) -> None:
        """With a KV stream per sequence, llama.cpp computes a batch's sequences together only
        while their ids run consecutively; a gap splits every decode step into more passes over
        the weights. Move the highest live samples down into the gaps (one stream copy each)."""
        if self.config.kv_unified or not self._samples:
            return
        ll = _llama()
        while self._free_sample_seqs:
            top = max(self._samples, key=lambda s: s.seq)
            low = min(self._free_sample_seqs)
            if top.seq < low:
                return
            self._copy_cells(top.seq, low)
            ll.llama_memory_seq_rm(self._mem, top.seq, -1, -1)
            self._free_sample_seqs.remove(low)
            self._free_sample_seqs.append(top.seq)
            top.seq = low
            self.stats.samples_moved += 1

    def _start_sample(self, job: Job) -> None:
        seq = self._take_sample_seq()
        prompt = job.prompt
        assert prompt is not None
        n_shared = len(job.prompt_tokens) - 1
        if n_shared:
            self._copy_cells(prompt.seq, seq, n_shared)
        index = job.next_index
        job.next_index += 1
        job.live += 1
        seed = job.seeds[index]
        sample = _Sample(job, index, seq, _make_chain(job.params, seed), seed)
        self._samples.append(sample)
        if job.waiting_samples == 0:
            self._unpin(job)

    # -- batching

    def _build_batch(self) -> tuple[int, list[tuple[_Prompt, int]]]:
        batch = self._batch
        cap = self.config.n_batch
        n = 0
        # in increasing sequence id: llama.cpp fuses only consecutive ids into one compute
        for sample in sorted(self._samples, key=lambda s: s.seq):
            if n >= cap:
                sample.out_idx = -1
                continue
            _put(batch, n, sample.pending, sample.pos, sample.seq, True)
            sample.out_idx = n
            n += 1
        prefilling: list[tuple[_Prompt, int]] = []
        for prompt in sorted(self._prompts.values(), key=lambda p: p.seq):
            if n >= cap:
                break
            if prompt.ready or prompt.pins == 0:
                continue
            end = min(len(prompt.tokens) - 1, prompt.decoded + cap - n)
            for pos in range(prompt.decoded, end):
                _put(batch, n, prompt.tokens[pos], pos, prompt.seq, False)
                n += 1
            prefilling.append((prompt, end))
        batch.n_tokens = n
        return n, prefilling

    def _decode(self, n_tokens: int, prefilling: list[tuple[_Prompt, int]]) -> None:
        ll = _llama()
        rc = ll.llama_decode(self._ctx, self._batch)
        if rc != 0:
            error = BackendError(
                f"llama_decode failed (code {rc}) on a batch of {n_tokens} tokens; "
                "the KV cache may be too small: raise n_ctx"
            )
            for job in list(self._jobs):
                self._fail(job, error)
            for prompt in list(self._prompts.values()):
                ll.llama_memory_seq_rm(self._mem, prompt.seq, -1, -1)
                self._free_prompt_seqs.append(prompt.seq)
            self._prompts.clear()
            return
        self.stats.decode_calls += 1
        self.stats.tokens_decoded += n_tokens
        for prompt, end in prefilling:
            self.stats.prompt_tokens_computed += end - prompt.decoded
            prompt.decoded = end
        for sample in list(self._samples):
            if sample.out_idx >= 0:
                self._step_sample(sample)

    def _step_sample(self, sample: _Sample) -> None:
        ll = _llama()
        job = sample.job
        params = job.params
        token = ll.llama_sampler_sample(sample.chain, self._ctx, sample.out_idx)
        sample.n_sampled += 1
        sample.pos += 1
        if sample.logprobs is not None:
            sample.logprobs.append(self._logprob(sample.out_idx, token, params.top_logprobs))
        if ll.llama_vocab_is_eog(self._vocab, token):
            self._finish_sample(sample, "stop")
            return
        sample.text += sample.decoder.decode(self._piece(token))
        if params.stop and self._cut_at_stop(sample, params.stop):
            self._finish_sample(sample, "stop")
            return
        if sample.n_sampled >= params.max_tokens:
            self._finish_sample(sample, "length")
            return
        sample.pending = token
        if job.on_chunk is not None:
            hold = max(map(len, params.stop)) - 1 if params.stop else 0
            self._emit(sample, len(sample.text) - hold, None)

    def _cut_at_stop(self, sample: _Sample, stops: tuple[str, ...]) -> bool:
        text = sample.text
        start = sample.stop_scan
        cut = -1
        for stop in stops:
            at = text.find(stop, max(0, start - len(stop) + 1))
            if at >= 0 and (cut < 0 or at < cut):
                cut = at
        sample.stop_scan = len(text)
        if cut >= 0:
            sample.text = text[:cut]
            return True
        return False

    def _logprob(self, out_idx: int, token: int, top: int) -> TokenLogprob:
        ll = _llama()
        ptr = ll.llama_get_logits_ith(self._ctx, out_idx)
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float64)
        peak = logits.max()
        lse = peak + np.log(np.exp(logits - peak).sum())
        alternatives: tuple[tuple[str, float], ...] = ()
        if top:
            best = np.argpartition(-logits, top)[:top]
            best = best[np.argsort(-logits[best])]
            alternatives = tuple(
                (self.token_text(int(t), special=False), float(logits[t] - lse)) for t in best
            )
        return TokenLogprob(
            self.token_text(token, special=False), float(logits[token] - lse), alternatives
        )

    def _emit(
        self,
        sample: _Sample,
        upto: int,
        finish: FinishReason | None,
        usage: Usage | None = None,
    ) -> None:
        job = sample.job
        if job.on_chunk is None:
            return
        upto = max(upto, sample.emitted)
        delta = sample.text[sample.emitted : upto]
        logprobs: tuple[TokenLogprob, ...] = ()
        if sample.logprobs is not None:
            logprobs = tuple(sample.logprobs[sample.lp_emitted :])
            sample.lp_emitted = len(sample.logprobs)
        if not delta and not logprobs and finish is None:
            return
        sample.emitted = upto
        job.on_chunk(StreamChunk(sample.index, delta, logprobs, finish, sample.n_sampled, usage))

    def _finish_sample(self, sample: _Sample, reason: FinishReason) -> None:
        job = sample.job
        if reason != "cancelled":
            sample.text += sample.decoder.decode(b"", final=True)
        job.results[sample.index] = Completion(
            text=sample.text,
            finish_reason=reason,
            completion_tokens=sample.n_sampled,
            index=sample.index,
            logprobs=tuple(sample.logprobs) if sample.logprobs is not None else None,
            seed=sample.seed,
        )
        last = job.live == 1 and job.waiting_samples == 0
        if reason != "cancelled":
            self._emit(sample, len(sample.text), reason, _usage(job) if last else None)
        self._drop_sample(sample)
        job.live -= 1
        if reason != "cancelled" and last:
            self._release_job(job)
            job.on_done(_result(job))

    def _drop_sample(self, sample: _Sample) -> None:
        ll = _llama()
        ll.llama_memory_seq_rm(self._mem, sample.seq, -1, -1)
        ll.llama_sampler_free(sample.chain)
        self._samples.remove(sample)
        self._free_sample_seqs.append(sample.seq)

    def _release_job(self, job: Job) -> None:
        if job.finished:
            return
        job.finished = True
        self._unpin(job)
        if job in self._jobs:
            self._jobs.remove(job)

    def _unpin(self, job: Job) -> None:
        """The job no longer needs its prompt sequence: its samples have their own copies. It
        stays in the cache for later requests, evictable (so that a prompt slot is not held
        while the job's slowest sample finishes)."""
        if job.prompt is not None and job.pinned:
            job.pinned = False
            job.prompt.pins -= 1
            if job.prompt.pins == 0 and not job.prompt.ready:
                # half-prefilled and nobody waits for it: drop it
                _llama().llama_memory_seq_rm(self._mem, job.prompt.seq, -1, -1)
                self._prompts.pop(job.prompt.seq, None)
                self._free_prompt_seqs.append(job.prompt.seq)


def _put(batch: Any, i: int, token: int, pos: int, seq: int, logits: bool) -> None:
    batch.token[i] = token
    batch.pos[i] = pos
    batch.n_seq_id[i] = 1
    batch.seq_id[i][0] = seq
    batch.logits[i] = logits


def _make_chain(params: SamplingParams, seed: int) -> Any:
    """The native sampler chain. Order as in vLLM and the OpenAI API: temperature, then
    top-k and top-p on the tempered distribution, then a seeded draw."""
    ll = _llama()
    chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
    if params.greedy:
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
        return chain
    ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(params.temperature))
    if params.top_k is not None:
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_k(params.top_k))
    if params.top_p < 1.0:
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(params.top_p, 1))
    ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed))
    return chain


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _usage(job: Job) -> Usage:
    done = [c for c in job.results if c is not None]
    return Usage(
        prompt_tokens=len(job.prompt_tokens),
        cached_prompt_tokens=job.cached,
        completion_tokens=sum(c.completion_tokens for c in done),
    )


def _result(job: Job) -> GenerationResult:
    completions = tuple(c for c in job.results if c is not None)
    return GenerationResult(completions, _usage(job))


__all__ = ["Engine", "EngineConfig", "EngineStats", "Job"]
