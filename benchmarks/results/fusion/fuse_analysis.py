"""What fuse's merge step did in a results store: on the problems it merged (a split vote),
how often the merged answer was right against the vote's leader, and what moa's aggregator
and debate's rounds changed. Reads ``results.sqlite`` (``ponder eval`` wrote it).

    .venv/bin/python benchmarks/results/fusion/fuse_analysis.py benchmarks/results/fusion/dev-suite
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter


def main() -> None:
    db = sqlite3.connect(f"{sys.argv[1]}/results.sqlite")
    merged = Counter()
    for strategy, raw in db.execute("SELECT strategy, record FROM results"):
        if not strategy.startswith("fuse:"):
            continue
        record = json.loads(raw)
        if not record["details"].get("fused"):
            merged["not merged (clear vote)"] += 1
            merged[f"not merged: correct={record['correct']}"] += 1
            continue
        groups = record["groups"]
        leader = max(groups, key=lambda g: len(g["members"])) if groups else None
        leader_right = bool(leader and leader["correct"] >= 0.5)
        merged["merged"] += 1
        merged[f"merged: leader right={leader_right}, merge right={record['correct']}"] += 1
        if leader and record["answer"] != leader["answer"]:
            merged["merged: answer differs from the leader"] += 1
    for key, count in sorted(merged.items()):
        print(f"{count:4d}  {key}")


if __name__ == "__main__":
    main()
