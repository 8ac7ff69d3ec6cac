"""Embedded sampling throughput: ponder's batched engine against plain llama-cpp-python.

The job: one prompt that makes most samples run to the limit, 8 samples, 128 max tokens,
temperature 0.8. ponder does it as one request (shared prefill, one batch per decode step);
plain llama-cpp-python does 8 sequential ``create_chat_completion`` calls. The two sides use
the same model file, the same thread count and the same sampling distribution (temperature
0.8, no top-k/top-p/min-p, no repeat penalty), and alternate, repeated. Each repeat uses a
fresh prompt so that neither side profits from a cache left by the last repeat.

It also times one greedy solve through the Python API (``ponder.solve``, model loaded once)
against one plain greedy call with the same settings.

Prints each side's wall time and completion tokens per second; the last line is the
8-sample wall-time ratio (ponder / plain, target <= 0.40), the line before it the greedy ratio
(target <= 1.05).

    .venv/bin/python benchmarks/bench_sampling.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from ponder.api import asolve
from ponder.backends.llamacpp import LlamaCppBackend, default_model_path
from ponder.core.types import GenerationRequest, Message, make_params

N, MAX_TOKENS, TEMPERATURE = 8, 128, 0.8
GREEDY_TOKENS = 128
LONG_PROMPT = "Write a long, detailed story about a lighthouse keeper named {name} and a storm."
NAMES = ["Ada", "Bram", "Cleo", "Dov", "Esme", "Finn", "Gus", "Hana", "Ivo", "Juno", "Kai"]
GREEDY_QUESTION = "Explain in detail how a refrigerator works."


def plain_job(llm: object, prompt: str, seed: int) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = 0
    for i in range(N):
        out = llm.create_chat_completion(  # type: ignore[attr-defined]
            messages=[{"role": "user", "content": prompt}],
            max_tokens=MAX_TOKENS,
            temperature=TEMPERATURE,
            top_p=1.0,
            top_k=0,
            min_p=0.0,
            repeat_penalty=1.0,
            seed=seed + i,
        )
        tokens += out["usage"]["completion_tokens"]
    return time.perf_counter() - start, tokens


async def ponder_job(backend: LlamaCppBackend, prompt: str, seed: int) -> tuple[float, int]:
    params = make_params(n=N, max_tokens=MAX_TOKENS, temperature=TEMPERATURE, seed=seed)
    request = GenerationRequest.chat([Message("user", prompt)], params)
    start = time.perf_counter()
    result = await backend.generate(request)
    return time.perf_counter() - start, result.usage.completion_tokens


def plain_greedy(llm: object) -> float:
    start = time.perf_counter()
    llm.create_chat_completion(  # type: ignore[attr-defined]
        messages=[{"role": "user", "content": GREEDY_QUESTION}],
        max_tokens=GREEDY_TOKENS,
        temperature=0.0,
    )
    return time.perf_counter() - start


async def ponder_greedy(backend: LlamaCppBackend) -> float:
    start = time.perf_counter()
    await asolve(GREEDY_QUESTION, strategy="greedy", backend=backend, max_tokens=GREEDY_TOKENS)
    return time.perf_counter() - start


async def main(repeats: int) -> None:
    from llama_cpp import Llama

    threads = os.cpu_count() or 1
    path = str(default_model_path())
    llm = Llama(path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    backend = LlamaCppBackend(n_threads=threads)
    # warm up both (page in the weights, first-call allocations)
    plain_job(llm, "Hello", 0)
    await ponder_job(backend, "Hello", 0)

    sides: dict[str, list[tuple[float, int]]] = {"ponder": [], "plain": []}
    for r in range(repeats):
        order = ["ponder", "plain"] if r % 2 == 0 else ["plain", "ponder"]
        for side in order:
            prompt = LONG_PROMPT.format(name=NAMES[(2 * r + (side == "plain")) % len(NAMES)])
            if side == "ponder":
                sides[side].append(await ponder_job(backend, prompt, seed=100 * r))
            else:
                sides[side].append(plain_job(llm, prompt, seed=100 * r))

    greedy: dict[str, list[float]] = {"ponder": [], "plain": []}
    for r in range(repeats):
        for side in ["ponder", "plain"] if r % 2 == 0 else ["plain", "ponder"]:
            if side == "ponder":
                greedy[side].append(await ponder_greedy(backend))
            else:
                greedy[side].append(plain_greedy(llm))

    print(
        f"8 samples x {MAX_TOKENS} tokens at T={TEMPERATURE}, {repeats} alternating repeats, "
        f"{threads} threads"
    )
    for side, runs in sides.items():
        wall = statistics.median(t for t, _ in runs)
        tokens = sum(k for _, k in runs) / sum(t for t, _ in runs)
        print(
            f"  {side:7s} wall {wall:6.2f} s (median)   {tokens:7.1f} completion tok/s   "
            f"tokens/job {statistics.mean(k for _, k in runs):.0f}"
        )
    print(
        f"greedy solve, {GREEDY_TOKENS} max tokens: ponder "
        f"{statistics.median(greedy['ponder']):.3f} s, plain "
        f"{statistics.median(greedy['plain']):.3f} s (medians)"
    )
    g_ratio = statistics.median(greedy["ponder"]) / statistics.median(greedy["plain"])
    ratio = statistics.median(t for t, _ in sides["ponder"]) / statistics.median(
        t for t, _ in sides["plain"]
    )
    print(f"greedy wall-time ratio ponder/plain: {g_ratio:.3f}")
    print(f"8-sample wall-time ratio ponder/plain: {ratio:.3f}")
    await backend.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    asyncio.run(main(parser.parse_args().repeats))
