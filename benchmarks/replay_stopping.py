"""Replay stopping rules over recorded samples: how the defaults of ``early_stopping_sc`` and
``adaptive_consistency`` were chosen.

Reads the ``self_consistency`` pool of one or more eval stores (the largest n run, 16 by
default) and, for each problem, replays a rule over its samples as the live strategies run
(the rules, votes and straggler limits are the strategies' own functions; what is simulated
here is the engine's timing):
``parallel`` samples in flight, all decoding in lockstep, so they finish in order of length
(sample i of a problem has the same seed in SC@16 and in the strategy, so it is the same
sample). After each finished sample the rule is checked; when it fires the samples still in
flight are cancelled and charged the tokens they had produced by then. With a straggler factor
f, a sample is cut as soon as it has produced more than f times the median length of the
samples that finished (once 3 have), charged what it produced, and replaced by the next one.
ESC takes the finished samples in windows of w in the order they finished; AC votes over the
finished samples in index order (ties go to the earliest), as the live strategy does. Tokens
are every token generated, cut and cancelled ones included.

Prints, per task and over all tasks, each rule's problems solved against the full pool's
majority (SC@16) and its completion tokens as a share of the full pool's. ``--pick`` then
names, for each strategy, the cheapest setting that loses at most one problem in
``--margin`` (80 by default: half the one-in-40 the target allows, kept as a margin for
noise) over all the stores given together::

    .venv/bin/python benchmarks/replay_stopping.py results/heldout-s1 results/heldout-s2 --pick

``--strata`` replays the strategies' default settings by how much each problem's samples agree
(the share of its n samples in the largest answer group), with the straggler cut alone beside
each, and says how much of each rule's spending falls on problems where it never fired: where
the savings come from, and what a stronger model (more problems that agree) would spend.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from ponder.runtime.pool import straggler_limit
from ponder.scoring.answers import group_answers, majority_vote
from ponder.strategies.early_stopping import (
    AdaptiveConsistencyConfig,
    EarlyStoppingConfig,
    group_of,
    leader_probability,
    window_unanimous,
)

Sample = tuple[str | None, int, bool, str]  # answer, completion tokens, correct, text


class Run(NamedTuple):
    """What a rule did on one problem."""

    answer: str | None
    tokens: int  # every token generated, cut and cancelled ones included
    stopped: bool  # whether the rule fired before the samples ran out


Rule = Callable[[Sequence[Sample]], Run]
#: finished samples so far, in the order they finished: (index, answer) -> the answer to stop
#: with, or None to go on
Stop = Callable[[list[tuple[int, str | None]]], tuple[str | None] | None]


def tokens(samples: Sequence[Sample]) -> int:
    return sum(max(1, s[1]) for s in samples)


def full(samples: Sequence[Sample]) -> Run:
    return Run(majority_vote([s[0] for s in samples]).answer, tokens(samples), False)


def simulate(samples: Sequence[Sample], parallel: int, stop: Stop, straggler: float = 0.0) -> Run:
    """One problem run live: lockstep decoding, cancellation when ``stop`` fires, stragglers
    cut (at the first token past the limit, as the pool checks each token)."""
    running: dict[int, int] = {}  # index -> step it started at
    done: list[tuple[int, str | None]] = []
    lengths: list[int] = []
    launched, now, spent = 0, 0, 0

    def launch() -> None:
        nonlocal launched
        running[launched] = now
        launched += 1

    for _ in range(min(parallel, len(samples))):
        launch()
    while running:
        limit = straggler_limit(lengths, straggler)
        cut_at = None if limit is None else limit + 1  # the first token past the limit
        events = []
        for index, started in running.items():
            end, cut = started + max(1, samples[index][1]), False
            if cut_at is not None and started + cut_at < end:
                end, cut = max(started + cut_at, now + 1), True
            events.append((end, index, cut))
        now, index, cut = min(events)
        started = running.pop(index)
        if cut:
            spent += now - started
        else:
            spent += max(1, samples[index][1])
            lengths.append(max(1, samples[index][1]))
            done.append((index, samples[index][0]))
            answer = stop(done)
            if answer is not None:
                spent += sum(now - s for s in running.values())  # cancelled
                return Run(answer[0], spent, True)
        if launched < len(samples):
            launch()
    return Run(majority_vote([a for _, a in sorted(done)]).answer, spent, False)


def esc(window: int, parallel: int, straggler: float) -> Rule:
    """``early_stopping_sc``'s own rule (``window_unanimous``) and answer (``group_of``)."""

    def stop(done: list[tuple[int, str | None]]) -> tuple[str | None] | None:
        if not window_unanimous([a for _, a in done], window):
            return None
        ordered = sorted(done)  # the window's group, in its most common form overall
        vote = majority_vote([a for _, a in ordered])
        return (group_of(vote, ordered.index(done[-1])).answer,)

    return lambda samples: simulate(samples, parallel, stop, straggler)


