"""How often samples give no answer, and why: the check behind issue 17's abstention target.

    .venv/bin/python benchmarks/answers_abstain.py STORE_DIR [STORE_DIR ...] --show 100

Per task: samples, the share that abstain because they were cut off at max_tokens, and the
share that ended on their own but gave no answer the reader could take. ``--show N`` prints a
seeded random N of the latter (the reply and the reason) for a person to judge whether a
careful reader would have taken an answer from it.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
from collections import Counter
from pathlib import Path

from ponder.core.problem import AnswerSpec
from ponder.runtime.sampling import read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", type=Path)
    parser.add_argument("--show", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reread",
        action="store_true",
        help="read every reply again with the current reader (the task's answer type)",
    )
    args = parser.parse_args()
    reread = args.reread
    total: Counter[str] = Counter()
    cut: Counter[str] = Counter()
    silent: list[tuple[str, str, str]] = []
    for store in args.stores:
        with sqlite3.connect(store / "results.sqlite") as db:
            for task, record in db.execute("SELECT task, record FROM results"):
                name, _, task_args = task.partition(":")
                kind = json.loads(task_args).get("answer_type", "expression")
                stored = json.loads(record)
                spec = AnswerSpec(kind, question=stored.get("question", ""))
                for c in stored["candidates"]:
                    total[name] += 1
                    if reread:
                        answer, why = read(c["text"], c["finish_reason"], spec)
                        c = {**c, "answer": answer, "abstained": why}
                    if c["answer"] is not None:
                        continue
                    if c["finish_reason"] == "length":
                        cut[name] += 1
                    else:
                        silent.append((name, c.get("abstained") or "", c["text"]))
    unread = Counter(name for name, _, _ in silent)
    print(f"{'task':18s} {'samples':>7s} {'cut off':>8s} {'ended, no answer':>17s}")
    for name in sorted(total):
        n = total[name]
        print(f"{name:18s} {n:7d} {cut[name] / n:8.1%} {unread[name] / n:17.1%}")
    n = sum(total.values())
    print(f"{'all':18s} {n:7d} {sum(cut.values()) / n:8.1%} {len(silent) / n:17.1%}")
    for i, (name, why, text) in enumerate(
        random.Random(args.seed).sample(silent, min(args.show, len(silent)))
    ):
        print(f"\n#{i} [{name}] {why}\n{text[:600]!r}")


if __name__ == "__main__":
    main()
