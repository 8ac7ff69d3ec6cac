"""How much KV cache the embedded engine allocates, and in what layout.

llama.cpp allocates the whole KV cache when the context is created, so the layout is chosen
before any work, from the model's own shape and a memory budget:

- one KV cell (one token of one sequence) costs ``n_layer x n_head_kv x (head_dim_k x
  size(cache_type_k) + head_dim_v x size(cache_type_v))`` bytes (23 KB for SmolLM2-135M at
  f16; 128 KB for Llama-3-8B; 512 KB for a 7B model without grouped-query attention);
- the budget is ``kv_memory`` when given (``4GiB``, ``512MiB``, bytes), otherwise half the
  memory available when the model is loaded, at most 8 GiB and at least 256 MiB;
- by default every sample and cached prompt has ``n_ctx`` cells of its own (32 samples and 8
  prompt slots: the fastest layout for wide batches). When that exceeds the budget, fewer
  streams are used (a fifth of them, at least one, for prompts); when not even three fit,
  one unified cache of ``n_ctx`` cells is shared by all sequences (slower wide batches, the
  scheduler runs them in waves); when not even one sequence of ``n_ctx`` fits, it is an error
  that names the memory needed;
- sizes the user sets (``n_parallel``, ``n_prompt_slots``, ``kv_unified``) win over the
  default budget (a warning says when they exceed it) but not over an explicit
  ``kv_memory``: exceeding that is an error before any allocation;
- ``n_ctx`` above the model's trained context is an error when set explicitly; the default
  (2048) is lowered to the trained context instead.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re

from ponder.errors import ConfigError

logger = logging.getLogger(__name__)

GIB = 1 << 30
MIB = 1 << 20
_DEFAULT_CAP = 8 * GIB
_DEFAULT_FLOOR = 256 * MIB
#: llama.cpp's most sequences in one context (``n_seq_max``)
MAX_SEQUENCES = 256

#: bytes per element of each KV cache type llama.cpp accepts (block size / elements)
CACHE_TYPES: dict[str, tuple[int, float]] = {  # name -> (ggml type id, bytes per element)
    "f32": (0, 4.0),
    "f16": (1, 2.0),
    "q4_0": (2, 18 / 32),
    "q4_1": (3, 20 / 32),
    "q5_0": (6, 22 / 32),
    "q5_1": (7, 24 / 32),
    "q8_0": (8, 34 / 32),
    "iq4_nl": (20, 18 / 32),
    "bf16": (30, 2.0),
}


@dataclasses.dataclass(frozen=True)
class KVShape:
    """What one KV cell of a model holds."""

    n_layer: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int

    def bytes_per_cell(self, cache_type_k: str = "f16", cache_type_v: str = "f16") -> float:
        k = self.head_dim_k * CACHE_TYPES[cache_type_k][1]
        v = self.head_dim_v * CACHE_TYPES[cache_type_v][1]
        return self.n_layer * self.n_head_kv * (k + v)


@dataclasses.dataclass(frozen=True)
class KVPlan:
    """The chosen layout."""

    n_ctx: int  # cells one sequence can use (a multiple of 256)
    n_parallel: int
    n_prompt_slots: int
    kv_unified: bool
    kv_bytes: int  # what the cache will take
    budget: int
    why: str
    #: the most prompt slots beside ``n_parallel`` samples the budget allows, for a request
    #: that says it will keep more prefixes (``GenerationRequest.keep``); ``n_prompt_slots``
    #: where the layout is fixed (set by the user, or one shared cache)
    max_prompt_slots: int = 0

    def __post_init__(self) -> None:
        if self.max_prompt_slots < self.n_prompt_slots:
            object.__setattr__(self, "max_prompt_slots", self.n_prompt_slots)

    def describe(self) -> dict[str, object]:
        return {
            "n_ctx": self.n_ctx,
            "n_parallel": self.n_parallel,
            "n_prompt_slots": self.n_prompt_slots,
            "kv_unified": self.kv_unified,
            "kv_bytes": self.kv_bytes,
            "kv_budget": self.budget,
            "layout": self.why,
            "max_prompt_slots": self.max_prompt_slots,
        }


def parse_memory(value: object) -> int:
    """Bytes from ``4GiB``, ``512MiB``, ``2G``, ``1.5GB`` or an integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", str(value), re.IGNORECASE)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(
            f"llamacpp option kv_memory must be a size such as 4GiB or 512MiB, not {value!r}"
        )
    power = " kmgt".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * 1024**power)