def adaptive(threshold: float, parallel: int, straggler: float, rule_name: str = "beta") -> Rule:
    """``adaptive_consistency``'s own statistic (``leader_probability``)."""

    def stop(done: list[tuple[int, str | None]]) -> tuple[str | None] | None:
        answers = [a for _, a in sorted(done)]
        if leader_probability(answers, rule_name) >= threshold:
            return (majority_vote(answers).answer,)
        return None

    return lambda samples: simulate(samples, parallel, stop, straggler)


def decided(samples: Sequence[Sample]) -> Run:
    """Stop once the samples left cannot change the full vote's leader (no loss at all)."""
    for end in range(1, len(samples) + 1):
        counts = sorted(
            (len(g) for g in group_answers([s[0] for s in samples[:end]])), reverse=True
        )
        counts += [0, 0]  # answers may all be missing so far
        if counts[0] - counts[1] > len(samples) - end:
            answer = majority_vote([s[0] for s in samples[:end]]).answer
            return Run(answer, tokens(samples[:end]), end < len(samples))
    return full(samples)


STRAGGLERS = (0.0, 3.0, 4.0, 5.0, 6.0)
RULES: dict[str, Rule] = {
    "decided (exact)": decided,
    **{
        f"esc w={w} par {k} straggler {f:g}": esc(w, k, f)
        for w in (2, 3)
        for k in (2, 4)
        for f in STRAGGLERS
    },
    **{
        f"ac beta {t} par {k} straggler {f:g}": adaptive(t, k, f)
        for t in (0.75, 0.8, 0.85, 0.9)
        for k in (1, 2, 4, 8)
        for f in STRAGGLERS
    },
    "ac dirichlet 0.8 par 4 straggler 4": adaptive(0.8, 4, 4.0, "dirichlet"),
    "ac dirichlet 0.95 par 4 straggler 4": adaptive(0.95, 4, 4.0, "dirichlet"),
}


def load(directory: Path, n: int) -> dict[str, list[list[Sample]]]:
    path = directory / "results.sqlite"
    if not path.is_file():  # connecting would create an empty store
        raise SystemExit(f"{path} does not exist: give the --out directory of a ponder eval run")
    db = sqlite3.connect(path)
    rows = db.execute("SELECT task, strategy, record FROM results").fetchall()
    tasks: dict[str, list[list[Sample]]] = {}
    for task, strategy, record in rows:
        config = json.loads(strategy.split(":", 1)[1])
        if not strategy.startswith("self_consistency:") or config.get("n") != n:
            continue
        data = json.loads(record)
        samples = [
            (c["answer"], c["completion_tokens"], bool(c["correct"]), c["text"])
            for c in sorted(data["candidates"], key=lambda c: c["index"])
        ]
        tasks.setdefault(task.split(":", 1)[0], []).append(samples)
    if not tasks:
        raise SystemExit(f"no self_consistency n={n} results in {directory}")
    return tasks


def store_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every replay takes: the eval stores, and the n of their SC pool."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("directories", type=Path, nargs="+")
    parser.add_argument("--n", type=int, default=16)
    return parser


def correct(samples: Sequence[Sample], answer: str | None) -> bool:
    return answer is not None and any(s[0] == answer and s[2] for s in samples)


def replay(problems: Sequence[Sequence[Sample]]) -> dict[str, tuple[int, float]]:
    """Each rule's problems solved against SC@n's, and its share of SC@n's tokens."""
    pool_tokens = sum(tokens(p) for p in problems)
    base = sum(correct(p, full(p).answer) for p in problems)
    out = {}
    for label, rule in RULES.items():
        solved, spent = 0, 0
        for p in problems:
            run = rule(p)
            solved += correct(p, run.answer)
            spent += run.tokens
        out[label] = (solved - base, spent / pool_tokens)
    return out


def orders(problems: Sequence[Sequence[Sample]], count: int) -> list[list[Sequence[Sample]]]:
    """``count`` orders of every pool: the stored one, then random ones (seeded, so a replay
    is reproducible)."""
    rng = random.Random(0)
    out: list[list[Sequence[Sample]]] = [list(problems)]
    for _ in range(count - 1):
        out.append([rng.sample(list(p), len(p)) for p in problems])
    return out


def expected(problems: Sequence[Sequence[Sample]], count: int) -> dict[str, tuple[float, float]]:
    """``replay`` averaged over ``count`` random orders of every pool (the first is the stored
    order). The samples of a pool are exchangeable, so one order is one draw of luck for a
    stopping rule (SC@n's vote does not depend on the order, except for ties)."""
    total: dict[str, tuple[float, float]] = {}
    for order in orders(problems, count):
        for label, (delta, share) in replay(order).items():
            d, sh = total.get(label, (0.0, 0.0))
            total[label] = (d + delta / count, sh + share / count)
    return total


