"""The embedded engine's sizes (``EngineConfig``), its counters (``EngineStats``), and the
shapes its parts share: a decode batch's entries and the KV operations the scheduler needs."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from ponder.backends.llamacpp.sizing import check_cache_types
from ponder.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """Sizes of the engine.

    ``n_ctx`` is the most tokens (prompt + completion) one sequence can hold (llama.cpp rounds
    it up to a multiple of 256). By default each of the ``n_parallel + n_prompt_slots``
    sequences has ``n_ctx`` KV cells of its own (memory grows with all three; SmolLM2-135M
    needs 23 KB per cell, about 1.9 GB for the defaults). With ``kv_unified=True`` all
    sequences share ``n_ctx`` cells: less memory, slower wide batches. The sizes the user
    does not set are fitted to ``kv_memory`` (``ponder.backends.llamacpp.sizing``);
    ``cache_type_k``/``cache_type_v`` (f16, q8_0, q4_0, ...) quantise the cache.
    """

    n_ctx: int = 2048
    n_batch: int = 512
    n_parallel: int = 32  # most samples decoding at once
    n_prompt_slots: int = 8  # cached prompt sequences
    n_threads: int = 0  # 0: the cores other processes leave free (threads.ThreadGovernor)
    flash_attn: bool = True  # ~15% faster decode at 32 sequences on CPU
    kv_unified: bool = False
    kv_memory: str = ""  # a budget such as 4GiB; "" for the default
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    #: the standard deviation of seeded Gaussian noise added to the logits before ponder's
    #: own draw (greedy and plain temperature sampling): another machine's numerics,
    #: simulated, to check that a result (or a test) does not hang on one CPU's rounding
    logit_jitter: float = 0.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ConfigError(f"llamacpp option {field.name} must be a number >= 0")
                object.__setattr__(self, field.name, float(value))
            elif field.type == "str":
                if not isinstance(value, (str, int)) or isinstance(value, bool):
                    raise ConfigError(f"llamacpp option {field.name} must be a string")
                object.__setattr__(self, field.name, str(value))
            elif field.type == "bool":
                if not isinstance(value, bool):
                    raise ConfigError(f"llamacpp option {field.name} must be true or false")
            elif not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"llamacpp option {field.name} must be an integer, not {value!r}")
            elif value < (0 if field.name == "n_threads" else 1):
                raise ConfigError(f"llamacpp option {field.name} must be positive, not {value}")
        if self.n_parallel + self.n_prompt_slots > 256:
            raise ConfigError("llamacpp: n_parallel + n_prompt_slots must be at most 256")
        check_cache_types(self.cache_type_k, self.cache_type_v)
        if self.cache_type_v not in ("f16", "f32", "bf16") and not self.flash_attn:
            raise ConfigError(
                "a quantised V cache (cache_type_v) needs flash_attn=true in llama.cpp"
            )


#: one token of a decode batch: (token, position, sequence id, whether to compute logits)
BatchEntry = tuple[int, int, int, bool]


class KVStore(Protocol):
    """The KV-cache operations the scheduler needs (``LlamaModel`` is one)."""

    def clear(self, seq: int) -> None: ...

    def copy(self, src: int, dst: int, n: int | None = None) -> None: ...


@dataclasses.dataclass
class EngineStats:
    """Counters of the work the engine really did (for tests and the ledger)."""

    decode_calls: int = 0
    tokens_decoded: int = 0
    tokens_sampled: int = 0  # every token sampled (end-of-generation tokens included)
    prompt_tokens_computed: int = 0
    prompt_tokens_reused: int = 0
    samples_cancelled: int = 0
    samples_retained: int = 0  # finished samples kept in the cache as prefixes to continue
    samples_moved: int = 0  # moved to a lower sequence id to keep the batch's ids consecutive
    decode_seconds: float = 0.0  # wall time inside llama_decode (the rest is the engine's own)
