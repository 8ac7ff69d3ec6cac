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
llama.cpp's own decode rate on this machine, measured before, between and after the runs (the
median counts): as many sequences as the engine decodes at once, of ~250 tokens, each in its own KV
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


async def sequential(
    problems: list, task: object, width: int
) -> tuple[float, float, int, list[int]]:
    backend = LlamaCppBackend(n_parallel=width)
    try:
        start = time.perf_counter()
        correct, tokens, lengths = 0, 0, []
        for problem in problems:
            strategy = SelfConsistency(n=8, temperature=0.8, seed=problem_seed(SEED, problem.id))
            result = await strategy.run(problem, Context(backend))
            correct += task.score(problem, result.text, result.answer).correct  # type: ignore[attr-defined]
            tokens += result.usage.completion_tokens
            lengths += [c.completion_tokens for c in result.candidates]
        return time.perf_counter() - start, correct / len(problems), tokens, lengths
    finally:
        await backend.aclose()


async def concurrent(
    task: object, limit: int, concurrency: int | None, width: int
) -> tuple[float, float, int, float]:
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
        decoding = backend.stats.decode_seconds
        return seconds, row["accuracy"], round(row["completion_tokens_mean"] * limit), decoding
    finally:
        await backend.aclose()


def _quiet_callback() -> object:
    import llama_cpp as ll

    return ll.llama_log_callback(lambda level, text, data: None)


_QUIET = _quiet_callback()  # llama.cpp's load log off (kept alive: llama.cpp holds it)


class PlainLlama:
    """Plain llama.cpp at the engine's settings (a KV stream per sequence, flash attention,
    all cores), ``width`` streams each holding the same kind of ``prompt``-token prompt,
    prefilled on entry."""

    def __init__(self, width: int, prompt: int) -> None:
        import os

        import llama_cpp as ll

        from ponder.backends.llamacpp import default_model_path

        self.ll, self.prompt, self.width = ll, prompt, width
        ll.llama_backend_init()
        ll.llama_log_set(_QUIET, None)
        self.model = ll.llama_model_load_from_file(
            str(default_model_path()).encode(), ll.llama_model_default_params()
        )
        params = ll.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = 512 * width, 512, 512
        params.n_seq_max, params.kv_unified, params.flash_attn_type = width, False, 1
        params.n_threads = params.n_threads_batch = os.cpu_count() or 1
        self.ctx = ll.llama_init_from_model(self.model, params)
        self.mem = ll.llama_get_memory(self.ctx)
        self.batch = ll.llama_batch_init(512, 0, 1)

    def __enter__(self) -> PlainLlama:
        for seq in range(self.width):
            self.decode([(100 + (7 * pos + seq) % 1000, pos, seq) for pos in range(self.prompt)])
        return self

    def decode(self, entries: list[tuple[int, int, int]]) -> None:
        batch = self.batch
        for i, (token, pos, seq) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, True
        batch.n_tokens = len(entries)
        self.ll.llama_decode(self.ctx, batch)

    def __exit__(self, *exc: object) -> None:
        self.ll.llama_batch_free(self.batch)
        self.ll.llama_free(self.ctx)
        self.ll.llama_model_free(self.model)


def decode_ceiling(width: int = 32, prompt: int = 100, steps: int = 150) -> float:
    """Tokens/s of plain llama.cpp decoding ``width`` sequences of ``prompt`` + ``steps``
    tokens in lockstep."""
    with PlainLlama(width, prompt) as plain:
        start = time.perf_counter()
        for step in range(steps):
            plain.decode(
                [(200 + (13 * step + seq) % 1000, prompt + step, seq) for seq in range(width)]
            )
        return width * steps / (time.perf_counter() - start)