def never(done: list[tuple[int, str | None]]) -> tuple[str | None] | None:
    """No stopping rule: every sample is drawn (stragglers may still be cut)."""
    return None


def defaults() -> dict[str, Rule]:
    """The strategies' default settings, read from their configs, and the straggler cut alone
    (no stopping rule) at each default factor."""
    e, a = EarlyStoppingConfig(), AdaptiveConsistencyConfig()
    return {
        f"esc default (w={e.window} par {e.parallel} straggler {e.straggler:g})": esc(
            e.window, e.parallel, e.straggler
        ),
        f"  no rule, straggler {e.straggler:g}": lambda p: simulate(
            p, e.parallel, never, e.straggler
        ),
        f"ac default ({a.rule} {a.threshold} par {a.parallel} straggler {a.straggler:g})": (
            adaptive(a.threshold, a.parallel, a.straggler, a.rule)
        ),
        f"  no rule, straggler {a.straggler:g}": lambda p: simulate(
            p, a.parallel, never, a.straggler
        ),
    }


#: strata by the share of a problem's n samples in its largest answer group
AGREEMENT = ((0.0, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 1.01))


def agreement(samples: Sequence[Sample]) -> float:
    groups = group_answers([s[0] for s in samples if s[0] is not None])
    return max((len(g) for g in groups), default=0) / len(samples)


def strata(problems: Sequence[Sequence[Sample]]) -> None:
    """The defaults by how much a problem's samples agree. A model that is strong on a task
    gives mostly high-agreement problems, so the last rows show how the rules spend on one;
    the first rows are where they cannot stop early: no window is unanimous and no leader
    pulls ahead, so every sample is drawn."""
    runs = {name: [rule(p) for p in problems] for name, rule in defaults().items()}
    print("\nthe defaults by agreement (the share of the 16 samples in the largest answer group)")
    for low, high in AGREEMENT:
        group = [i for i, p in enumerate(problems) if low <= agreement(p) < high]
        if not group:
            continue
        base = sum(correct(problems[i], full(problems[i]).answer) for i in group)
        pool_tokens = sum(tokens(problems[i]) for i in group)
        label = f"{low:.0%}-{min(high, 1.0):.0%}"
        print(f"  agreement {label}: {len(group)} problems, SC@16 solves {base}")
        for name, each in runs.items():
            solved = sum(correct(problems[i], each[i].answer) for i in group)
            share = sum(each[i].tokens for i in group) / pool_tokens
            fired = sum(each[i].stopped for i in group)
            print(
                f"    {name:44s} solves {solved:3d} ({solved - base:+d})  tokens {share:6.1%}"
                f"  stopped early on {fired}"
            )
    total = sum(tokens(p) for p in problems)
    print("  share of SC@16's tokens spent, and spent on problems where the rule never fired:")
    for name, each in runs.items():
        if name.strip().startswith("no rule"):
            continue
        spent = sum(r.tokens for r in each) / total
        unfired = sum(r.tokens for r in each if not r.stopped) / total
        print(f"    {name:44s} {spent:6.1%}, {unfired:6.1%} where it never fired")


def main() -> None:
    parser = store_parser(__doc__.splitlines()[0])
    parser.add_argument("--pick", action="store_true", help="name the cheapest safe settings")
    parser.add_argument("--margin", type=int, default=80, help="lose at most 1 problem in this")
    parser.add_argument(
        "--orders",
        type=int,
        default=1,
        help="pick on the mean over this many random orders of each pool (1: the stored order)",
    )
    parser.add_argument(
        "--strata", action="store_true", help="the defaults by agreement, over all stores given"
    )
    args = parser.parse_args()
    everything: list[list[Sample]] = []
    for directory in args.directories:
        tasks = load(directory, args.n)
        problems = [p for ps in tasks.values() for p in ps]
        everything += problems
        for name, group in [*tasks.items(), ("all", problems)]:
            base = sum(correct(p, full(p).answer) for p in group)
            print(f"\n{directory} {name}: {len(group)} problems, SC@{args.n} solves {base}")
            for label, (delta, share) in replay(group).items():
                print(f"  {label:36s} solves {base + delta:3d} ({delta:+d})  tokens {share:6.1%}")
    if args.strata:
        strata(everything)
    if not args.pick:
        return
    allowed = len(everything) // args.margin
    print(
        f"\nover all {len(everything)} problems given: the cheapest setting losing at most "
        f"{allowed} (1 in {args.margin})"
    )
    if args.orders > 1:
        print(f"(the mean over {args.orders} random orders of each pool)")
    results = expected(everything, args.orders)
    for prefix in ("esc", "ac beta"):
        safe = [(share, label) for label, (d, share) in results.items() if label.startswith(prefix)]
        safe = [(share, label) for share, label in safe if results[label][0] >= -allowed]
        share, label = min(safe)
        print(f"  {label:36s} {results[label][0]:+.1f}  tokens {share:6.1%}")


if __name__ == "__main__":
    main()
