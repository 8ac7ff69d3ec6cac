"""The Kinetics cost against the paper's formula, worked by hand, and in eval reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ponder.core.types import GenerationRequest, ModelShape
from ponder.errors import ConfigError
from ponder.eval import evaluate, report
from ponder.eval.kinetics import HARDWARE, intensity_of, kinetics_cost, record_cost
from ponder.tasks import make_task
from ponder.testing import FunctionBackend

#: a Qwen3-0.6B-like shape: 28 layers, 16 query heads over 8 KV heads of 128
QWEN = ModelShape(600_000_000, 28, 1024, n_head=16, n_kv_head=8, head_dim=128)


def test_the_papers_formula_worked_by_hand() -> None:
    """N = 4 samples of L_out = 10,000 tokens after L_in = 1,000, on B200 (I = 562.5).
    D = 2 x 28 x 8 x 128 = 57,344 KV elements a token; r = 16 / 8 = 2.

        2 N P L_out          = 2 x 4 x 6e8 x 1e4           = 4.8e13
        2 r N L_in D L_out   = 2 x 2 x 4 x 1e3 x 57,344 x 1e4 = 9.17504e12
        r N D L_out^2        = 2 x 4 x 57,344 x 1e8       = 4.58752e13
        2 I L_in D L_out     = 2 x 562.5 x 1e3 x 57,344 x 1e4 = 6.4512e14
        I N D L_out^2        = 562.5 x 4 x 57,344 x 1e8   = 1.29024e16
        total                                             = 1.365057024e16
    """
    cost = kinetics_cost(QWEN, prompt_tokens=1_000, sample_tokens=[10_000] * 4, intensity=562.5)
    assert cost == pytest.approx(1.365057024e16, rel=1e-12)
    assert intensity_of("b200") == 562.5


def test_memory_dominates_long_generations_and_the_prompt_is_shared() -> None:
    """The KV terms grow with L_out^2: at 10,000 tokens they are ~95% of the cost; and the
    prompt's KV is read once a step for all samples, so more samples add less than linearly
    to that term."""
    total = kinetics_cost(QWEN, prompt_tokens=1_000, sample_tokens=[10_000] * 4, intensity=562.5)
    compute = kinetics_cost(QWEN, prompt_tokens=1_000, sample_tokens=[10_000] * 4, intensity=0)
    assert (total - compute) / total > 0.9
    one = kinetics_cost(QWEN, prompt_tokens=50_000, sample_tokens=[100], intensity=562.5)
    eight = kinetics_cost(QWEN, prompt_tokens=50_000, sample_tokens=[100] * 8, intensity=562.5)
    assert eight < 8 * one


def test_hardware_by_name_or_number_and_bad_input() -> None:
    assert intensity_of("h100") == HARDWARE["h100"].intensity
    assert intensity_of("300") == intensity_of(300) == 300.0
    with pytest.raises(ConfigError, match="name one of b200"):
        intensity_of("tpu9")
    with pytest.raises(ConfigError, match="positive"):
        intensity_of(-1)
    no_heads = ModelShape(1, 1, 1)
    args = {"prompt_tokens": 1, "completion_tokens": 1, "calls": 1, "sample_tokens": [1]}
    assert record_cost(no_heads, intensity=1.0, **args) is None


def sums(request: GenerationRequest, index: int) -> str:
    assert request.messages is not None
    a, b = map(int, re.findall(r"\d+", request.messages[-1].content)[:2])
    return f"The answer is {a + b}."


def test_reports_carry_the_cost_and_its_hardware(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"question": f"What is {i} + {i + 1}?", "answer": 2 * i + 1}) + "\n"
            for i in range(3)
        )
    )
    task = make_task(str(questions))
    evaluate(
        [task],
        ["greedy", "self_consistency:n=1|4"],
        backend=FunctionBackend(sums),
        out=tmp_path,
        model_shape=QWEN,
    )
    b200 = report(tmp_path).summary
    rows = {r["strategy"]: r for r in b200["results"]}
    assert b200["hardware"] == {"name": "b200", "intensity": 562.5}
    assert 0 < rows["greedy"]["eflops_mean"] < rows["self_consistency:n=4"]["eflops_mean"]
    assert rows["self_consistency:n=1"]["estimated"]  # from the pool of 4, still costed
    assert rows["self_consistency:n=1"]["eflops_mean"] < rows["self_consistency:n=4"]["eflops_mean"]
    cpu = report(tmp_path, hardware="cpu").summary
    assert cpu["results"][0]["eflops_mean"] < b200["results"][0]["eflops_mean"]
    assert "eFLOPs/problem" in report(tmp_path).table
