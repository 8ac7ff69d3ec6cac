"""Eval throughput: ``ponder eval`` against the same problems solved one after another.

The job: the first 32 problems of the development suite's ``products`` task (max_digits=1),
``self_consistency`` with n=8 (temperature 0.8, at most 256 tokens per sample), on the
embedded model. One side runs ``ponder.eval.aevaluate`` (problems concurrently, scoring,
SQLite store and report included); the other solves the problems one after another through
``Strategy.run`` in one process, as a loop over ``ponder solve`` would with the model loaded
once. Both use the same per-problem seeds and a freshly loaded backend with the same engine
settings; only the runs are timed (not model loading).

Prints both wall times, both accuracies, eval's tokens/s as a share of llama.cpp's ceiling
(target >= 0.95), and as its last line the ratio eval / sequential. The ceiling is plain
llama.cpp's own decode rate on this machine, measured before and after the runs (the higher
counts): as many sequences as the engine decodes at once, of ~250 tokens, each in its own KV
stream, one ``llama_decode`` per step, no sampling, nothing else. It also prints the ratio
eval could reach if it decoded every token at that ceiling: the sequential run's tokens/s
over the ceiling.

``--width W`` sets the engine's ``n_parallel`` (samples decoded at once, default 32) on both
sides; the sequential side decodes at most 8 at a time whatever the width.

    .venv/bin/python benchmarks/bench_eval.py [--problems 32] [--concurrency 8] [--width 64]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from ponder.backends.llamacpp import LlamaCppBackend
from ponder.eval import aevaluate
from ponder.eval.plan import problem_seed
from ponder.runtime import Context
from ponder.strategies.self_consistency import SelfConsistency
from ponder.tasks import make_task

SETTING = "self_consistency:n=8,temperature=0.8"  # pinned: the default is 0.4
SEED = 0


async def sequential(problems: list, task: object, width: int) -> tuple[float, float, int]:
    backend = LlamaCppBackend(n_parallel=width)
    try:
        start = time.perf_counter()
        correct, tokens = 0, 0
        for problem in problems:
            strategy = SelfConsistency(n=8, temperature=0.8, seed=problem_seed(SEED, problem.id))
            result = await strategy.run(problem, Context(backend))
            correct += task.score(problem, result.text, result.answer).correct  # type: ignore[attr-defined]
            tokens += result.usage.completion_tokens
        return time.perf_counter() - start, correct / len(problems), tokens
    finally:
        await backend.aclose()


async def concurrent(
    task: object, limit: int, concurrency: int | None, width: int
) -> tuple[float, float, int]:
    backend = LlamaCppBackend(n_parallel=width)
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            outcome = await aevaluate(
                [task],  # type: ignore[list-item]
                [SETTING],
                out=out,
                backend=backend,
                seed=SEED,
                limit=limit,
                concurrency=concurrency,
            )
            seconds = time.perf_counter() - start
        row = outcome.summary["results"][0]
        return seconds, row["accuracy"], round(row["completion_tokens_mean"] * limit)
    finally:
        await backend.aclose()


def decode_ceiling(width: int = 32, prompt: int = 100, steps: int = 150) -> float:
    """Tokens/s of plain llama.cpp decoding ``width`` sequences in lockstep (the engine's
    settings: a KV stream per sequence, flash attention, all cores)."""
    import os

    import llama_cpp as ll

    from ponder.backends.llamacpp import default_model_path

    ll.llama_backend_init()
    model = ll.llama_model_load_from_file(
        str(default_model_path()).encode(), ll.llama_model_default_params()
    )
    params = ll.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch = 512 * width, 512, 512
    params.n_seq_max, params.kv_unified, params.flash_attn_type = width, False, 1
    params.n_threads = params.n_threads_batch = os.cpu_count() or 1
    ctx = ll.llama_init_from_model(model, params)
    batch = ll.llama_batch_init(512, 0, 1)

    def put(i: int, token: int, pos: int, seq: int) -> None:
        batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
        batch.seq_id[i][0], batch.logits[i] = seq, True

    try:
        for seq in range(width):
            for pos in range(prompt):
                put(pos, 100 + (7 * pos + seq) % 1000, pos, seq)
            batch.n_tokens = prompt
            ll.llama_decode(ctx, batch)
        start = time.perf_counter()
        for step in range(steps):
            for seq in range(width):
                put(seq, 200 + (13 * step + seq) % 1000, prompt + step, seq)
            batch.n_tokens = width
            ll.llama_decode(ctx, batch)
        return width * steps / (time.perf_counter() - start)
    finally:
        ll.llama_batch_free(batch)
        ll.llama_free(ctx)
        ll.llama_model_free(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--width", type=int, default=32, help="the engine's n_parallel")
    args = parser.parse_args()
    task = make_task("products", {"max_digits": 1}, seed=SEED)
    problems = list(task.problems(args.problems))
    ceilings = [decode_ceiling(args.width)]  # before and after: the machine drifts
    eval_s, eval_acc, eval_tok = asyncio.run(
        concurrent(task, args.problems, args.concurrency, args.width)
    )
    seq_s, seq_acc, seq_tok = asyncio.run(sequential(problems, task, args.width))
    print(
        f"problems: {len(problems)} x {SETTING} (max_tokens 256, temperature 0.8), "
        f"engine n_parallel {args.width}"
    )
    print(f"ponder eval : {eval_s:7.1f} s  accuracy {eval_acc:.3f}  completion tokens {eval_tok}")
    print(f"sequential  : {seq_s:7.1f} s  accuracy {seq_acc:.3f}  completion tokens {seq_tok}")
    print(f"eval tokens/s {eval_tok / eval_s:.0f}, sequential tokens/s {seq_tok / seq_s:.0f}")
    ceilings.append(decode_ceiling(args.width))
    ceiling = max(ceilings)
    print(
        f"plain llama.cpp decode ceiling ({args.width} sequences, no sampling): "
        f"{ceilings[0]:.0f} tokens/s before, {ceilings[1]:.0f} after; "
        f"eval at the higher would give a ratio of {seq_tok / seq_s / ceiling:.3f}"
    )
    print(f"eval tokens/s / ceiling: {eval_tok / eval_s / ceiling:.3f} (target >= 0.95)")
    print(f"ratio eval/sequential wall time: {eval_s / seq_s:.3f}")


if __name__ == "__main__":
    main()
