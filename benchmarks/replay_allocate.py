"""Replay ``allocate`` over recorded samples: one budget per task against uniform
self-consistency at the same tokens, and how the defaults ``settled`` and ``straggler`` were
chosen.

Reads the ``self_consistency`` pool (n=16 by default) of one or more eval stores. For each
budget, ``tokens_per_problem`` is SC@k's mean completion tokens per problem over the store, and
each task gets that times its number of problems, as ``ponder eval -s
allocate:tokens_per_problem=N`` gives it. The replay then runs ``ponder.strategies.allocate``
itself over a ``FunctionBackend`` that serves each problem's recorded samples: its rounds give
``initial`` samples to every problem, then one more per round to each problem whose vote is
not settled (the Beta probability that the leader is the majority below ``settled``), the least
settled first, up to 16. From the second round, a sample longer than ``straggler`` times the
median length of its problem's finished samples (the task's from earlier rounds, until the
problem has three) is cut there and has no answer, as ``ponder.strategies.allocate`` cuts it. A
problem's k-th sample is its pool's k-th, so the comparison with SC@k (the first k of each
pool) is paired. One order of a pool is one draw of luck (the first 8
samples may be a poor 8), so the replay runs ``--orders`` random orders of every pool (the
samples are exchangeable) and reports the mean over them, for allocate and SC@k alike. The
budget is spent as the live code spends it: a request is issued while the budget covers its
straggler limit or a quarter of ``max_tokens``, whichever is less, and one that would overrun
is cut at the budget (and has no answer).

Prints, per store and over all stores given, problems solved against SC@k for each
``settled``, ``straggler`` and ``initial``; ``--pick`` names the ``settled`` and ``straggler``
that solve the most over all budgets and stores given (``initial`` fixed at the default)::

    .venv/bin/python benchmarks/replay_allocate.py results/heldout-s1 results/heldout-s2 --pick

``--compare`` instead sets allocate, at its defaults, beside SC@8 and SC@16 and beside
per-problem stopping (``adaptive_consistency``, replayed as ``replay_stopping.py`` does), each
allocation given the tokens the rule spent on each task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ponder.core.problem import Problem
from ponder.core.types import Completion, GenerationRequest
from ponder.runtime import Budget, Context
from ponder.runtime.sampling import SamplingConfig
from ponder.scoring.answers import majority_vote
from ponder.strategies.allocate import AllocateConfig
from ponder.strategies.allocate import allocate as run_allocate
from ponder.strategies.early_stopping import AdaptiveConsistencyConfig
from ponder.testing import FunctionBackend
from replay_stopping import Sample, adaptive, correct, full, load, orders, store_parser, tokens

#: above 0.75, the Beta probability after one sample (1-0): at 0.75 or below a problem would
#: count as settled on its first sample
SETTLED = (0.8, 0.85, 0.9, 0.95)
#: straggler factors, as ``replay_stopping.py`` tries them for the stopping rules (0: off)
STRAGGLERS = (0.0, 3.0, 4.0, 5.0, 6.0)
INITIAL = (2, 3, 4)
BUDGETS = (4, 8)  # SC@k's tokens


def allocate(
    problems: Sequence[Sequence[Sample]],
    budget: int,
    *,
    initial: int,
    settled: float,
    straggler: float = 0.0,
    max_per_problem: int = 16,
    max_tokens: int = 256,
) -> int:
    """Problems solved by ``ponder.strategies.allocate`` itself spending ``budget`` completion
    tokens over ``problems``, every request served from the recorded samples: sample k of a
    problem is its pool's k-th (seed k), cut at the request's max_tokens."""
    questions = [Problem(f"recorded problem {i}", id=str(i)) for i in range(len(problems))]
    pools = {q.question: p for q, p in zip(questions, problems, strict=True)}

    def serve(request: GenerationRequest, index: int) -> Completion:
        assert request.messages is not None and request.params.seed is not None
        answer, length, _, text = pools[request.messages[-1].content][request.params.seed + index]
        length = max(1, length)
        if length > request.params.max_tokens:  # its straggler limit, or the budget's end
            return Completion(text, "length", request.params.max_tokens, index)
        return Completion(text, "stop", length, index)

    ctx = Context(FunctionBackend(serve), budget=Budget(completion_tokens=budget))
    sampling = SamplingConfig(max_tokens=max_tokens)
    shares = asyncio.run(
        run_allocate(
            questions,
            ctx,
            sampling=sampling,
            initial=initial,
            settled=settled,
            straggler=straggler,
            max_per_problem=max_per_problem,
            seed_of=lambda _: 0,
        )
    )
    return sum(correct(p, share.answer) for p, share in zip(problems, shares, strict=True))


def uniform(problems: Sequence[Sequence[Sample]], k: int) -> int:
    return sum(correct(p, majority_vote([s[0] for s in p[:k]]).answer) for p in problems)


def task_orders(
    tasks: dict[str, list[list[Sample]]], count: int
) -> list[dict[str, list[Sequence[Sample]]]]:
    """``orders`` of every pool, kept by task."""
    out = []
    for order in orders([p for ps in tasks.values() for p in ps], count):
        by_task, start = {}, 0
        for task, ps in tasks.items():
            by_task[task], start = order[start : start + len(ps)], start + len(ps)
        out.append(by_task)
    return out


def budget_per_problem(tasks: dict[str, list[list[Sample]]], k: int) -> int:
    """SC@k's mean completion tokens per problem (the same in every order, in expectation;
    taken over all k-subsets: k times the mean sample length)."""
    problems = [p for ps in tasks.values() for p in ps]
    return round(k * sum(tokens(p) for p in problems) / (len(problems) * len(problems[0])))


#: a setting of allocate: (settled, straggler)
Setting = tuple[float, float]
SETTINGS: tuple[Setting, ...] = tuple((s, f) for s in SETTLED for f in STRAGGLERS)


def replay(
    tasks: dict[str, list[list[Sample]]], count: int
) -> tuple[dict[int, float], dict[tuple[int, Setting, int], float]]:
    """SC@k's mean problems solved, and (budget k, (settled, straggler), initial) ->
    allocate's mean minus SC@k's, over ``count`` orders of the pools."""
    drawn = task_orders(tasks, count)
    base, out = {}, {}
    for k in BUDGETS:
        per_problem = budget_per_problem(tasks, k)
        base[k] = sum(uniform(p, k) for order in drawn for p in order.values()) / count
        for settled, straggler in SETTINGS:
            for initial in INITIAL:
                solved = sum(
                    allocate(
                        ps,
                        per_problem * len(ps),
                        initial=initial,
                        settled=settled,
                        straggler=straggler,
                    )
                    for order in drawn
                    for ps in order.values()
                )
                out[k, (settled, straggler), initial] = solved / count - base[k]
    return base, out


def label(setting: Setting) -> str:
    settled, straggler = setting
    return f"settled {settled:<4} straggler {straggler or 'off':<3}"


def compare(stores: dict[str, dict[str, list[list[Sample]]]], count: int) -> None:
    """allocate at its defaults against per-problem stopping at the same tokens, task by task:
    ``adaptive_consistency`` at its defaults, and with allocate's own rule one sample at a
    time; allocate gets, for each task, what the rule spent on it."""
    a, c = AdaptiveConsistencyConfig(), AllocateConfig.model_fields
    settled, straggler = c["settled"].default, c["straggler"].default
    initial = c["initial"].default
    rules = {
        "AC default": (
            f"adaptive_consistency default ({a.rule} {a.threshold}, {a.parallel} in flight, "
            f"straggler {a.straggler:g})",
            adaptive(a.threshold, a.parallel, a.straggler, a.rule),
        ),
        "allocate's rule": (
            f"allocate's rule per problem (beta {settled}, 1 in flight, straggler {straggler:g})",
            adaptive(settled, 1, straggler),
        ),
    }
    solved: dict[str, float] = {}
    spent: dict[str, float] = {}
    pool = 0

    def add(label: str, right: int, used: float) -> None:
        solved[label] = solved.get(label, 0) + right / count
        spent[label] = spent.get(label, 0) + used

    for tasks in stores.values():
        for order in task_orders(tasks, count):
            for task, ps in order.items():
                pool += sum(tokens(p) for p in ps)
                add("SC@16", sum(correct(p, full(p).answer) for p in ps), sum(map(tokens, ps)))
                add("SC@8", uniform(ps, 8), sum(tokens(p[:8]) for p in ps))
                budget = budget_per_problem({task: ps}, 8) * len(ps)
                for f in (straggler, 0.0):
                    right = allocate(ps, budget, initial=initial, settled=settled, straggler=f)
                    add(f"allocate at SC@8's tokens, straggler {f:g}", right, budget)
                for short, (label, rule) in rules.items():
                    runs = [rule(p) for p in ps]
                    used = sum(r.tokens for r in runs)
                    right = sum(correct(p, r.answer) for p, r in zip(ps, runs, strict=True))
                    add(label, right, used)
                    right = allocate(
                        ps, used, initial=initial, settled=settled, straggler=straggler
                    )
                    add(f"  allocate at the tokens {short} spent on each task", right, used)
    print(f"\nallocate against per-problem stopping (mean over {count} orders of each pool)")
    for label in solved:
        print(f"  {label:70s} solves {solved[label]:6.1f}  tokens {spent[label] / pool:6.1%}")


def main() -> None:
    parser = store_parser(__doc__.splitlines()[0])
    parser.add_argument("--pick", action="store_true", help="name the best settings")
    parser.add_argument("--orders", type=int, default=20, help="random orders of each pool")
    parser.add_argument(
        "--compare", action="store_true", help="against per-problem stopping at the same tokens"
    )
    args = parser.parse_args()
    if args.compare:
        stores = {str(d): load(d, args.n) for d in args.directories}
        compare(stores, args.orders)
        return
    total: dict[tuple[int, Setting, int], float] = {}
    for directory in args.directories:
        tasks = load(directory, args.n)
        problems = [p for ps in tasks.values() for p in ps]
        print(f"\n{directory}: {len(problems)} problems, mean over {args.orders} orders")
        base, results = replay(tasks, args.orders)
        for k in BUDGETS:
            print(
                f"  SC@{k} solves {base[k]:.1f} with {budget_per_problem(tasks, k)} tokens per "
                "problem; allocate at that tokens_per_problem solves, against it:"
            )
        for key, delta in results.items():
            total[key] = total.get(key, 0) + delta
        print("    " + " " * 26 + "".join(f"SC@{k} tokens, initial {INITIAL}  " for k in BUDGETS))
        for setting in SETTINGS:
            cells = "  ".join(
                " ".join(f"{results[k, setting, i]:+5.1f}" for i in INITIAL).ljust(27)
                for k in BUDGETS
            )
            print(f"    {label(setting)} {cells}")
    if not args.pick:
        return
    initial = AllocateConfig.model_fields["initial"].default
    print(f"\nover all stores given, initial={initial}: problems solved against SC@k")
    scores = {}
    for setting in SETTINGS:
        deltas = [total[k, setting, initial] for k in BUDGETS]
        scores[setting] = sum(deltas)
        print(f"  {label(setting)} " + "  ".join(f"{d:+.1f}" for d in deltas))
    best = max(SETTINGS, key=lambda s: (scores[s], s))
    print(f"  the most solved: settled={best[0]}, straggler={best[1]:g}")


if __name__ == "__main__":
    main()
