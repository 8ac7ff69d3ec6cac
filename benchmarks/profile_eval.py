"""Where an eval's wall time goes, call by call: bench_eval.py's eval with timing wrappers.

    .venv/bin/python benchmarks/profile_eval.py [--problems 32] [--width 32] [--model PATH.gguf]
        [-B KEY=VALUE]

Runs ``bench_eval.py``'s eval side once (32 ``products`` problems, self-consistency n=8 at
T=0.8, 256 tokens at most) with every ``llama_decode`` timed along with its batch (sample
tokens, prompt tokens) and the KV copies made before it, and the engine's other calls
timed too. Prints the lockstep ceiling before and after, the decode calls by kind, the full-width
steps' speed against that ceiling, the tail (steps below full width), and the time spent
outside ``llama_decode`` by call. Run alone: timings, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_eval  # noqa: E402
from backend_options import add_model_arguments  # noqa: E402
from ponder.backends.llamacpp import engine, model, scheduler  # noqa: E402

CALLS: list[tuple[int, int, int, float]] = []  # (sample tokens, prompt tokens, copies, seconds)
OUTSIDE: defaultdict[str, float] = defaultdict(float)  # seconds by call, outside decode
COUNTS: Counter[str] = Counter()
_copies = [0]


def _timed(owner: Any, name: str) -> None:
    call: Callable[..., Any] = getattr(owner, name)
    label = f"{owner.__name__}.{name}"

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            OUTSIDE[label] += time.perf_counter() - start
            COUNTS[label] += 1

    setattr(owner, name, timed)


def _instrument() -> None:
    decode, copy = model.LlamaModel.decode, model.LlamaModel.copy

    def timed_decode(self: model.LlamaModel, entries: Any) -> int:
        start = time.perf_counter()
        rc = decode(self, entries)
        samples = sum(1 for entry in entries if entry[3])
        CALLS.append((samples, len(entries) - samples, _copies[0], time.perf_counter() - start))
        _copies[0] = 0
        return rc

    def counted_copy(self: model.LlamaModel, src: int, dst: int, n: int | None = None) -> None:
        _copies[0] += 1
        copy(self, src, dst, n)

    model.LlamaModel.decode = timed_decode  # type: ignore[method-assign]
    model.LlamaModel.copy = counted_copy  # type: ignore[method-assign]
    for owner, name in [
        (model.LlamaModel, "sample_many"),
        (model.LlamaModel, "copy"),
        (engine.Engine, "_step_sample"),
        (engine.Engine, "_finish_sample"),
        (scheduler.Scheduler, "admit"),
        (scheduler.Scheduler, "compact"),
        (scheduler.Scheduler, "build_batch"),
    ]:
        _timed(owner, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    add_model_arguments(parser)
    args = parser.parse_args()
    task = bench_eval.configure(args)
    before = bench_eval.decode_ceiling(args.width)
    _instrument()
    run = asyncio.run(bench_eval.concurrent(task, args.problems, None, args.width))
    after = bench_eval.decode_ceiling(args.width)
    ceiling = (before + after) / 2
    print(
        f"eval {run.seconds:.1f} s, {run.tokens} completion tokens ({run.tokens / run.seconds:.0f}"
        f" tokens/s), {run.prompts} prompt tokens computed; lockstep ceiling {before:.0f} before,"
        f" {after:.0f} after"
    )
    kinds: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0])
    for samples, prompt, copies, seconds in CALLS:
        kind = ("prompt+decode" if prompt else "decode") + (" after copies" if copies else "")
        kinds[kind][0] += 1
        kinds[kind][1] += seconds
        kinds[kind][2] += samples
        kinds[kind][3] += prompt
    inside = sum(call[3] for call in CALLS)
    print(f"inside llama_decode: {inside:.1f} s in {len(CALLS)} calls")
    for kind, (calls, spent, tokens, prompts) in sorted(kinds.items()):
        print(
            f"  {kind:28s} {calls:5.0f} calls {spent:6.2f} s  sample tokens {tokens:6.0f}"
            f"  prompt tokens {prompts:5.0f}"
        )
    full = [s for n, p, _, s in CALLS if n == args.width and not p]
    if full:
        step = statistics.median(full)
        print(
            f"full-width steps without prompt tokens: {len(full)}, median {step * 1e3:.1f} ms "
            f"({args.width / step:.0f} tokens/s, {args.width / step / ceiling:.3f} of the ceiling)"
        )
    tail = [(n, s) for n, p, _, s in CALLS if 0 < n < args.width and not p]
    tail_tokens, tail_seconds = sum(n for n, _ in tail), sum(s for _, s in tail)
    print(
        f"steps below full width: {len(tail)}, {tail_seconds:.1f} s for {tail_tokens} tokens "
        f"(at the ceiling {tail_tokens / ceiling:.1f} s)"
    )
    print(f"copies: {sum(c for _, _, c, _ in CALLS)}")
    # plain llama.cpp on the eval's own samples (bench_eval's same-work ceiling), step by step
    plain_calls: list[tuple[int, float]] = []
    plain_decode = bench_eval.PlainLlama.decode

    def timed_plain(self: bench_eval.PlainLlama, entries: list[tuple[int, int, int]]) -> None:
        start = time.perf_counter()
        plain_decode(self, entries)
        plain_calls.append((len(entries), time.perf_counter() - start))

    bench_eval.PlainLlama.decode = timed_plain  # type: ignore[method-assign]
    prompts = bench_eval.scaled([1] * args.problems, run.prompts)
    prompt = 100
    same = bench_eval.same_work_ceiling(run.lengths, prompts, args.width, prompt)
    plain_steps = plain_calls[args.width + 1 :]  # past the prefill of the streams' prompts
    low = [(n, t) for n, t in plain_steps if n < args.width]
    print(
        f"plain llama.cpp, the same samples: {same:.1f} s in {len(plain_steps)} calls; below "
        f"full width {len(low)} calls, {sum(t for _, t in low):.1f} s for "
        f"{sum(n for n, _ in low)} tokens"
    )
    print(f"outside llama_decode: {run.seconds - inside:.2f} s, of which")
    for label, seconds in sorted(OUTSIDE.items(), key=lambda item: -item[1]):
        print(f"  {label:28s} {seconds:6.3f} s in {COUNTS[label]} calls")


if __name__ == "__main__":
    main()
