"""The Kinetics cost of a run: compute plus memory traffic, in equivalent FLOPs.

Sadhukhan et al. 2025 ("Kinetics: Rethinking Test-Time Scaling Laws") observe that at test
time attention, not parameters, dominates the cost: each generated token reads the whole
KV cache, and memory traffic is slow next to arithmetic. Their cost in equivalent FLOPs
(eFLOPs) is compute plus memory traffic weighted by the hardware's arithmetic intensity I
(FLOPs it can do per byte it can move):

    eFLOPs = C_comp + I x C_mem

and for N samples of L_out tokens after a prompt of L_in tokens, a model of P parameters
whose KV holds D elements per token (2 x layers x KV heads x head size) and r query heads
per KV head (the GQA ratio), at two bytes a KV element:

    2 N P L_out                              linear layers
    + 2 r N L_in D L_out + r N D L_out^2     attention compute
    + 2 I L_in D L_out + I N D L_out^2       KV access: the prompt's KV read once a step for
                                             all N samples (shared), each sample's own KV by
                                             itself

ponder charges each sample its own length L_i (``sum_i`` in place of ``N x``), the prompt's
KV once a step for as long as the longest sample of a call runs, and the KV element size of
the cache type (2 bytes for f16, as the paper). Like the paper, it leaves out prefill and
the weights' own traffic (amortised over the batch). ``flops_mean`` keeps its meaning
(Kaplan et al.'s FLOPs, ``ponder.eval.flops``); this is a second cost axis.

The hardware's intensity comes from ``HARDWARE`` (or any number given instead of a name).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ponder.core.types import ModelShape
from ponder.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Hardware:
    name: str
    #: peak dense FLOPs per byte of memory bandwidth
    intensity: float
    note: str


#: Arithmetic intensities (peak dense FLOPs / memory bandwidth, from the vendors' sheets).
HARDWARE: dict[str, Hardware] = {
    "b200": Hardware("NVIDIA B200", 562.5, "the Kinetics paper's value (4.5 PFLOPs / 8 TB/s)"),
    "h100": Hardware("NVIDIA H100 SXM", 295.2, "989 TFLOPs BF16 dense / 3.35 TB/s"),
    "h200": Hardware("NVIDIA H200", 206.9, "989 TFLOPs BF16 dense / 4.8 TB/s"),
    "a100": Hardware("NVIDIA A100 80GB", 153.0, "312 TFLOPs BF16 dense / 2.04 TB/s"),
    "l4": Hardware("NVIDIA L4", 404.8, "121 TFLOPs BF16 dense / 0.3 TB/s"),
    "cpu": Hardware("a 2-core x86 CPU", 5.0, "~100 GFLOPs / ~20 GB/s, order of magnitude"),
}
DEFAULT_HARDWARE = "b200"


def intensity_of(hardware: str | float) -> float:
    """The arithmetic intensity of a named hardware, or the number given."""
    if isinstance(hardware, int | float):
        value = float(hardware)
    elif hardware in HARDWARE:
        return HARDWARE[hardware].intensity
    else:
        try:
            value = float(hardware)
        except ValueError:
            known = ", ".join(HARDWARE)
            raise ConfigError(
                f"unknown hardware {hardware!r}: name one of {known}, or give its arithmetic "
                "intensity (peak FLOPs per byte of memory bandwidth) as a number"
            ) from None
    if value <= 0:
        raise ConfigError(f"an arithmetic intensity must be positive, not {value}")
    return value


def kinetics_cost(
    shape: ModelShape,
    *,
    prompt_tokens: float,
    sample_tokens: Sequence[int],
    intensity: float,
    kv_bytes: float = 2.0,
) -> float:
    """eFLOPs of one call: ``sample_tokens`` samples after a prompt of ``prompt_tokens``."""
    if shape.n_head is None or shape.n_kv_head is None or shape.head_dim is None:
        raise ConfigError("the Kinetics cost needs the model's heads, KV heads and head size")
    d = 2 * shape.n_layer * shape.n_kv_head * shape.head_dim  # KV elements per token
    r = shape.n_head / shape.n_kv_head
    p, lin = shape.n_params, prompt_tokens
    compute = sum(2 * p * n + 2 * r * lin * d * n + r * d * n * n for n in sample_tokens)
    longest = max(sample_tokens, default=0)
    memory = kv_bytes / 2 * (2 * lin * d * longest + sum(d * n * n for n in sample_tokens))
    return compute + intensity * memory


def record_cost(
    shape: ModelShape | None,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    calls: int,
    sample_tokens: Sequence[int],
    intensity: float,
) -> float | None:
    """A problem's Kinetics cost from what its record keeps: ``calls`` requests of the mean
    prompt length; the candidates' samples share one call's prompt KV; completion tokens no
    candidate accounts for (verifier calls, discarded steps) are charged as one more sample
    of their length. None where the model's attention shape is unknown."""
    if shape is None or shape.n_kv_head is None or shape.head_dim is None or shape.n_head is None:
        return None
    prompt = prompt_tokens / max(calls, 1)
    cost = kinetics_cost(
        shape, prompt_tokens=prompt, sample_tokens=sample_tokens, intensity=intensity
    )
    rest = completion_tokens - sum(sample_tokens)
    if rest > 0:
        cost += kinetics_cost(
            shape, prompt_tokens=prompt, sample_tokens=[rest], intensity=intensity
        )
    return cost
