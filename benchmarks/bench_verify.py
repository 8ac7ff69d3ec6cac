"""Batched verification: the 8 judge calls of best_of_n as one batch against one by one.

The job: 8 candidate solutions to a question (sampled once, up front, from the embedded
model), scored by the ``judge`` scorer in its default mode on the embedded backend (logprob:
one token per candidate, P(yes) from the top logprobs). The batched side is what
``best_of_n`` does: ``Judge.score(problem, all 8, ctx)``, the 8 requests issued together. The
sequential side awaits ``Judge.score(problem, [candidate], ctx)`` for each candidate in turn,
on the same backend and model. The sides alternate, every repeat uses a fresh question (new
candidates), and the engine's prompt cache is cleared before each side, so neither side profits
from prompts the other cached.

Each repeat checks that both sides gave the same scores (same prompts, greedy judge).
The last line is the wall-time ratio, batched / sequential (target <= 0.5).

    .venv/bin/python benchmarks/bench_verify.py [--repeats 5] [--mode logprob|text]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from ponder.backends.llamacpp import LlamaCppBackend
from ponder.core.problem import Candidate, Problem
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, sample_candidates
from ponder.scoring.scorers.judge import Judge

N = 8
QUESTIONS = [
    "A shop sells pens at 3 dollars each. How much do {k} pens cost?",
    "Tom has {k} apples and gives away 2. How many are left?",
    "What is {k} times 7?",
    "A train travels {k} km per hour for 3 hours. How far does it go?",
    "What is the sum of {k} and 48?",
    "A box holds {k} eggs. How many eggs are in 4 boxes?",
]


async def candidates_for(backend: LlamaCppBackend, problem: Problem, seed: int) -> list[Candidate]:
    config = SamplingConfig(max_tokens=160, temperature=0.8, seed=seed)
    return await sample_candidates(problem, Context(backend), config, N)


async def batched(judge: Judge, backend: LlamaCppBackend, problem: Problem, cands: list[Candidate]):
    ctx = Context(backend)
    start = time.perf_counter()
    scores = await judge.score(problem, cands, ctx)
    return time.perf_counter() - start, [s.value for s in scores], ctx


async def one_by_one(
    judge: Judge, backend: LlamaCppBackend, problem: Problem, cands: list[Candidate]
):
    ctx = Context(backend)
    start = time.perf_counter()
    values = []
    for c in cands:
        values.append((await judge.score(problem, [c], ctx))[0].value)
    return time.perf_counter() - start, values, ctx


async def main(repeats: int, mode: str) -> None:
    backend = LlamaCppBackend()
    judge = Judge(mode=mode)
    await batched(
        judge,
        backend,
        Problem("What is 2 + 2?"),
        await candidates_for(backend, Problem("What is 2 + 2?"), 0),
    )  # warm-up
    times: dict[str, list[float]] = {"batched": [], "sequential": []}
    for r in range(repeats):
        problem = Problem(QUESTIONS[r % len(QUESTIONS)].format(k=12 + 7 * r))
        cands = await candidates_for(backend, problem, seed=100 + r)
        sides = [("batched", batched), ("sequential", one_by_one)]
        if r % 2:
            sides.reverse()
        values = {}
        for name, fn in sides:
            backend.clear_prefix_cache()
            seconds, vals, ctx = await fn(judge, backend, problem, cands)
            times[name].append(seconds)
            values[name] = vals
            usage = ctx.ledger.total()
            print(
                f"repeat {r} {name:10s} {seconds:6.3f} s  prompt {usage.prompt_tokens:5d} "
                f"(cached {usage.cached_prompt_tokens:4d})  completion {usage.completion_tokens}"
            )
        same = all(
            (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 0.02)
            for a, b in zip(values["batched"], values["sequential"], strict=True)
        )
        if not same:
            print(f"  note: scores differ between sides: {values}")
    await backend.aclose()
    b, s = statistics.median(times["batched"]), statistics.median(times["sequential"])
    print(f"median batched {b:.3f} s, sequential {s:.3f} s over {repeats} repeats ({mode} judge)")
    print(f"ratio batched/sequential: {b / s:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mode", choices=["logprob", "text"], default="logprob")
    args = parser.parse_args()
    asyncio.run(main(args.repeats, args.mode))
