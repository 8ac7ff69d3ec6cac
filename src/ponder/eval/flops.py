"""Estimated inference FLOPs of a run.

Forward FLOPs per token follow Kaplan et al. 2020 ("Scaling Laws for Neural Language Models",
Table 1): ``2 N + 2 n_layer n_ctx d_model``, where N is the non-embedding parameter count
(ponder uses the model's parameter count, a slight overestimate) and n_ctx the number of
positions the token attends to. A prompt shared by n samples is prefilled once, and prompt
tokens served from a prefix cache are not computed again, so only ``prompt_tokens -
cached_prompt_tokens`` are charged for prefill; each sample's tokens attend to the prompt and
to its own earlier tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from ponder.core.types import ModelShape


def attention_positions(start: int, count: int) -> int:
    """Sum of the context lengths ``start, start + 1, ..., start + count - 1``."""
    return count * start + count * (count - 1) // 2


def estimate_flops(
    shape: ModelShape,
    *,
    prompt_tokens: int,
    cached_prompt_tokens: int,
    completion_tokens: int,
    calls: int,
    sample_tokens: Sequence[int] = (),
) -> float:
    """FLOPs of ``calls`` requests that together read ``prompt_tokens`` (``cached_prompt_tokens``
    of them from cache) and generated ``completion_tokens``, of which ``sample_tokens`` are
    known per sample (the rest are charged at the mean prompt length)."""
    calls = max(calls, 1)
    prompt = prompt_tokens / calls  # the mean prompt length of one request
    computed = max(prompt_tokens - cached_prompt_tokens, 0)
    per_call = computed / calls
    positions = calls * attention_positions(int(prompt - per_call), int(per_call))
    for c in sample_tokens:
        positions += attention_positions(int(prompt), c)
    unattributed = max(completion_tokens - sum(sample_tokens), 0)
    positions += unattributed * int(prompt)
    tokens = computed + completion_tokens
    return 2.0 * shape.n_params * tokens + 2.0 * shape.n_layer * shape.d_model * positions
