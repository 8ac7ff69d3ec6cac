"""What the thinking strategies did, read from a results store (no model needed).

Per task and strategy: accuracy; ``think``: mean thinking tokens (as the ledger counted
them); ``closed``: the share of runs whose thought the model closed itself (the rest were
closed by ponder at the cap); ``waits``: mean Waits; ``cut``: the share of final replies cut
off at their token cap (they give no answer); ``none``: the share of runs with no answer at
all; ``echo``: the share of thoughts that open a thought again (the scaffold's ``<think>``
copied into the thought: the model imitates the format instead of reasoning in it).

    .venv/bin/python benchmarks/thinking_analysis.py STORE_DIR
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", type=Path)
    args = parser.parse_args()
    db = sqlite3.connect(args.store / "results.sqlite")
    stats: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    for task_key, strategy_key, raw in db.execute("select task, strategy, record from results"):
        name, _, options = strategy_key.partition(":")
        if name in ("self_consistency",) and "sampler" not in options:
            continue
        config = json.loads(options) if options else {}
        shown = ",".join(
            f"{k}={config[k]}"
            for k in ("max_thinking", "extend", "wrap_up", "n", "rounds", "scorer", "sampler")
            if config.get(k) not in (None, False, 0)
        )
        record = json.loads(raw)
        s = stats[(task_key.partition(":")[0], f"{name}:{shown}")]
        details = record["details"]
        final = record["candidates"][-1] if record["candidates"] else {}
        s["n"] += 1
        s["correct"] += bool(record["correct"])
        s["think"] += record["usage"].get("reasoning_tokens", 0)
        s["closed"] += details.get("forced_close") is False
        s["waits"] += details.get("waits") or 0
        s["cut"] += final.get("finish_reason") == "length"
        s["none"] += record["answer"] is None
        s["echo"] += "<think>" in (final.get("reasoning") or "")
    print(
        f"{'task':<17}{'strategy':<62}{'acc':>6}{'think':>7}{'closed':>8}{'waits':>7}"
        f"{'cut':>6}{'none':>6}{'echo':>6}"
    )
    for (task, strategy), s in sorted(stats.items()):
        n = s["n"]
        print(
            f"{task:<17}{strategy[:61]:<62}{s['correct'] / n:>6.2f}{s['think'] / n:>7.1f}"
            f"{s['closed'] / n:>8.2f}{s['waits'] / n:>7.2f}{s['cut'] / n:>6.2f}"
            f"{s['none'] / n:>6.2f}{s['echo'] / n:>6.2f}"
        )


if __name__ == "__main__":
    main()
