"""The readers side by side (``reader=rules|model|hybrid``): accuracy, votes, cost, paths.

    .venv/bin/python benchmarks/reader_report.py STORE_DIR [STORE_DIR ...]

Per task and stored setting: problems, accuracy, the mean votes of the winning group and the
mean abstentions per problem (SC@8's vote counts), the tokens the model's reading cost per
sample (role ``read``: prompt tokens computed, not served from the cache, and completion
tokens), and the share of samples each path read (``Candidate.read_by``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

PATHS = ("declared", "boxed", "fallback", "model", "abstained")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", type=Path)
    args = parser.parse_args()
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for store in args.stores:
        with sqlite3.connect(store / "results.sqlite") as db:
            for task, strategy, record in db.execute("SELECT task, strategy, record FROM results"):
                rows[(task.partition(":")[0], strategy)].append(json.loads(record))
    print(
        f"{'task':17s} {'setting':44s} {'n':>3s} {'acc':>6s} {'top votes':>9s} {'abst.':>6s} "
        f"{'read tok/sample':>15s}  " + " ".join(f"{p[:8]:>8s}" for p in PATHS)
    )
    for (task, strategy), records in sorted(rows.items()):
        name, _, options = strategy.partition(":")
        shown = (
            name
            + ":"
            + ",".join(
                f"{k}={v}"
                for k, v in json.loads(options or "{}").items()
                if k in ("n", "reader") and v is not None
            )
        )
        samples = sum(len(r["candidates"]) for r in records)
        read = [r.get("ledger", {}).get("by_role", {}).get("read", {}) for r in records]
        tokens = sum(
            x.get("prompt_tokens", 0)
            - x.get("cached_prompt_tokens", 0)
            + x.get("completion_tokens", 0)
            for x in read
        )
        paths: Counter[str] = Counter()
        for r in records:
            for c in r["candidates"]:
                paths["abstained" if c["answer"] is None else c.get("read_by") or "?"] += 1
        top = [max((len(g["members"]) for g in r["groups"]), default=0) for r in records]
        n = len(records)
        print(
            f"{task:17s} {shown[:44]:44s} {n:3d} {sum(r['correct'] for r in records) / n:6.3f} "
            f"{sum(top) / n:9.2f} {sum(r['abstained'] for r in records) / n:6.2f} "
            f"{tokens / max(1, samples):15.1f}  "
            + " ".join(f"{paths[p] / max(1, samples):8.0%}" for p in PATHS)
        )


if __name__ == "__main__":
    main()
