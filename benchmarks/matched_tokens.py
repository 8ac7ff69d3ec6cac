"""Each strategy of an eval report against self-consistency at the same tokens.

Reads a report's ``summary.json``. Per task, the self-consistency settings (run or
estimated from one pool) give accuracy against tokens per problem (all roles: generation,
verification, probes, aggregation): ``--cost computed`` (the default: prompt tokens the model
computed, not served from a cache, plus completion tokens; strategies whose later calls read
other answers pay for those prompts) or ``--cost completion``. For every other strategy
the script prints its accuracy (95% interval), its tokens, and self-consistency's accuracy
at those tokens, interpolated linearly between the two nearest self-consistency settings (or
at the nearest end, marked ``<`` or ``>`` when the strategy spent less than the smallest or
more than the largest). ``delta`` is the strategy's accuracy minus that.

    .venv/bin/python benchmarks/matched_tokens.py REPORT_DIR [--baseline self_consistency]
        [--cost computed|completion] [--pairs]

``--pooled`` adds a task "all tasks": every setting run on every task, its accuracy and tokens
averaged over all their problems (the interval a Wilson interval on the pooled count), so the
comparison rests on all the problems at once.

``--pairs`` also prints, for each strategy, the self-consistency setting whose cost is
nearest at or above it, as ``ponder report DIR --compare A B``
arguments (a paired test at matched compute, no cheaper for the baseline).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any


def at_tokens(curve: list[tuple[float, float]], tokens: float) -> tuple[float, str]:
    """The curve's accuracy at ``tokens`` (linear between points), and where it lies."""
    curve = sorted(curve)
    if tokens <= curve[0][0]:
        return curve[0][1], "<" if tokens < curve[0][0] else ""
    if tokens >= curve[-1][0]:
        return curve[-1][1], ">" if tokens > curve[-1][0] else ""
    for (t0, a0), (t1, a1) in zip(curve, curve[1:], strict=False):
        if t0 <= tokens <= t1:
            share = 0.0 if t1 == t0 else (tokens - t0) / (t1 - t0)
            return a0 + share * (a1 - a0), ""
    raise AssertionError("unreachable")


def wilson(correct: float, n: int, z: float = 1.96) -> tuple[float, float]:
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def pooled(tasks: list[list[dict[str, Any]]], field: str) -> list[dict[str, Any]]:
    """One row per setting that every task ran: accuracy and ``field`` averaged over all the
    problems (tasks weighted by their problems)."""
    by_setting: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task_rows in tasks:
        for r in task_rows:
            if r["accuracy"] is not None:
                by_setting[r["strategy"]].append(r)
    out = []
    for rows in by_setting.values():
        if len(rows) < len(tasks):
            continue
        n = sum(r["n_problems"] for r in rows)
        accuracy = sum(r["accuracy"] * r["n_problems"] for r in rows) / n
        low, high = wilson(accuracy * n, n)
        out.append(
            {
                **rows[0],
                "accuracy": accuracy,
                "ci_low": low,
                "ci_high": high,
                field: sum(r[field] * r["n_problems"] for r in rows) / n,
                "n_problems": n,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--baseline", default="self_consistency")
    parser.add_argument("--cost", choices=("computed", "completion"), default="computed")
    parser.add_argument("--pairs", action="store_true")
    parser.add_argument("--pooled", action="store_true", help="add every task pooled")
    args = parser.parse_args()
    field = f"{args.cost}_tokens_mean"
    pairs: list[tuple[str, str]] = []
    rows: list[dict[str, Any]] = json.loads((args.report / "summary.json").read_text())["results"]
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row)
    if args.pooled:
        by_task["all tasks"] = pooled(list(by_task.values()), field)
    print(
        f"{'task':<17}{'strategy':<62}{'acc [95% CI]':>22}{'tokens':>8}"
        f"{args.baseline[:14] + ' at tokens':>26}{'delta':>8}"
    )
    for task, task_rows in by_task.items():

        def baseline(r: dict[str, Any]) -> bool:
            """Plain self-consistency (not one composed with a sampler)."""
            return r["name"] == args.baseline and not (r.get("options") or {}).get("sampler")

        curve = [
            (r[field], r["accuracy"])
            for r in task_rows
            if baseline(r) and r["accuracy"] is not None
        ]
        for r in task_rows:
            if baseline(r) or r["accuracy"] is None:
                continue
            tokens = r[field]
            above = [
                b
                for b in task_rows
                if baseline(b) and b[field] >= tokens and b["accuracy"] is not None
            ]
            if above:
                nearest = min(above, key=lambda b: b[field])
                pairs.append((r["strategy"], nearest["strategy"]))
            acc = f"{r['accuracy']:.3f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
            if curve:
                base, where = at_tokens(curve, tokens)
                matched = f"{where}{base:.3f}"
                delta = f"{r['accuracy'] - base:+.3f}"
            else:
                matched, delta = "-", "-"
            print(
                f"{task:<17}{r['strategy'][:61]:<62}{acc:>22}{tokens:>8.0f}{matched:>26}{delta:>8}"
            )
        for tokens, accuracy in sorted(curve):
            print(f"{task:<17}{'(' + args.baseline + ')':<62}{accuracy:>22.3f}{tokens:>8.0f}")
    if args.pairs:
        for a, b in dict.fromkeys(pairs):
            print(f"--compare '{a}' '{b}'")


if __name__ == "__main__":
    main()
