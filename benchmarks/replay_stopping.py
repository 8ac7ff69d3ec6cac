"""Replay stopping rules over recorded samples: how the defaults of ``early_stopping_sc`` and
``adaptive_consistency`` were chosen.

Reads the ``self_consistency`` pool of an eval store (the largest n run, 16 by default) and,
for each problem, replays a rule over its samples in index order: the rule sees one sample
(or one window) at a time and stops when it fires, else uses all of them. The answer is what
the live strategy would return (a unanimous window's answer, else the majority of the samples
drawn); tokens are the drawn samples' completion tokens. The live strategies also pay for
samples in flight when they stop (``adaptive_consistency`` keeps ``parallel`` running); the
replay leaves those out, so it favours rules that stop often by about half a sample each.

Prints, per task and over all tasks, each rule's accuracy and its completion tokens as a
share of the full pool's, beside the full pool's accuracy.

    .venv/bin/python benchmarks/replay_stopping.py results/adaptive-dev20 [--n 16]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from ponder.answers import group_answers, majority_vote
from ponder.strategies.early_stopping import majority_probability

Sample = tuple[str | None, int, bool]  # answer, completion tokens, correct
Rule = Callable[[Sequence[Sample]], tuple[str | None, int]]  # answer, samples used


def full(samples: Sequence[Sample]) -> tuple[str | None, int]:
    return majority_vote([s[0] for s in samples]).answer, len(samples)


def esc(window: int) -> Rule:
    def rule(samples: Sequence[Sample]) -> tuple[str | None, int]:
        for end in range(window, len(samples) + 1, window):
            answers = [s[0] for s in samples[end - window : end]]
            if None not in answers and len(group_answers(answers)) == 1:
                return answers[0], end
        return full(samples)

    return rule


def adaptive(threshold: float, rule_name: str = "beta", first: int = 1) -> Rule:
    def rule(samples: Sequence[Sample]) -> tuple[str | None, int]:
        for end in range(first, len(samples) + 1):
            answers = [s[0] for s in samples[:end]]
            counts = sorted((len(g) for g in group_answers(answers)), reverse=True)
            if majority_probability(counts, rule_name) >= threshold:
                return majority_vote(answers).answer, end
        return full(samples)

    return rule


def decided(samples: Sequence[Sample]) -> tuple[str | None, int]:
    """Stop once the samples left cannot change the full vote's leader (no loss at all)."""
    for end in range(1, len(samples) + 1):
        counts = sorted(
            (len(g) for g in group_answers([s[0] for s in samples[:end]])), reverse=True
        )
        counts += [0, 0]  # answers may all be missing so far
        if counts[0] - counts[1] > len(samples) - end:
            return majority_vote([s[0] for s in samples[:end]]).answer, end
    return full(samples)


RULES: dict[str, Rule] = {
    "decided (exact)": decided,
    "ac beta 0.8 from 3": adaptive(0.8, first=3),
    "ac beta 0.85": adaptive(0.85),
    "esc w=2": esc(2),
    "esc w=3": esc(3),
    "esc w=4": esc(4),
    "ac beta 0.7": adaptive(0.7),
    "ac beta 0.8": adaptive(0.8),
    "ac beta 0.9": adaptive(0.9),
    "ac beta 0.95": adaptive(0.95),
    "ac dirichlet 0.8": adaptive(0.8, "dirichlet"),
    "ac dirichlet 0.95": adaptive(0.95, "dirichlet"),
}


def load(directory: Path, n: int) -> dict[str, list[list[Sample]]]:
    db = sqlite3.connect(directory / "results.sqlite")
    rows = db.execute("SELECT task, strategy, record FROM results").fetchall()
    tasks: dict[str, list[list[Sample]]] = {}
    for task, strategy, record in rows:
        config = json.loads(strategy.split(":", 1)[1])
        if not strategy.startswith("self_consistency:") or config.get("n") != n:
            continue
        data = json.loads(record)
        samples = [
            (c["answer"], c["completion_tokens"], bool(c["correct"]))
            for c in sorted(data["candidates"], key=lambda c: c["index"])
        ]
        tasks.setdefault(task.split(":", 1)[0], []).append(samples)
    return tasks


def correct(samples: Sequence[Sample], answer: str | None) -> bool:
    return answer is not None and any(s[0] == answer and s[2] for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--n", type=int, default=16)
    args = parser.parse_args()
    tasks = load(args.directory, args.n)
    if not tasks:
        raise SystemExit(f"no self_consistency n={args.n} results in {args.directory}")
    everything = [p for problems in tasks.values() for p in problems]
    for name, problems in [*tasks.items(), ("all", everything)]:
        pool_tokens = sum(s[1] for p in problems for s in p)
        base = sum(correct(p, full(p)[0]) for p in problems)
        print(f"\n{name}: {len(problems)} problems, SC@{args.n} solves {base}")
        for label, rule in RULES.items():
            solved, tokens, used = 0, 0, 0
            for p in problems:
                answer, k = rule(p)
                solved += correct(p, answer)
                tokens += sum(s[1] for s in p[:k])
                used += k
            print(
                f"  {label:18s} solves {solved:3d} ({solved - base:+d})  tokens "
                f"{tokens / pool_tokens:6.1%}  samples/problem {used / len(problems):5.2f}"
            )


if __name__ == "__main__":
    main()
