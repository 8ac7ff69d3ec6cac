"""Replay stopping rules over recorded samples: how the defaults of ``early_stopping_sc`` and
``adaptive_consistency`` were chosen.

Reads the ``self_consistency`` pool of an eval store (the largest n run, 16 by default) and,
for each problem, replays a rule over its samples in index order (the order the live
strategies draw them in: sample i of a problem has the same seed in both). ESC sees one window
at a time and stops at the first unanimous one. Adaptive-Consistency is simulated as it runs
live: ``parallel`` samples in flight, all decoding in lockstep, so they finish in order of
length; after each finished sample the rule is checked, and when it fires the samples still in
flight are cancelled and charged the tokens they had produced by then. The answer is what the
live strategy would return; tokens are every token generated, cancelled ones included.

Prints, per task and over all tasks, each rule's problems solved against the full pool's
majority (SC@16) and its completion tokens as a share of the full pool's.

    .venv/bin/python benchmarks/replay_stopping.py results/adaptive-dev20 [--n 16]
"""

from __future__ import annotations

import argparse
import heapq
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from ponder.answers import group_answers, majority_vote
from ponder.strategies.early_stopping import majority_probability

Sample = tuple[str | None, int, bool]  # answer, completion tokens, correct
Rule = Callable[[Sequence[Sample]], tuple[str | None, int]]  # answer, tokens generated


def tokens(samples: Sequence[Sample]) -> int:
    return sum(max(1, s[1]) for s in samples)


def full(samples: Sequence[Sample]) -> tuple[str | None, int]:
    return majority_vote([s[0] for s in samples]).answer, tokens(samples)


def esc(window: int) -> Rule:
    def rule(samples: Sequence[Sample]) -> tuple[str | None, int]:
        for end in range(window, len(samples) + 1, window):
            answers = [s[0] for s in samples[end - window : end]]
            if None not in answers and len(group_answers(answers)) == 1:
                return answers[0], tokens(samples[:end])
        return full(samples)

    return rule


def adaptive(threshold: float, parallel: int = 2, rule_name: str = "beta") -> Rule:
    """``adaptive_consistency`` as it runs live: ``parallel`` samples in flight in lockstep."""

    def rule(samples: Sequence[Sample]) -> tuple[str | None, int]:
        running: list[tuple[int, int, int]] = []  # (step it ends at, index, step it started at)
        launched, spent = 0, 0
        done: dict[int, str | None] = {}  # the live vote takes them in index order (ties)
        for _ in range(min(parallel, len(samples))):
            heapq.heappush(running, (max(1, samples[launched][1]), launched, 0))
            launched += 1
        while running:
            now, index, _ = heapq.heappop(running)
            spent += max(1, samples[index][1])
            done[index] = samples[index][0]
            answers = [done[i] for i in sorted(done)]
            counts = sorted((len(g) for g in group_answers(answers)), reverse=True)
            if majority_probability(counts, rule_name) >= threshold:
                spent += sum(now - started for _, _, started in running)  # cancelled
                return majority_vote(answers).answer, spent
            if launched < len(samples):
                end = now + max(1, samples[launched][1])
                heapq.heappush(running, (end, launched, now))
                launched += 1
        return majority_vote([done[i] for i in sorted(done)]).answer, spent

    return rule


def decided(samples: Sequence[Sample]) -> tuple[str | None, int]:
    """Stop once the samples left cannot change the full vote's leader (no loss at all)."""
    for end in range(1, len(samples) + 1):
        counts = sorted(
            (len(g) for g in group_answers([s[0] for s in samples[:end]])), reverse=True
        )
        counts += [0, 0]  # answers may all be missing so far
        if counts[0] - counts[1] > len(samples) - end:
            return majority_vote([s[0] for s in samples[:end]]).answer, tokens(samples[:end])
    return full(samples)


RULES: dict[str, Rule] = {
    "decided (exact)": decided,
    "esc w=2": esc(2),
    "esc w=3": esc(3),
    "esc w=4": esc(4),
    **{
        f"ac beta {t} par {k}": adaptive(t, k)
        for t in (0.75, 0.8, 0.85, 0.9, 0.95)
        for k in (1, 2, 3, 4, 6, 8)
    },
    "ac dirichlet 0.8 par 2": adaptive(0.8, 2, "dirichlet"),
    "ac dirichlet 0.95 par 2": adaptive(0.95, 2, "dirichlet"),
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
        pool_tokens = sum(tokens(p) for p in problems)
        base = sum(correct(p, full(p)[0]) for p in problems)
        print(f"\n{name}: {len(problems)} problems, SC@{args.n} solves {base}")
        for label, rule in RULES.items():
            solved, spent = 0, 0
            for p in problems:
                answer, used = rule(p)
                solved += correct(p, answer)
                spent += used
            print(
                f"  {label:24s} solves {solved:3d} ({solved - base:+d})  tokens "
                f"{spent / pool_tokens:6.1%}"
            )


if __name__ == "__main__":
    main()
