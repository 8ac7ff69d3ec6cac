"""llama.cpp through its C API (llama-cpp-python's ctypes bindings): the model, its
vocabulary, one context with its KV cache, decoding and native sampling.

Everything here calls into C; nothing here decides what to run. ``LlamaModel`` is the
``KVStore`` the scheduler works on, and the decoder the engine drives.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ponder.backends.llamacpp.config import BatchEntry, EngineConfig
from ponder.backends.llamacpp.draw import Draw, Drawer
from ponder.backends.llamacpp.loading import llama, load_model
from ponder.backends.llamacpp.sizing import (
    CACHE_TYPES,
    KVPlan,
    KVShape,
    plan_kv,
)
from ponder.backends.llamacpp.threads import usable_cores
from ponder.core.types import SamplingParams, TokenLogprob
from ponder.errors import BackendError, ConfigError, ModelLoadError

#: the largest sequence state copied through a buffer (``LlamaModel.copy``); larger ones take
#: llama.cpp's whole-stream copy, which needs no memory of its own
COPY_BUFFER_MAX = 256 << 20
COPY_BUFFER_KEPT = 32 << 20  # a buffer up to this size is kept for the next copy


class LlamaModel:
    """A loaded GGUF model with one llama.cpp context. Not thread-safe: one thread drives it
    (the engine's worker), except for the read-only vocabulary calls."""

    def __init__(
        self, path: str, config: EngineConfig, explicit: frozenset[str] = frozenset()
    ) -> None:
        """``explicit``: the options the user set (the others are fitted to the budget)."""
        self.path = path
        #: llama.cpp's thread count: every usable core unless set (``set_threads`` revises it)
        self.threads = config.n_threads or usable_cores()
        self.logit_jitter = config.logit_jitter
        ll = llama()
        model = load_model(path)
        if not model:
            raise ModelLoadError(
                f"llama.cpp could not load {path!r}: the file is not a valid GGUF model "
                "(corrupt, truncated or another format). Re-download it or pass another path."
            )
        self._model = model
        self._vocab = ll.llama_model_get_vocab(model)
        self.n_vocab = ll.llama_vocab_n_tokens(self._vocab)
        self.n_ctx_train = ll.llama_model_n_ctx_train(model)
        self.n_params = ll.llama_model_n_params(model)
        self.n_layer = ll.llama_model_n_layer(model)
        self.n_embd = ll.llama_model_n_embd(model)
        self.n_head = max(1, ll.llama_model_n_head(model))
        try:
            self.kv_plan: KVPlan = plan_kv(
                self.kv_shape(),
                n_ctx=config.n_ctx,
                n_ctx_train=self.n_ctx_train,
                n_parallel=config.n_parallel,
                n_prompt_slots=config.n_prompt_slots,
                kv_unified=config.kv_unified,
                cache_type_k=config.cache_type_k,
                cache_type_v=config.cache_type_v,
                kv_memory=config.kv_memory or None,
                explicit=explicit,
            )
        except ConfigError:
            ll.llama_model_free(model)
            raise
        plan = self.kv_plan
        #: the planned layout: the most the engine grows to
        self.full = dataclasses.replace(
            config,
            n_ctx=plan.n_ctx,
            n_parallel=plan.n_parallel,
            n_prompt_slots=plan.n_prompt_slots,
            kv_unified=plan.kv_unified,
        )
        #: the most prompt slots a request that keeps many prefixes may grow the cache to
        self.prompt_slot_cap = plan.max_prompt_slots
        logging.getLogger(__name__).debug("KV cache: %s", plan.describe())
        # start-up proportional to the work: per-sequence streams start at one sample and one
        # prompt and grow to the plan as requests need them (``resize``); sizes the user set,
        # and the shared cache (whose size does not depend on the streams), start in full
        grows = not plan.kv_unified and not explicit & {"n_parallel", "n_prompt_slots"}
        self.config = (
            dataclasses.replace(self.full, n_parallel=1, n_prompt_slots=1) if grows else self.full
        )
        self.n_ctx_seq = plan.n_ctx  # the cells one sequence can use
        self._ctx: Any = None
        try:
            self._new_context()
        except ModelLoadError:
            ll.llama_model_free(model)
            raise
        self._batch = ll.llama_batch_init(config.n_batch, 0, 1)
        self._piece_buf = ctypes.create_string_buffer(256)
        self._copy_buffer = np.empty(0, dtype=np.uint8)  # _copy_cells's, grown as needed
        self._numbers: frozenset[int] | None = None
        self._drawer = Drawer(self.threads)

    @property
    def at_full_size(self) -> bool:
        """Grown to the plan (prompt slots beyond it come only from a request's ``keep``)."""
        config, full = self.config, self.full
        return config.n_parallel >= full.n_parallel and config.n_prompt_slots >= full.n_prompt_slots

    def resize(self, n_parallel: int, n_prompt_slots: int) -> None:
        """A new context with room for ``n_parallel`` samples and ``n_prompt_slots`` prompts
        (at most the plan's samples, and ``prompt_slot_cap`` prompts). Every sequence's cells
        are lost: call it only when idle."""
        self.config = dataclasses.replace(
            self.full,
            n_parallel=min(n_parallel, self.full.n_parallel),
            n_prompt_slots=min(n_prompt_slots, self.prompt_slot_cap),
        )
        if self._ctx is not None:
            llama().llama_free(self._ctx)
            self._ctx = None  # a failed _new_context leaves none (never freed twice)
        self._new_context()

    def _new_context(self) -> None:
        ll, config = llama(), self.config
        ctx = ll.llama_init_from_model(self._model, self._context_params())
        if not ctx:
            raise ModelLoadError(
                f"llama.cpp could not create a context for {self.path!r} with "
                f"n_ctx={config.n_ctx}, n_parallel={config.n_parallel}, "
                f"n_prompt_slots={config.n_prompt_slots}, cache types "
                f"{config.cache_type_k}/{config.cache_type_v}; try smaller ones (each sequence "
                "has n_ctx KV cells of its own unless kv_unified=True), or cache types this "
                "build supports"
            )
        self._ctx = ctx
        self._mem = ll.llama_get_memory(ctx)
        self.n_ctx = ll.llama_n_ctx(ctx)  # all KV cells

    def _context_params(self) -> Any:
        ll, cfg = llama(), self.config
        cparams = ll.llama_context_default_params()
        n_seq = cfg.n_parallel + cfg.n_prompt_slots
        cparams.n_ctx = cfg.n_ctx if cfg.kv_unified else cfg.n_ctx * n_seq
        cparams.n_batch = cfg.n_batch
        cparams.n_ubatch = cfg.n_batch
        cparams.n_seq_max = n_seq
        cparams.n_threads = self.threads
        cparams.n_threads_batch = self.threads
        cparams.kv_unified = cfg.kv_unified
        cparams.type_k = CACHE_TYPES[cfg.cache_type_k][0]
        cparams.type_v = CACHE_TYPES[cfg.cache_type_v][0]
        cparams.no_perf = True
        cparams.flash_attn_type = 1 if cfg.flash_attn else 0
        return cparams

    def set_threads(self, threads: int) -> None:
        """llama.cpp's thread count for the next decodes (and for contexts made later)."""
        self.threads = threads
        if self._ctx is not None:
            llama().llama_set_n_threads(self._ctx, threads, threads)

    def kv_shape(self) -> KVShape:
        """What one KV cell of this model holds (from its GGUF metadata)."""
        ll = llama()
        n_head = max(1, ll.llama_model_n_head(self._model))
        n_head_kv = ll.llama_model_n_head_kv(self._model) or n_head
        arch = self.metadata("general.architecture") or ""

        def dim(key: str) -> int:
            value = self.metadata(f"{arch}.attention.{key}")
            return int(value) if value and value.isdigit() else self.n_embd // n_head

        return KVShape(self.n_layer, n_head_kv, dim("key_length"), dim("value_length"))

    def close(self) -> None:
        ll = llama()
        self._drawer.close()
        ll.llama_batch_free(self._batch)
        if self._ctx is not None:
            ll.llama_free(self._ctx)
        ll.llama_model_free(self._model)

    # -- vocabulary and metadata

    def metadata(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = llama().llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def chat_template(self) -> str | None:
        raw = llama().llama_model_chat_template(self._model, None)
        return raw.decode("utf-8") if raw else None

    def token_text(self, token: int, special: bool = True) -> str:
        return self.piece(token, special).decode("utf-8", "replace")

    def piece(self, token: int, special: bool = False) -> bytes:
        """The bytes of one token (a token may hold part of a UTF-8 character)."""
        ll = llama()
        buf = self._piece_buf
        n = ll.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            big = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self._vocab, token, big, len(big), 0, special)
            return big.raw[:n]
        return buf.raw[:n]

    @property
    def add_bos(self) -> bool:
        return bool(llama().llama_vocab_get_add_bos(self._vocab))

    def bos_eos_text(self) -> tuple[str, str]:
        ll = llama()
        bos, eos = ll.llama_vocab_bos(self._vocab), ll.llama_vocab_eos(self._vocab)
        return (
            self.token_text(bos) if bos >= 0 else "",
            self.token_text(eos) if eos >= 0 else "",
        )

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        ll = llama()
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

    def is_number(self, token: int) -> bool:
        """Whether the token's text is digits (spaces aside); the set is made on first use."""
        if self._numbers is None:
            self._numbers = frozenset(
                t for t in range(self.n_vocab) if self.piece(t).strip().isdigit()
            )
        return token in self._numbers

    def is_end(self, token: int) -> bool:
        return bool(llama().llama_vocab_is_eog(self._vocab, token))

    # -- the KV cache (the scheduler's KVStore)

    def clear(self, seq: int) -> None:
        """Empty sequence ``seq``."""
        llama().llama_memory_seq_rm(self._mem, seq, -1, -1)

    def copy(self, src: int, dst: int, n: int | None = None) -> None:
        """Make the empty sequence ``dst`` a copy of the first ``n`` cells of ``src`` (all of
        them if None)."""
        ll = llama()
        if self.config.kv_unified:
            ll.llama_memory_seq_cp(self._mem, src, dst, 0, -1 if n is None else n)
            return
        # across streams llama.cpp's seq_cp copies the whole stream, every cell of it, at the
        # next decode (3.7 ms a copy for SmolLM2's 2048-cell streams, ~0.5 ms through the
        # state calls for a 150-token prompt): a sequence using less than half its stream
        # goes through the state calls, which copy its own cells only
        if not self._copy_cells(src, dst):
            ll.llama_memory_seq_cp(self._mem, src, dst, -1, -1)
        if n is not None:
            ll.llama_memory_seq_rm(self._mem, dst, n, -1)

    def _copy_cells(self, src: int, dst: int) -> bool:
        """Copy sequence ``src``'s cells into the empty ``dst`` (another stream) through
        llama.cpp's sequence state (its own cells, out and back in); False, with ``dst`` left
        empty, where the whole-stream copy is the cheaper or the only way."""
        ll = llama()
        first = ll.llama_memory_seq_pos_min(self._mem, src)
        used = ll.llama_memory_seq_pos_max(self._mem, src) - first + 1
        if first < 0 or 2 * used > self.n_ctx_seq:
            return False
        size = ll.llama_state_seq_get_size_ext(self._ctx, src, 0)
        if not 0 < size <= COPY_BUFFER_MAX:
            return False
        buffer = self._copy_buffer
        if buffer.size < size:
            buffer = np.empty(size, dtype=np.uint8)
            if size <= COPY_BUFFER_KEPT:
                self._copy_buffer = buffer
        data = buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
        got = ll.llama_state_seq_get_data_ext(self._ctx, data, size, src, 0)
        if got and ll.llama_state_seq_set_data_ext(self._ctx, data, got, dst, 0) == got:
            return True
        ll.llama_memory_seq_rm(self._mem, dst, -1, -1)
        return False

    # -- decoding and sampling

    def decode(self, entries: Sequence[BatchEntry]) -> int:
        """One ``llama_decode`` of ``entries`` (at most ``n_batch``); llama.cpp's return code."""
        batch = self._batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(entries)
        return int(llama().llama_decode(self._ctx, batch))

    def sample_many(self, wanted: Sequence[tuple[Draw, int]]) -> list[int]:
        """The next token of each ``(draw, batch entry)`` of the last decode, all at once in
        numpy (``draw.Drawer``, its rows shared among as many threads as llama.cpp's)."""
        if not wanted:
            return []
        logits = self._output_rows([out_idx for _, out_idx in wanted])
        if self.logit_jitter > 0:  # another machine's numerics, simulated
            logits = jittered(logits, self.logit_jitter)
        draws = [draw for draw, _ in wanted]
        temperatures = np.array([d.temperature for d in draws], dtype=np.float32)
        uniforms = np.array([d.rng.random() if d.rng is not None else 0.0 for d in draws])
        top_k = np.array([d.top_k or 0 for d in draws], dtype=np.int64)
        top_p = np.array([d.top_p for d in draws])
        self._drawer.workers = self.threads
        rngs = [d.rng for d in draws]
        return self._drawer.draw(logits, temperatures, uniforms, top_k, top_p, rngs)

    def logprob(self, out_idx: int, token: int, top: int) -> TokenLogprob:
        """The chosen token's log-probability at batch entry ``out_idx``, and the ``top`` most
        likely alternatives."""
        ptr = llama().llama_get_logits_ith(self._ctx, out_idx)
        row = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
        if self.logit_jitter > 0:  # the numerics the draw saw (another CPU's, simulated)
            row = jittered(row[None, :], self.logit_jitter)[0]
        logits = row.astype(np.float64)
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

    def _output_rows(self, entries: list[int]) -> npt.NDArray[np.float32]:
        """The logits of the last decode's batch ``entries``, one row each. The engine asks
        for logits of the samples' entries only, which come first in its batches, so entry i
        is output row i; checked on the first and last asked (a ctypes call per entry would
        hand the GIL over per sample), else looked up one by one."""
        ll = llama()
        row_bytes = 4 * self.n_vocab
        base = ctypes.cast(ll.llama_get_logits(self._ctx), ctypes.c_void_p).value

        def row_of(entry: int) -> int:
            at = ctypes.cast(ll.llama_get_logits_ith(self._ctx, entry), ctypes.c_void_p).value
            if not at or not base:
                raise BackendError(f"llama.cpp has no logits for batch entry {entry}")
            return int((at - base) // row_bytes)

        lo, hi = min(entries), max(entries)
        if row_of(lo) == lo and row_of(hi) == hi and hi - lo + 1 == len(set(entries)):
            rows = entries  # contiguous entries, each its own row
        else:
            rows = [row_of(entry) for entry in entries]
        n_rows = max(rows) + 1
        table = np.frombuffer(
            (ctypes.c_float * (n_rows * self.n_vocab)).from_address(base or 0), dtype=np.float32
        ).reshape(n_rows, self.n_vocab)
        if rows == list(range(n_rows)):
            return table  # a view; read before the next decode
        return table[rows]


def jittered(logits: npt.NDArray[np.float32], scale: float) -> npt.NDArray[np.float32]:
    """``logits`` with Gaussian noise of standard deviation ``scale`` that is a function of
    each row's own values: the same logits always get the same noise, as one CPU's rounding
    is the same every run, and different logits different noise, as another CPU's is."""
    import hashlib

    out = np.array(logits, dtype=np.float32, copy=True)
    for row in out:
        digest = hashlib.blake2b(row[:512].tobytes(), digest_size=8).digest()
        rng = np.random.default_rng(int.from_bytes(digest, "little"))
        row += rng.normal(0.0, scale, row.shape).astype(np.float32)
    return out


def make_chain(params: SamplingParams, seed: int) -> Draw:
    """How a sample draws (``draw.Draw``): argmax, or temperature sampling with top-k and
    top-p on the tempered distribution, then a seeded draw (the order of vLLM, the OpenAI
    API and llama.cpp's chains), for a whole step at once in numpy."""
    if params.greedy:
        return Draw.make(0.0, seed)
    return Draw.make(params.temperature, seed, params.top_k, params.top_p)


def free_chain(chain: Draw) -> None:
    """Nothing to free: a ``Draw`` holds no llama.cpp sampler."""
