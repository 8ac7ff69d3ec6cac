"""Compare two eval stores problem by problem: the check that a refactor changed no result.

    .venv/bin/python benchmarks/compare_stores.py OLD_DIR NEW_DIR

Prints how many records each holds, how many (task, problem, setting, model, seed) keys differ
in their answer, correctness, candidates' answers and token counts, or usage, and whether the
two ``summary.json`` files agree on every setting's accuracy, interval and tokens and on the
pass@k / maj@k curves. Latency and cache-hit fields are left out: they vary run to run. Exits 1
if anything differs.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any


def records(directory: Path) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    with sqlite3.connect(directory / "results.sqlite") as db:
        rows = db.execute("SELECT task, problem, strategy, model, seed, record FROM results")
        found = {}
        for *key, raw in rows:
            r = json.loads(raw)
            usage = {k: v for k, v in r["usage"].items() if k != "cached_prompt_tokens"}
            candidates = [(c["answer"], c["completion_tokens"]) for c in r["candidates"]]
            found[tuple(key)] = (r["answer"], r["correct"], candidates, usage)
    return found


def summary_rows(directory: Path) -> tuple[list[tuple[Any, ...]], list[Any]]:
    summary = json.loads((directory / "summary.json").read_text())
    fields = ("task", "strategy", "accuracy", "ci_low", "ci_high", "tokens_mean")
    return [tuple(r[f] for f in fields) for r in summary["results"]], summary["curves"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    old, new = records(args.old), records(args.new)
    differing = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    print(f"records: {len(old)} old, {len(new)} new; differing: {len(differing)}")
    for key in differing[:10]:
        print("  ", key, old.get(key, "(missing)")[:2], new.get(key, "(missing)")[:2])
    rows_old, curves_old = summary_rows(args.old)
    rows_new, curves_new = summary_rows(args.new)
    same_rows, same_curves = rows_old == rows_new, curves_old == curves_new
    print(f"summary accuracy, intervals and tokens identical: {same_rows}")
    print(f"pass@k and maj@k curves identical: {same_curves}")
    sys.exit(0 if not differing and same_rows and same_curves else 1)


if __name__ == "__main__":
    main()
