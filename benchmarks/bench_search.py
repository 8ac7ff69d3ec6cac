"""Prefix reuse of a step-level search on the embedded engine (issues 20 and 35).

Two presets, each run twice per problem, side by side in one process:

- ``--preset defaults`` (issue 35's target): ``beam_search`` with its default options (only
  the seed set) on the question "Compute 17 + 25 - 9 + 14 step by step, ..." and on
  reasoning-gym ``gsm_symbolic`` problems. Reuse on is the default; reuse off is the same
  search with ``reuse_kv=false`` and the judge asked in the same (own) context, so the two
  differ only in what the engine keeps.
- ``--preset arithmetic`` (issue 20's): N=8, M=4, the arithmetic step checker, steps ending
  at a newline, ``max_steps`` 6, over ``gsm_symbolic`` problems.

Reuse on: children continue from their parent's token ids, the engine keeps every node's KV
(``retain``, its prompt cache sized by the search's ``keep``), and the judge checks a node in
its own context. Reuse off (``reuse_kv=false``): the path is sent as text only; the engine's
prompt cache still serves the longest cached prefix it holds, but a node's own step is
prefilled again.

The same seeds on the same problems, so the two runs draw comparable trees (not identical:
re-tokenised text can differ from the sampled tokens at step boundaries). Prints, per mode,
the prompt tokens the calls presented, those the engine computed (presented - cached), their
ratio, the engine's own count of prompt tokens it prefilled, the rounds and the wall time;
then the wall-time ratio on / off. Each problem starts cold in both modes; the order of the
modes alternates from problem to problem.

    .venv/bin/python benchmarks/bench_search.py [--preset defaults] [--problems 6] [--model GGUF]
        [-B KEY=VALUE]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from backend_options import add_model_arguments, backend_options
from ponder.backends.llamacpp.backend import LlamaCppBackend
from ponder.core.problem import Problem
from ponder.core.registry import default_registry
from ponder.runtime import Context
from ponder.tasks.reasoning_gym import ReasoningGymTask

#: issue 35's question
QUESTION = (
    "Compute 17 + 25 - 9 + 14 step by step, one operation per line, then give the final answer."
)
#: issue 35's defaults: the only options set (reuse off adds reuse_kv=false and the judge's
#: own context, which reuse on chooses by itself)
DEFAULTS: dict[str, Any] = {}
OFF_DEFAULTS: dict[str, Any] = {"reuse_kv": False, "scorer": "judge(context=own)"}
ARITHMETIC = {
    "n": 8,
    "beam_width": 4,
    "scorer": "arithmetic",
    "delimiter": "\n",
    "max_steps": 6,
    "step_tokens": 64,
    "max_tokens": 384,
    "temperature": 0.7,
}


async def one(
    backend: LlamaCppBackend, problem: Problem, options: dict[str, Any], seed: int
) -> dict[str, float]:
    """One search on a cold cache: what it presented, computed, kept, and its wall time."""
    cls = default_registry().get("strategy", "beam_search")
    backend.clear_prefix_cache()
    before = backend.stats.prompt_tokens_computed
    kept = backend.stats.samples_retained
    strategy = cls(**options, seed=seed)
    ctx = Context(backend)
    start = time.perf_counter()
    result = await strategy.run(problem, ctx)
    row = {"wall": time.perf_counter() - start, "presented": 0, "computed": 0}
    for event in ctx.trace:
        if event.role in ("generate", "verify"):
            row["presented"] += event.usage.prompt_tokens
            row["computed"] += event.usage.prompt_tokens - event.usage.cached_prompt_tokens
    row["engine"] = backend.stats.prompt_tokens_computed - before
    row["retained"] = backend.stats.samples_retained - kept
    row["completion"] = result.usage.completion_tokens
    row["rounds"] = result.details["rounds"]
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=("defaults", "arithmetic"), default="defaults")
    parser.add_argument("--problems", type=int, default=6, help="gsm_symbolic problems")
    add_model_arguments(parser)
    args = parser.parse_args()
    options = backend_options(args.options)
    task = ReasoningGymTask("gsm_symbolic", size=args.problems, seed=7)
    problems = list(task.problems(args.problems))
    if args.preset == "defaults":
        problems = [Problem(QUESTION), *problems]
        modes = {"reuse on": DEFAULTS, "reuse off": OFF_DEFAULTS}
    else:
        modes = {"reuse on": ARITHMETIC, "reuse off": {**ARITHMETIC, "reuse_kv": False}}
    backend = LlamaCppBackend(args.model, **options)
    names = list(modes)
    totals = {name: dict.fromkeys(ROW, 0.0) for name in names}
    try:
        await one(backend, problems[0], modes["reuse on"], 99)  # warm-up (model pages, layout)
        for i, problem in enumerate(problems):
            order = names if i % 2 == 0 else names[::-1]
            for name in order:
                row = await one(backend, problem, modes[name], 100 + i)
                for key in ROW:
                    totals[name][key] += row[key]
    finally:
        await backend.aclose()
    print(
        f"beam_search preset {args.preset} ({modes['reuse on'] or 'default options'}) on "
        f"{len(problems)} problems"
    )
    print(
        f"{'mode':<10}{'presented':>10}{'computed':>10}{'ratio':>8}{'engine':>8}"
        f"{'retained':>9}{'completion':>11}{'rounds':>8}{'wall s':>9}{'tok/s':>7}"
    )
    for name, t in totals.items():
        print(
            f"{name:<10}{t['presented']:>10.0f}{t['computed']:>10.0f}"
            f"{t['computed'] / t['presented']:>8.3f}{t['engine']:>8.0f}{t['retained']:>9.0f}"
            f"{t['completion']:>11.0f}{t['rounds'] / len(problems):>8.1f}{t['wall']:>9.1f}"
            f"{t['completion'] / t['wall']:>7.1f}"
        )
    on, off = totals["reuse on"], totals["reuse off"]
    target = 0.10 if args.preset == "defaults" else 0.15
    print(
        f"computed/presented with reuse on: {on['computed'] / on['presented']:.3f} "
        f"(target <= {target:.2f})"
    )
    print(f"wall time, reuse on / off: {on['wall'] / off['wall']:.2f}x (target <= 0.85x)")
    speed = (off["completion"] / off["wall"]) / (on["completion"] / on["wall"])
    print(f"completion tokens per second, reuse off / on: {speed:.2f}x")


ROW = ("presented", "computed", "engine", "retained", "completion", "rounds", "wall")


if __name__ == "__main__":
    asyncio.run(main())
