"""First finish against waiting for all: ``first_finish`` n=8 and ``self_consistency`` n=8.

The job: the first problems of each development-suite task (``products``, ``basic_arithmetic``,
``chain_sum`` with the suite's arguments), solved one after another on the embedded model
(temperature 0.8, at most 256 tokens per sample), each problem by both strategies with the
same per-problem seed, so both draw the same 8 samples. The order of the two alternates from
problem to problem, the backend is loaded (and warmed) once, and its prompt cache is cleared
before every solve, so neither side profits from being second. Only the solves are timed.

``first_finish`` returns when its first sample ends and cancels the other seven in the engine;
``self_consistency`` waits for all eight. Prints per-task wall times, accuracies and completion
tokens, and as its last line the ratio of total wall time, first_finish / self_consistency
(target <= 0.6).

    .venv/bin/python benchmarks/bench_first_finish.py [--problems 8]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from ponder.backends.llamacpp import LlamaCppBackend
from ponder.eval.scope import problem_seed
from ponder.runtime import Context
from ponder.strategies.first_finish import FirstFinish
from ponder.strategies.self_consistency import SelfConsistency
from ponder.tasks import make_task
from ponder.tasks.suite import DEV_SUITE

SEED = 0
N = 8


async def main(per_task: int) -> None:
    backend = LlamaCppBackend()
    try:
        warm = make_task("products", {"max_digits": 1}, seed=SEED + 1)
        for problem in warm.problems(1):
            await SelfConsistency(n=N, max_tokens=64).run(problem, Context(backend))
        totals = {"first_finish": 0.0, "self_consistency": 0.0}
        for name, args in DEV_SUITE:
            task = make_task(name, args, seed=SEED)
            rows = {key: [0.0, 0, 0] for key in totals}  # seconds, correct, tokens
            problems = list(task.problems(per_task))
            for i, problem in enumerate(problems):
                seed = problem_seed(SEED, problem.id)
                sides = [
                    ("first_finish", FirstFinish(n=N, seed=seed)),
                    ("self_consistency", SelfConsistency(n=N, seed=seed)),
                ]
                if i % 2:
                    sides.reverse()
                for key, strategy in sides:
                    backend.clear_prefix_cache()
                    start = time.perf_counter()
                    result = await strategy.run(problem, Context(backend))
                    seconds = time.perf_counter() - start
                    row = rows[key]
                    row[0] += seconds
                    row[1] += task.score(problem, result.text, result.answer).correct
                    row[2] += result.usage.completion_tokens
            for key, (seconds, correct, tokens) in rows.items():
                totals[key] += seconds
                print(
                    f"{name:17s} {key:17s} {seconds:7.1f} s  accuracy "
                    f"{correct / len(problems):.3f}  completion tokens {tokens}"
                )
    finally:
        await backend.aclose()
    ff, sc = totals["first_finish"], totals["self_consistency"]
    print(f"total wall time: first_finish {ff:.1f} s, self_consistency {sc:.1f} s")
    print(f"ratio first_finish/self_consistency wall time: {ff / sc:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=8, help="problems per task")
    args = parser.parse_args()
    asyncio.run(main(args.problems))