def schedule_ceiling(lengths: list[int], width: int = 32, prompt: int = 100) -> float:
    """Tokens/s of plain llama.cpp decoding the eval's own samples (their lengths, in the
    order the problems come) with continuous batching at ``width``: a sample that ends frees
    its stream for the next, which starts from the stream's prompt (prefilled before the
    clock starts); once none wait, the highest live stream moves into each gap, as the engine
    does, since llama.cpp fuses only consecutive sequence ids. No sampling, no Python beyond
    filling the batch: what the workload's shape (its tail at falling width) costs on its
    own."""
    with PlainLlama(width, prompt) as plain:
        ll, mem = plain.ll, plain.mem
        waiting = list(reversed(lengths))
        live: dict[int, list[int]] = {}  # stream -> [steps left, position]
        for seq in range(width):
            if waiting:
                live[seq] = [waiting.pop(), prompt]
        start = time.perf_counter()
        step = 0
        while live:
            plain.decode([(200 + (13 * step + s) % 1000, live[s][1], s) for s in sorted(live)])
            step += 1
            for seq in sorted(live):
                live[seq][0] -= 1
                live[seq][1] += 1
                if live[seq][0] > 0:
                    continue
                ll.llama_memory_seq_rm(mem, seq, prompt, -1)  # back to its prompt
                if waiting:
                    live[seq] = [waiting.pop(), prompt]
                else:
                    del live[seq]
            while gaps := set(range(len(live))) - set(live):
                gap, top = min(gaps), max(live)  # top > gap: some id is past len(live)
                ll.llama_memory_seq_rm(mem, gap, -1, -1)
                ll.llama_memory_seq_cp(mem, top, gap, -1, -1)
                live[gap] = live.pop(top)
        return sum(lengths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--width", type=int, default=32, help="the engine's n_parallel")
    args = parser.parse_args()
    task = make_task("products", {"max_digits": 1}, seed=SEED)
    problems = list(task.problems(args.problems))
    # the machine drifts by several percent over minutes: the ceiling is measured before,
    # between and after the two runs, and the median counts
    ceilings = [decode_ceiling(args.width)]
    eval_s, eval_acc, eval_tok, eval_decoding = asyncio.run(
        concurrent(task, args.problems, args.concurrency, args.width)
    )
    ceilings.append(decode_ceiling(args.width))
    seq_s, seq_acc, seq_tok, lengths = asyncio.run(sequential(problems, task, args.width))
    ceilings.append(decode_ceiling(args.width))
    ceiling = sorted(ceilings)[1]
    print(f"problems: {len(problems)} x {SETTING} (max_tokens 256), engine n_parallel {args.width}")
    print(f"ponder eval : {eval_s:7.1f} s  accuracy {eval_acc:.3f}  completion tokens {eval_tok}")
    print(f"sequential  : {seq_s:7.1f} s  accuracy {seq_acc:.3f}  completion tokens {seq_tok}")
    print(f"eval tokens/s {eval_tok / eval_s:.0f}, sequential tokens/s {seq_tok / seq_s:.0f}")
    print(
        f"plain llama.cpp decode ceiling ({args.width} sequences, no sampling): "
        + ", ".join(f"{c:.0f}" for c in ceilings)
        + f" tokens/s (before, between, after); median {ceiling:.0f}; eval at the median "
        f"would give a ratio of {seq_tok / seq_s / ceiling:.3f}"
    )
    print(f"eval tokens/s / ceiling: {eval_tok / eval_s / ceiling:.3f} (target >= 0.95)")
    print(
        f"eval: {eval_decoding:.1f} s inside llama_decode, {eval_s - eval_decoding:.1f} s "
        f"({(eval_s - eval_decoding) / eval_s:.1%}) the engine's own work and waiting"
    )
    same = schedule_ceiling(lengths, args.width)
    print(
        f"plain llama.cpp decoding the eval's own {len(lengths)} samples at width {args.width} "
        f"(continuous batching, no sampling): {same:.0f} tokens/s, {same / ceiling:.3f} of the "
        f"lockstep ceiling; eval tokens/s / this: {eval_tok / eval_s / same:.3f}"
    )
    print(f"ratio eval/sequential wall time: {eval_s / seq_s:.3f}")


if __name__ == "__main__":
    main()