def check_cache_types(cache_type_k: str, cache_type_v: str) -> None:
    for name, kind in (("cache_type_k", cache_type_k), ("cache_type_v", cache_type_v)):
        if kind not in CACHE_TYPES:
            raise ConfigError(
                f"llamacpp option {name} must be one of {', '.join(CACHE_TYPES)}, not {kind!r}"
            )


def available_memory() -> int:
    """Memory available to this process now (MemAvailable; the physical total if unknown)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 * GIB


def default_budget(available: int) -> int:
    return max(_DEFAULT_FLOOR, min(_DEFAULT_CAP, available // 2))


def _size(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def plan_kv(
    shape: KVShape,
    *,
    n_ctx: int,
    n_ctx_train: int,
    n_parallel: int = 32,
    n_prompt_slots: int = 8,
    kv_unified: bool = False,
    cache_type_k: str = "f16",
    cache_type_v: str = "f16",
    kv_memory: object = None,
    explicit: frozenset[str] = frozenset(),
    available: int | None = None,
) -> KVPlan:
    """The KV layout for a model of ``shape`` (see the module's docstring for the rules);
    ``explicit`` names the options the user set."""
    check_cache_types(cache_type_k, cache_type_v)
    if n_ctx > n_ctx_train > 0:
        if "n_ctx" in explicit:
            raise ConfigError(
                f"n_ctx={n_ctx} exceeds the model's trained context of {n_ctx_train} tokens, "
                "beyond which its output degrades; pass n_ctx of at most that"
            )
        n_ctx = n_ctx_train
    cells = 256 * math.ceil(n_ctx / 256)  # llama.cpp's rounding
    per_cell = shape.bytes_per_cell(cache_type_k, cache_type_v)
    per_stream = cells * per_cell
    budget_given = kv_memory is not None and kv_memory != ""
    budget = (
        parse_memory(kv_memory)
        if budget_given
        else default_budget(available if available is not None else available_memory())
    )
    where = f"KV cell {per_cell / 1024:.1f} KiB x {cells} cells a sequence"

    def plan(parallel: int, slots: int, unified: bool, why: str, grows: bool = False) -> KVPlan:
        total = per_stream if unified else per_stream * (parallel + slots)
        most = min(MAX_SEQUENCES - parallel, int(budget // per_stream) - parallel)
        return KVPlan(
            cells, parallel, slots, unified, int(total), budget, why, most if grows else slots
        )

    if explicit & {"n_parallel", "n_prompt_slots", "kv_unified"}:
        chosen = plan(n_parallel, n_prompt_slots, kv_unified, "as set")
        if chosen.kv_bytes > budget:
            message = (
                f"the KV cache for n_parallel={n_parallel}, n_prompt_slots={n_prompt_slots}, "
                f"kv_unified={kv_unified}, n_ctx={cells} needs {_size(chosen.kv_bytes)} "
                f"({where})"
            )
            if budget_given:
                raise ConfigError(
                    f"{message}, over kv_memory={_size(budget)}: raise kv_memory, lower "
                    "n_parallel, n_prompt_slots or n_ctx, pass kv_unified=true, or a quantised "
                    "cache (cache_type_k=q8_0, cache_type_v=q8_0)"
                )
            logger.warning("%s, over the default budget of %s", message, _size(budget))
        return chosen
    streams = n_parallel + n_prompt_slots
    if per_stream * streams <= budget:
        return plan(n_parallel, n_prompt_slots, False, f"a stream per sequence; {where}", True)
    fits = int(budget // per_stream)
    if fits >= 3:
        slots = max(1, min(n_prompt_slots, fits // 5))
        why = f"fewer streams to fit {_size(budget)}; {where}"
        return plan(fits - slots, slots, False, why, True)
    if per_stream <= budget:
        return plan(
            n_parallel, n_prompt_slots, True, f"one shared cache to fit {_size(budget)}; {where}"
        )
    raise ConfigError(
        f"one sequence of n_ctx={cells} needs {_size(per_stream)} of KV cache ({where}), more "
        f"than the budget of {_size(budget)}: raise kv_memory (e.g. -B kv_memory=8GiB), lower "
        "n_ctx, or use a quantised cache (-B cache_type_k=q8_0 -B cache_type_v=q8_0)"
    )
