"""How much the same eval moves when only the machine's numerics change: stores of one model,
seed and settings, run with different thread counts or batch layouts (llama.cpp's kernels sum
in a different order), compared problem by problem against the first.

    .venv/bin/python benchmarks/carry_over.py DIR_A DIR_B [DIR_C ...]

For each store after the first, per task and run setting: the accuracy in each, its
difference, and the share of problems whose final answer (or any sample's answer) changed.
The environment each run recorded (threads, batch width, CPU) is printed first.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any


def load(directory: Path) -> tuple[dict[tuple[str, str, str], dict[str, Any]], dict[str, Any]]:
    with sqlite3.connect(directory / "results.sqlite") as db:
        rows = db.execute("SELECT task, problem, strategy, record FROM results").fetchall()
        plan = json.loads(db.execute("SELECT plan FROM runs ORDER BY id DESC").fetchone()[0])
    records = {(t, p, s): json.loads(raw) for t, p, s, raw in rows}
    return records, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="+", type=Path)
    args = parser.parse_args()
    base, base_plan = load(args.directories[0])
    labels = {s["key"]: s["label"] for s in base_plan["settings"]}
    names = {t["key"]: t["name"] for t in base_plan["tasks"]}
    for directory in args.directories:
        env = load(directory)[1].get("environment") or {}
        shown = {k: v for k, v in env.items() if k != "cpu_features"}
        print(f"{directory}: {shown}")
    for directory in args.directories[1:]:
        other, _ = load(directory)
        print(f"\n{args.directories[0].name} -> {directory.name}")
        print(
            f"{'task':18} {'setting':34} {'acc A':>6} {'acc B':>6} {'diff':>6} "
            f"{'answer moved':>12} {'any sample moved':>16}"
        )
        rows: dict[tuple[str, str], list[tuple[Any, Any]]] = defaultdict(list)
        for key, record in base.items():
            if key in other:
                rows[key[0], key[2]].append((record, other[key]))
        for (task, setting), pairs in sorted(rows.items()):
            n = len(pairs)
            acc_a = sum(a["correct"] for a, _ in pairs) / n
            acc_b = sum(b["correct"] for _, b in pairs) / n
            moved = sum(a["answer"] != b["answer"] for a, b in pairs) / n
            samples = (
                sum(
                    [c["answer"] for c in a["candidates"]] != [c["answer"] for c in b["candidates"]]
                    for a, b in pairs
                )
                / n
            )
            label = labels.get(setting, setting)[:34]
            print(
                f"{names.get(task, task)[:18]:18} {label:34} {acc_a:6.3f} {acc_b:6.3f} "
                f"{acc_b - acc_a:+6.3f} {moved:12.0%} {samples:16.0%}"
            )


if __name__ == "__main__":
    main()
