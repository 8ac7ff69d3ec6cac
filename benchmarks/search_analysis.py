"""Why a step-level search does or does not beat sampling: what its verifier and its steps
look like, read from a results store (no model needed).

For each strategy in the store (per task), over all problems:

- ``acc``: accuracy of the chosen answer; ``cover``: the share of problems where at least one
  finished solution (or sample) was right, the most any selection could reach;
- ``sols``: finished solutions (or samples) per problem; ``steps``: steps per finished
  solution and ``tok/step`` (search strategies only);
- ``checked``: the share of steps that make an arithmetic claim the ``arithmetic`` checker
  can recompute (steps without one score 1: the checker cannot tell them apart);
- verifier separation on finished solutions with a score: ``P(ok|hi)`` and ``P(ok|lo)``,
  accuracy of solutions scored at least 0.5 and below it, and how many there were of each.
  A verifier that helps selection has P(ok|hi) well above P(ok|lo).

    .venv/bin/python benchmarks/search_analysis.py STORE_DIR
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from ponder.scoring.scorers.arithmetic import check_claims

SHOWN = ("n", "beam_width", "iterations", "width", "max_expansions", "scorer", "verify_every")


def label(key: str) -> str:
    """``name`` and its telling options, from a stored ``name:{json}`` key."""
    name, _, options = key.partition(":")
    if not options:
        return name
    config = json.loads(options)
    shown = []
    for field in SHOWN:
        value = config.get(field)
        if isinstance(value, dict):
            value = value.get("name")
        if value is not None and not (field == "verify_every" and value == 1):
            shown.append(f"{field}={value}")
    return f"{name}:{','.join(shown)}" if shown else name


def solution_scores(record: dict[str, Any]) -> dict[int, float | None]:
    """The verifier's score of each candidate, by candidate index."""
    details = record["details"]
    if "tree" in details:
        return {n["id"]: n["score"] for n in details["tree"]}
    scores = details.get("scores")
    if scores:
        return {i: s.get("value") for i, s in enumerate(scores)}
    return {}


def analyse(store: Path) -> None:
    db = sqlite3.connect(store / "results.sqlite")
    rows = db.execute("select task, strategy, record from results order by task, strategy")
    stats: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "n": 0,
            "correct": 0,
            "cover": 0,
            "sols": [],
            "steps": [],
            "tok_step": [],
            "claims": [0, 0],
            "hi": [0, 0],
            "lo": [0, 0],
        }
    )
    for task_key, strategy_key, raw in rows:
        task, strategy = task_key.partition(":")[0], label(strategy_key)
        record = json.loads(raw)
        s = stats[(task, strategy)]
        s["n"] += 1
        s["correct"] += bool(record["correct"])
        candidates = record["candidates"]
        s["cover"] += any(c.get("correct") for c in candidates)
        s["sols"].append(len(candidates))
        scores = solution_scores(record)
        tree = record["details"].get("tree")
        if tree:
            nodes = {n["id"]: n for n in tree}
            for c in candidates:
                depth = nodes[c["index"]]["depth"]
                s["steps"].append(depth)
                s["tok_step"].append(c["completion_tokens"] / max(depth, 1))
            for node in tree[1:]:
                s["claims"][0] += bool(check_claims(node["text"]))
                s["claims"][1] += 1
        for c in candidates:
            value = scores.get(c["index"])
            if value is None:
                continue
            bucket = s["hi"] if value >= 0.5 else s["lo"]
            bucket[0] += bool(c.get("correct"))
            bucket[1] += 1
    header = (
        f"{'task':<17}{'strategy':<52}{'acc':>6}{'cover':>7}{'sols':>6}{'steps':>7}"
        f"{'tok/step':>9}{'checked':>8}{'P(ok|hi)':>14}{'P(ok|lo)':>14}"
    )
    print(header)
    for (task, strategy), s in sorted(stats.items()):
        n = s["n"]

        def rate(pair: list[int]) -> str:
            return f"{pair[0] / pair[1]:.2f} ({pair[1]})" if pair[1] else "-"

        steps = f"{statistics.mean(s['steps']):.1f}" if s["steps"] else "-"
        tok = f"{statistics.mean(s['tok_step']):.0f}" if s["tok_step"] else "-"
        checked = f"{s['claims'][0] / s['claims'][1]:.2f}" if s["claims"][1] else "-"
        print(
            f"{task:<17}{strategy[:51]:<52}{s['correct'] / n:>6.2f}{s['cover'] / n:>7.2f}"
            f"{statistics.mean(s['sols']):>6.1f}{steps:>7}{tok:>9}{checked:>8}"
            f"{rate(s['hi']):>14}{rate(s['lo']):>14}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", type=Path)
    analyse(parser.parse_args().store)


if __name__ == "__main__":
    main()
