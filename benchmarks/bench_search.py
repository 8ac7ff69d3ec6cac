"""Prefix reuse of a step-level search on the embedded engine (issue 20's target).

``beam_search`` with N=8, M=4 (the arithmetic step checker, steps ending at a newline, at
least 4 steps: ``max_steps`` 6) over reasoning-gym ``gsm_symbolic`` problems, twice per
problem, side by side in one process:

- **reuse on** (the default): children continue from their parent's token ids and the
  engine keeps every node's KV (``retain``), so a child prefills nothing;
- **reuse off** (``reuse_kv=false``): the path is sent as text only; the engine's prompt
  cache still serves the longest cached prefix it holds (the problem's prompt, earlier
  requests' prompts), but a node's own step is prefilled again.

The same seeds on the same problems, so the two runs draw comparable trees (not identical:
re-tokenised text can differ from the sampled tokens at step boundaries). Prints, per mode,
the prompt tokens the calls presented, those the engine computed (presented - cached), their
ratio (target: at most 0.15 with reuse on), the engine's own count of prompt tokens it
prefilled, the rounds and the wall time; then the wall-time ratio off / on.

    .venv/bin/python benchmarks/bench_search.py [--problems 6]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from ponder.backends.llamacpp.backend import LlamaCppBackend
from ponder.core.registry import default_registry
from ponder.runtime import Context
from ponder.tasks.reasoning_gym import ReasoningGymTask

SEARCH = {
    "n": 8,
    "beam_width": 4,
    "scorer": "arithmetic",
    "delimiter": "\n",
    "max_steps": 6,
    "step_tokens": 64,
    "max_tokens": 384,
    "temperature": 0.7,
}


async def run(backend: LlamaCppBackend, problems: list, reuse: bool) -> dict[str, float]:
    cls = default_registry().get("strategy", "beam_search")
    totals = {
        "presented": 0,
        "computed": 0,
        "engine": 0,
        "completion": 0,
        "retained": 0,
        "rounds": 0,
        "wall": 0.0,
    }
    for i, problem in enumerate(problems):
        backend.clear_prefix_cache()  # each problem starts cold, in both modes
        before = backend.stats.prompt_tokens_computed
        kept = backend.stats.samples_retained
        strategy = cls(**SEARCH, seed=100 + i, reuse_kv=reuse)
        ctx = Context(backend)
        start = time.perf_counter()
        result = await strategy.run(problem, ctx)
        totals["wall"] += time.perf_counter() - start
        for event in ctx.trace:
            if event.role == "generate":
                totals["presented"] += event.usage.prompt_tokens
                totals["computed"] += event.usage.prompt_tokens - event.usage.cached_prompt_tokens
        totals["engine"] += backend.stats.prompt_tokens_computed - before
        totals["retained"] += backend.stats.samples_retained - kept
        totals["completion"] += result.usage.completion_tokens
        totals["rounds"] += result.details["rounds"]
    return totals


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=6)
    parser.add_argument("--model", default=None, help="a GGUF (default: the embedded model)")
    args = parser.parse_args()
    task = ReasoningGymTask("gsm_symbolic", size=args.problems, seed=7)
    problems = list(task.problems(args.problems))
    backend = LlamaCppBackend(args.model)
    try:
        await run(backend, problems[:1], True)  # warm-up: grow the engine to its layout
        rows = {}
        for reuse in (True, False):
            rows[reuse] = await run(backend, problems, reuse)
    finally:
        await backend.aclose()
    print(f"beam_search {SEARCH} on {len(problems)} gsm_symbolic problems")
    print(
        f"{'mode':<10}{'presented':>10}{'computed':>10}{'ratio':>8}{'engine':>8}"
        f"{'retained':>9}{'completion':>11}{'rounds':>8}{'wall s':>9}{'tok/s':>7}"
    )
    for reuse, t in rows.items():
        ratio = t["computed"] / t["presented"]
        print(
            f"{'reuse on' if reuse else 'reuse off':<10}{t['presented']:>10}{t['computed']:>10}"
            f"{ratio:>8.3f}{t['engine']:>8}{t['retained']:>9}{t['completion']:>11}"
            f"{t['rounds'] / len(problems):>8.1f}{t['wall']:>9.1f}"
            f"{t['completion'] / t['wall']:>7.1f}"
        )
    on, off = rows[True], rows[False]
    print(
        f"computed/presented with reuse on: {on['computed'] / on['presented']:.3f} (target <= 0.15)"
    )
    print(f"wall time, reuse off / on: {off['wall'] / on['wall']:.2f}x")
    speed = (off["completion"] / off["wall"]) / (on["completion"] / on["wall"])
    print(f"completion tokens per second, reuse off / on: {speed:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
