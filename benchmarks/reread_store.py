"""A results store's samples read again by the current rules: accuracy and abstentions.

    .venv/bin/python benchmarks/reread_store.py STORE_DIR [STORE_DIR ...]

Stores keep each sample's answer as read by the rules of the day they ran. This reads every
stored sample of the ``reader=rules`` settings again (``ponder.runtime.sampling.read``, the
task's declared answer type and question), votes them again (``majority_vote``, as
self-consistency does) and scores the winner with the task's own scorer, so the same samples
give the accuracy of both readings side by side: no sample is drawn again. Settings whose
reader is the model are left out (their readings came from the model, not the rules).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from ponder.core.problem import AnswerSpec, Problem
from ponder.runtime.sampling import read
from ponder.scoring.answers import majority_vote
from ponder.tasks import make_task
from ponder.tasks.base import Task


def _reread(task: Task, problem: Problem, record: dict[str, Any]) -> tuple[bool, int]:
    """Whether the sample vote, read again, is right, and how many samples abstain."""
    spec = problem.answer or AnswerSpec()
    answers = [read(c["text"], c["finish_reason"], spec)[0] for c in record["candidates"]]
    vote = majority_vote(answers)
    if vote.winner is None:
        return False, len(answers)
    text = record["candidates"][vote.winner.members[0]]["text"]
    return task.score(problem, text, vote.answer).correct, answers.count(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", type=Path)
    args = parser.parse_args()
    rows: dict[tuple[str, str], list[tuple[bool, int, bool, int]]] = defaultdict(list)
    tasks: dict[str, tuple[Task, dict[str, Problem]]] = {}
    for store in args.stores:
        with sqlite3.connect(store / "results.sqlite") as db:
            found = db.execute("SELECT task, strategy, record FROM results").fetchall()
        for task_key, strategy, raw in found:
            if '"reader":"model"' in strategy or '"reader":"hybrid"' in strategy:
                continue
            record = json.loads(raw)
            if task_key not in tasks:
                name, _, task_args = task_key.partition(":")
                task = make_task(name, json.loads(task_args))
                tasks[task_key] = (task, {p.id: p for p in task.problems()})
            task, problems = tasks[task_key]
            problem = problems[record["problem"]]
            stored_abstained = sum(c["answer"] is None for c in record["candidates"])
            right, abstained = _reread(task, problem, record)
            rows[(task_key.partition(":")[0], strategy.partition("|")[0])].append(
                (bool(record["correct"]), stored_abstained, right, abstained)
            )
    head = f"{'task':18s} {'setting':30s} {'n':>3s} {'stored':>7s} {'reread':>7s}"
    print(head + " abstained a problem")
    for (task_name, strategy), results in sorted(rows.items()):
        n = len(results)
        stored = sum(r[0] for r in results) / n
        now = sum(r[2] for r in results) / n
        before_abs = sum(r[1] for r in results) / n
        now_abs = sum(r[3] for r in results) / n
        print(
            f"{task_name:18s} {strategy[:30]:30s} {n:3d} {stored:7.3f} {now:7.3f} "
            f"{before_abs:.2f} -> {now_abs:.2f}"
        )


if __name__ == "__main__":
    main()
