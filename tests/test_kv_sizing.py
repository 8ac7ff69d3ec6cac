"""The embedded engine's KV layout, sized from model shapes (no model file: the shapes are
written here as GGUF metadata gives them) and a memory budget."""

from __future__ import annotations

import pytest

from ponder.backends.llamacpp.config import EngineConfig
from ponder.backends.llamacpp.sizing import GIB, MIB, KVShape, parse_memory, plan_kv
from ponder.errors import ConfigError
from test_scheduler import PROMPT, Driver

SMOLLM2 = KVShape(n_layer=30, n_head_kv=3, head_dim_k=64, head_dim_v=64)  # 23 KB a cell
LLAMA3_8B = KVShape(n_layer=32, n_head_kv=8, head_dim_k=128, head_dim_v=128)  # 128 KiB
MHA_7B = KVShape(n_layer=32, n_head_kv=32, head_dim_k=128, head_dim_v=128)  # 512 KiB


def test_bytes_per_cell_follow_the_model_and_the_cache_type() -> None:
    assert SMOLLM2.bytes_per_cell() == 23040
    assert LLAMA3_8B.bytes_per_cell() == 128 * 1024
    assert MHA_7B.bytes_per_cell() == 512 * 1024
    assert MHA_7B.bytes_per_cell("q8_0", "q8_0") == 512 * 1024 * 34 / 64


def test_the_default_model_keeps_its_fast_layout_when_it_fits() -> None:
    plan = plan_kv(SMOLLM2, n_ctx=2048, n_ctx_train=8192, available=20 * GIB)
    assert (plan.n_parallel, plan.n_prompt_slots, plan.kv_unified) == (32, 8, False)
    assert plan.kv_bytes == 40 * 2048 * 23040 and plan.budget == 8 * GIB


def test_prompt_slots_can_grow_to_what_the_budget_holds_unless_the_layout_is_fixed() -> None:
    plan = plan_kv(SMOLLM2, n_ctx=2048, n_ctx_train=8192, available=20 * GIB)
    per_stream = 2048 * 23040
    assert plan.max_prompt_slots == 8 * GIB // per_stream - 32  # 150 beside 32 samples
    big = plan_kv(SMOLLM2, n_ctx=2048, n_ctx_train=8192, kv_memory="64GiB")
    assert big.max_prompt_slots == 256 - 32  # llama.cpp's most sequences
    fewer = plan_kv(LLAMA3_8B, n_ctx=8192, n_ctx_train=131072, kv_memory="10GiB")
    assert fewer.max_prompt_slots == fewer.n_prompt_slots  # the budget is already full
    fixed = plan_kv(
        SMOLLM2,
        n_ctx=2048,
        n_ctx_train=8192,
        n_prompt_slots=3,
        explicit=frozenset({"n_prompt_slots"}),
    )
    assert fixed.max_prompt_slots == 3
    shared = plan_kv(MHA_7B, n_ctx=8192, n_ctx_train=32768, kv_memory="8GiB")
    assert shared.kv_unified and shared.max_prompt_slots == shared.n_prompt_slots


def test_a_7b_model_without_gqa_fits_8_gib_and_runs_8_samples_of_2048_tokens() -> None:
    plan = plan_kv(MHA_7B, n_ctx=2048, n_ctx_train=32768, kv_memory="8GiB")
    assert plan.kv_bytes <= 8 * GIB and not plan.kv_unified
    assert plan.n_ctx >= 2048 and plan.n_parallel >= 1 and plan.n_prompt_slots >= 1
    # the planned layout runs n=8 samples that fill their 2048 cells: as many at once as fit
    config = EngineConfig(n_parallel=plan.n_parallel, n_prompt_slots=plan.n_prompt_slots)
    d = Driver(config)
    job = d.submit("eight", PROMPT, n=8, max_tokens=2048 - len(PROMPT))
    d.run(steps=20_000)
    assert d.finished == ["eight"] and all(r is not None for r in job.results)
    assert max(len(b) for b in d.batches) == plan.n_parallel < 8  # the rest waited


def test_fewer_streams_then_a_shared_cache_then_a_clear_error() -> None:
    fewer = plan_kv(LLAMA3_8B, n_ctx=8192, n_ctx_train=131072, kv_memory="10GiB")
    assert not fewer.kv_unified and fewer.n_parallel + fewer.n_prompt_slots == 10
    assert fewer.n_prompt_slots == 2 and fewer.kv_bytes <= 10 * GIB
    shared = plan_kv(LLAMA3_8B, n_ctx=8192, n_ctx_train=131072, kv_memory="2GiB")
    assert shared.kv_unified and shared.kv_bytes == 8192 * 128 * 1024
    with pytest.raises(ConfigError, match=r"needs 1.00 GiB .* kv_memory"):
        plan_kv(LLAMA3_8B, n_ctx=8192, n_ctx_train=131072, kv_memory="512MiB")
    # a quantised cache halves it and fits
    assert plan_kv(
        LLAMA3_8B,
        n_ctx=8192,
        n_ctx_train=131072,
        kv_memory="600MiB",
        cache_type_k="q8_0",
        cache_type_v="q8_0",
    ).kv_unified


def test_explicit_sizes_win_over_the_default_budget_not_over_an_explicit_one() -> None:
    explicit = frozenset({"n_parallel"})
    plan = plan_kv(
        LLAMA3_8B,
        n_ctx=8192,
        n_ctx_train=131072,
        n_parallel=16,
        explicit=explicit,
        available=4 * GIB,
    )
    assert (plan.n_parallel, plan.n_prompt_slots) == (16, 8) and plan.kv_bytes > plan.budget
    with pytest.raises(ConfigError, match=r"needs 24.00 GiB.*over kv_memory=8.00 GiB"):
        plan_kv(
            LLAMA3_8B,
            n_ctx=8192,
            n_ctx_train=131072,
            n_parallel=16,
            kv_memory="8GiB",
            explicit=explicit,
        )


def test_n_ctx_beyond_the_trained_context() -> None:
    with pytest.raises(ConfigError, match="trained context of 1024"):
        plan_kv(SMOLLM2, n_ctx=4096, n_ctx_train=1024, explicit=frozenset({"n_ctx"}))
    assert plan_kv(SMOLLM2, n_ctx=2048, n_ctx_train=1024, available=GIB).n_ctx == 1024


def test_the_default_budget_is_half_the_available_memory_within_bounds() -> None:
    assert plan_kv(SMOLLM2, n_ctx=2048, n_ctx_train=8192, available=2 * GIB).budget == GIB
    assert plan_kv(SMOLLM2, n_ctx=2048, n_ctx_train=8192, available=64 * GIB).budget == 8 * GIB
    assert plan_kv(SMOLLM2, n_ctx=2048, n_ctx_train=8192, available=0).budget == 256 * MIB


@pytest.mark.parametrize(
    "text, size", [("4GiB", 4 * GIB), ("512MiB", 512 * MIB), ("2g", 2 * GIB), (1000, 1000)]
)
def test_memory_sizes(text: object, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("bad", ["lots", "0GiB", "-1G", True])
def test_a_bad_memory_size_says_what_to_write(bad: object) -> None:
    with pytest.raises(ConfigError, match="such as 4GiB"):
        parse_memory(bad)


def test_bad_cache_types_are_refused_before_work() -> None:
    with pytest.raises(ConfigError, match="cache_type_k must be one of"):
        EngineConfig(cache_type_k="q3")
    with pytest.raises(ConfigError, match="needs flash_attn"):
        EngineConfig(cache_type_v="q8_0", flash_attn=False)
