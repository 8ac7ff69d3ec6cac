"""Results and tests that carry over between machines. llama.cpp's numerics differ between
CPUs, so the embedded model's greedy text may differ on a user's machine; the live tests must
assert what holds anywhere. This runs every live test again with the model's logits perturbed
(``logit_jitter``: noise that is a function of the logits, as one CPU's rounding is) and
checks that the perturbation really changes greedy replies, so that the live tests' passing
under it shows they assert properties, not this machine's text."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ponder.backends.llamacpp import LlamaCppBackend
from ponder.runtime import Context

JITTER = "0.1"
PROMPTS = [
    "Count from 1 to 9, one number per line.",
    "What is 17 * 3?",
    "Name three colors.",
    "Write a haiku about the sea.",
    "What is the capital of France?",
]
NESTED = os.environ.get("PONDER_TEST_LOGIT_JITTER") is not None


async def _greedy(backend: Any) -> list[str]:
    ctx = Context(backend)
    replies = []
    for prompt in PROMPTS:
        result = await ctx.sample(prompt, n=1, temperature=0.0, max_tokens=40)
        replies.append(result.completions[0].text)
    return replies


@pytest.mark.live
@pytest.mark.skipif(NESTED, reason="already running under a perturbation")
def test_the_perturbation_changes_greedy_text_and_is_stable(embedded: Any) -> None:
    plain = asyncio.run(_greedy(embedded))
    jittered = LlamaCppBackend(n_ctx=1024, n_parallel=2, n_prompt_slots=2, logit_jitter=0.3)
    try:
        first = asyncio.run(_greedy(jittered))
        again = asyncio.run(_greedy(jittered))
    finally:
        jittered.close()
    assert first == again  # the same logits get the same noise, as one CPU's rounding does
    assert sum(a != b for a, b in zip(plain, first, strict=True)) >= 1, (plain, first)


@pytest.mark.live
@pytest.mark.skipif(NESTED, reason="already running under a perturbation")
@pytest.mark.timeout(1300)  # the whole live suite runs inside it (its own limit: 1200 s)
def test_every_live_test_passes_on_perturbed_numerics() -> None:
    tests = Path(__file__).parent
    env = {**os.environ, "PONDER_TEST_LOGIT_JITTER": JITTER}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "live",
            "-x",
            str(tests),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    tail = done.stdout[-3000:]
    assert done.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail
