"""From stored records to numbers, tables and plots.

``summarize(plan, store)`` computes, for every task and strategy setting of a run:

- ``accuracy``: the fraction of problems answered correctly (the task scorer's verdict), with
  a 95% interval: Wilson's score interval when every per-problem value is 0 or 1, a
  percentile bootstrap over problems (10,000 resamples, fixed seed) otherwise (settings
  estimated from a larger pool, whose per-problem values are maj@k probabilities);
- ``mean_score``: the mean of the task's own score (reasoning-gym gives partial credit);
- tokens per problem: ``prompt_tokens_mean`` (one prompt per request, cached or not),
  ``cached_prompt_tokens_mean`` (served from a prefix cache), ``prompt_computed_mean`` (the
  rest: what the model computed), ``completion_tokens_mean`` (of which
  ``reasoning_tokens_mean`` thinking), ``tokens_mean`` (prompt plus
  completion, as APIs bill) and ``computed_tokens_mean`` (computed prompt plus completion:
  the plots' cost axis);
- time: ``elapsed_seconds`` (from the setting's first problem starting to its last
  finishing; settings run interleaved, so their spans overlap), ``latency_p50``,
  ``latency_p90`` and ``latency_mean`` per problem, and ``busy_seconds`` (the problems'
  latencies summed: busy time, not elapsed time); ``null`` for estimated settings, which did
  not run;
- ``cut_off_share``: the share of the setting's samples cut off at ``max_tokens`` (they abstain
  unless the setting keeps them); ``loop_share``: the share ended by the loop stop
  (``loop_repeats``; they abstain likewise);
- ``read_shares``: the share of the setting's samples whose answer each path read (the
  rules' ``declared`` form, ``boxed``, the rules' ``fallback`` reading of prose, the
  ``model``: ``reader=``) and the share that ``abstained``;
- ``flops_mean``: estimated FLOPs per problem (``ponder.eval.flops``), null when the model's
  shape is unknown.

A setting estimated from a pool (``estimated_from`` names the setting that ran) takes its
accuracy from the maj@k estimator and its tokens as the expected cost of k of the pool's N
samples: the prompt once, k/N of the completion tokens and of the samples' FLOPs.

``curves`` holds, for every setting that drew a pool of N samples, pass@k (coverage) and
maj@k (answer tasks only) for k = 1..N, averaged over problems. Tables and curves use one rule:
below N, maj@k is the unbiased estimator (ties split evenly), as the estimated rows; at N, for
a setting whose answer is the plain majority vote, its own votes (ties to the earliest
sample), as its row: so the curve's last point and the table's row never disagree.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any

from ponder.errors import ConfigError
from ponder.eval.estimators import interval, maj_at_k, pass_at_k
from ponder.eval.flops import estimate_flops
from ponder.eval.kinetics import DEFAULT_HARDWARE, intensity_of, record_cost
from ponder.eval.paired import compare as paired_compare
from ponder.eval.paired import significant
from ponder.eval.records import ProblemRecord
from ponder.eval.scope import Plan, Setting, TaskPlan
from ponder.eval.store import Store


def summarize(
    plan: Plan,
    store: Store,
    *,
    elapsed: float | None = None,
    started: float | None = None,
    compare: Sequence[tuple[str, str]] = (),
    hardware: str | float = DEFAULT_HARDWARE,
) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    intensity = intensity_of(hardware)
    curves: list[dict[str, Any]] = []
    by_key = {s.key: s for s in plan.settings}
    spans: list[ProblemRecord] = []
    values: dict[tuple[str, str], dict[str, float]] = {}
    _check_labels(plan, compare)
    for task in plan.tasks:
        pools: dict[str, dict[str, ProblemRecord]] = {}
        for setting in plan.run_settings:
            pools[setting.key] = store.records(
                task.key, setting.key, plan.model, plan.seed, task.problems
            )
            spans += pools[setting.key].values()
        for setting in plan.settings:
            if setting.estimated:
                assert setting.pool is not None and setting.k is not None
                records = pools[setting.pool]
                row = _estimated_row(task, setting, by_key[setting.pool], records, plan)
                row["eflops_mean"] = _eflops(plan, records.values(), intensity, setting.k)
                values[task.key, setting.label] = {
                    pid: _maj(r, setting.k)
                    for pid, r in records.items()
                    if len(r.candidates) >= setting.k
                }
            else:
                row = _run_row(task, setting, pools[setting.key])
                row["eflops_mean"] = _eflops(plan, pools[setting.key].values(), intensity)
                values[task.key, setting.label] = {
                    pid: 1.0 if r.correct else 0.0 for pid, r in pools[setting.key].items()
                }
            results.append(row)
        for setting in plan.run_settings:
            curve = _curve(task, setting, pools[setting.key])
            if curve:
                curves.append(curve)
    _mark_frontier(results, values)
    comparisons = []
    for a, b in compare:
        comparisons += [
            {"task": task.name, "task_key": task.key, "a": a, "b": b}
            | paired_compare(values[task.key, a], values[task.key, b])
            for task in plan.tasks
        ]
        if len(plan.tasks) > 1:
            # every task's problems pooled: one paired difference over the whole suite
            pooled_a, pooled_b = (
                {
                    f"{task.key}/{pid}": value
                    for task in plan.tasks
                    for pid, value in values[task.key, label].items()
                }
                for label in (a, b)
            )
            comparisons.append(
                {"task": "all tasks", "task_key": None, "a": a, "b": b}
                | paired_compare(pooled_a, pooled_b)
            )
    return {
        "model": plan.model,
        "seed": plan.seed,
        "limit": plan.limit,
        "command": plan.command,
        "environment": plan.environment,
        # the results' own span (a re-run that ran nothing keeps the original timing); the
        # run's clock where records carry no timestamps
        "started": _iso(first) if (first := _first(spans) or started) else None,
        "elapsed_seconds": _span(spans)
        if _span(spans) is not None
        else (round(elapsed, 3) if elapsed is not None else None),
        "model_shape": plan.model_shape and dataclasses.asdict(plan.model_shape),
        "hardware": {"name": str(hardware), "intensity": intensity},
        "tasks": [
            {
                "task": t.name,
                "key": t.key,
                "kind": t.kind,
                "args": t.args,
                "problems": len(t.problems),
            }
            for t in plan.tasks
        ],
        "results": results,
        "curves": curves,
        "comparisons": comparisons,
    }


def _eflops(plan: Plan, records: Any, intensity: float, k: int | None = None) -> float | None:
    """The mean Kinetics cost per problem (``ponder.eval.kinetics``); for a setting estimated
    at k from a pool, the cost of the pool's first k samples (i.i.d. draws), with the
    completion tokens no candidate accounts for scaled by k/N."""
    costs = []
    for r in records:
        tokens = [c.completion_tokens for c in r.candidates]
        n = len(tokens)
        if k is not None and n < k:
            continue
        rest = r.usage.completion_tokens - sum(tokens)
        kept = tokens[:k] if k is not None else tokens
        cost = record_cost(
            plan.model_shape,
            prompt_tokens=r.usage.prompt_tokens,
            completion_tokens=sum(kept) + (rest * (k or n) // max(n, 1)),
            calls=r.calls,
            sample_tokens=kept,
            intensity=intensity,
        )
        if cost is None:
            return None
        costs.append(cost)
    return _mean(costs)


def _check_labels(plan: Plan, compare: Sequence[tuple[str, str]]) -> None:
    labels = [s.label for s in plan.settings]
    for pair in compare:
        for label in pair:
            if label not in labels:
                raise ConfigError(
                    f"--compare names {label!r}, which is not a setting of this run; its "
                    f"settings: {', '.join(labels)}"
                )
        if pair[0] == pair[1]:
            raise ConfigError(f"--compare needs two different settings, not {pair[0]!r} twice")


def _mark_frontier(
    results: list[dict[str, Any]], values: dict[tuple[str, str], dict[str, float]]
) -> None:
    """Per task: ``frontier`` (no other setting is at least as accurate for fewer computed
    tokens, or more accurate for as few), and ``beaten_by``: the cheapest setting that costs
    no more and is more accurate with significance on the shared problems (paired)."""
    for row in results:
        peers = [r for r in results if r["task_key"] == row["task_key"] and r is not row]
        cost, accuracy = row.get("computed_tokens_mean"), row["accuracy"]
        row["frontier"] = (
            cost is not None
            and accuracy is not None
            and not any(_dominates(r, cost, accuracy) for r in peers)
        )
        row["beaten_by"] = None
        row["beaten_p"] = None
        if cost is None or accuracy is None:
            continue
        mine = values[row["task_key"], row["strategy"]]
        rivals = sorted(
            (
                r
                for r in peers
                if r.get("computed_tokens_mean") is not None
                and r["computed_tokens_mean"] <= cost
                and (r["accuracy"] or 0.0) > accuracy
            ),
            key=lambda r: r["computed_tokens_mean"],
        )
        for rival in rivals:
            test = paired_compare(values[rival["task_key"], rival["strategy"]], mine)
            if significant(test) and (test["difference"] or 0.0) > 0:
                row["beaten_by"] = rival["strategy"]
                row["beaten_p"] = test["p_value"]
                break


def _dominates(other: dict[str, Any], cost: float, accuracy: float) -> bool:
    theirs, their_accuracy = other.get("computed_tokens_mean"), other["accuracy"]
    if theirs is None or their_accuracy is None:
        return False
    return bool(
        (theirs <= cost and their_accuracy > accuracy)
        or (theirs < cost and their_accuracy >= accuracy)
    )


def _first(records: Sequence[ProblemRecord]) -> float | None:
    starts = [r.started for r in records if r.started is not None]
    return min(starts) if starts else None


def _span(records: Sequence[ProblemRecord]) -> float | None:
    """From the first record's start to the last one's finish (None without timestamps)."""
    starts = [r.started for r in records if r.started is not None]
    ends = [r.finished for r in records if r.finished is not None]
    if not starts or not ends or len(starts) != len(records):
        return None
    return round(max(ends) - min(starts), 3)


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values (linear interpolation), None when empty."""
    if not ordered:
        return None
    at = q * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="seconds")


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _base_row(task: TaskPlan, setting: Setting, values: list[float]) -> dict[str, Any]:
    if values:
        low, high, method = interval(values)
    else:
        low, high, method = 0.0, 1.0, "none"
    return {
        "task": task.name,
        "task_key": task.key,
        "strategy": setting.label,
        "name": setting.name,
        "options": setting.config,
        "setting_key": setting.key,
        "n_problems": len(values),
        "n_planned": len(task.problems),
        "accuracy": _mean(values),
        "ci_low": low,
        "ci_high": high,
        "ci_method": method,
    }


def _run_row(task: TaskPlan, setting: Setting, records: dict[str, ProblemRecord]) -> dict[str, Any]:
    rows = list(records.values())
    row = _base_row(task, setting, [1.0 if r.correct else 0.0 for r in rows])
    usage = [r.usage for r in rows]
    walls = sorted(r.wall_seconds for r in rows)
    flops = [r.flops for r in rows]
    candidates = [c for r in rows for c in r.candidates]
    row.update(
        mean_score=_mean([r.score for r in rows]),
        prompt_tokens_mean=_mean([u.prompt_tokens for u in usage]),
        cached_prompt_tokens_mean=_mean([u.cached_prompt_tokens for u in usage]),
        prompt_computed_mean=_mean([u.prompt_tokens - u.cached_prompt_tokens for u in usage]),
        completion_tokens_mean=_mean([u.completion_tokens for u in usage]),
        reasoning_tokens_mean=_mean([u.reasoning_tokens for u in usage]),
        tokens_mean=_mean([u.prompt_tokens + u.completion_tokens for u in usage]),
        computed_tokens_mean=_mean([r.computed_tokens for r in rows]),
        elapsed_seconds=_span(rows),
        latency_p50=_quantile(walls, 0.5),
        latency_p90=_quantile(walls, 0.9),
        busy_seconds=sum(walls) if rows else None,
        latency_mean=_mean(walls),
        cut_off_share=_mean([float(c.finish_reason == "length") for c in candidates]),
        loop_share=_mean([float(c.finish_reason == "repetition") for c in candidates]),
        read_shares=read_shares(candidates),
        flops_mean=None if not rows or None in flops else _mean([f or 0.0 for f in flops]),
        samples=_mean([len(r.candidates) for r in rows]),
        estimated=False,
        estimated_from=None,
    )
    return row


#: the paths an answer is read by (``Candidate.read_by``), and abstaining
READ_PATHS = ("declared", "boxed", "fallback", "model", "abstained")


def read_shares(candidates: list[Any]) -> dict[str, float] | None:
    """The share of samples each path read, and the share that abstained; None for stores
    written before readers were recorded (no sample says) or without samples."""
    if not candidates or all(c.read_by is None and c.answer is not None for c in candidates):
        return None
    counts = dict.fromkeys(READ_PATHS, 0)
    for c in candidates:
        if c.answer is None:
            counts["abstained"] += 1
        elif c.read_by in counts:
            counts[c.read_by] += 1
    total = len(candidates)
    shares = {path: count / total for path, count in counts.items()}
    checked = [c for c in candidates if getattr(c, "read_check", None) is not None]
    if checked:  # reader=compare: the share of compared samples whose two readings differ
        shares["differ"] = sum(c.read_check == "differ" for c in checked) / len(checked)
    return shares


def _estimated_row(
    task: TaskPlan,
    setting: Setting,
    pool: Setting,
    records: dict[str, ProblemRecord],
    plan: Plan,
) -> dict[str, Any]:
    k = setting.k
    assert k is not None
    rows = [r for r in records.values() if len(r.candidates) >= k]
    values = [_maj(r, k) for r in rows]
    row = _base_row(task, setting, values)
    prompt, cached, completion, flops, cut, loops = [], [], [], [], [], []
    for r in rows:
        u, n = r.usage, len(r.candidates)
        prompt.append(u.prompt_tokens)
        cached.append(u.cached_prompt_tokens)
        completion.append(u.completion_tokens * k / n)
        cut.append(sum(c.finish_reason == "length" for c in r.candidates) / n)
        loops.append(sum(c.finish_reason == "repetition" for c in r.candidates) / n)
        if plan.model_shape and r.flops is not None:
            prefill = estimate_flops(
                plan.model_shape,
                prompt_tokens=u.prompt_tokens,
                cached_prompt_tokens=u.cached_prompt_tokens,
                completion_tokens=0,
                calls=r.calls,
            )
            flops.append(prefill + (r.flops - prefill) * k / n)
    row.update(
        mean_score=row["accuracy"],
        prompt_tokens_mean=_mean(prompt),
        cached_prompt_tokens_mean=_mean(cached),
        prompt_computed_mean=_mean([p - c for p, c in zip(prompt, cached, strict=True)]),
        completion_tokens_mean=_mean(completion),
        tokens_mean=_mean([p + c for p, c in zip(prompt, completion, strict=True)]),
        computed_tokens_mean=_mean(
            [p - c + x for p, c, x in zip(prompt, cached, completion, strict=True)]
        ),
        elapsed_seconds=None,
        latency_p50=None,
        latency_p90=None,
        busy_seconds=None,
        latency_mean=None,
        cut_off_share=_mean(cut),
        loop_share=_mean(loops),
        flops_mean=_mean(flops) if flops and len(flops) == len(rows) else None,
        samples=float(k),
        estimated=True,
        estimated_from=pool.label,
    )
    return row


def _maj(record: ProblemRecord, k: int) -> float:
    groups = record.groups
    return maj_at_k(
        [len(g.members) for g in groups],
        [g.right for g in groups],
        record.abstained,
        k,
    )


def _curve(task: TaskPlan, setting: Setting, records: dict[str, ProblemRecord]) -> dict[str, Any]:
    rows = list(records.values())
    if not rows or "n" not in setting.config:
        return {}
    n = min(len(r.candidates) for r in rows)
    if n < 1:
        return {}
    ks = list(range(1, n + 1))
    passes, majs = [], []
    for k in ks:
        passes.append(
            _mean([pass_at_k(n, sum(c.correct for c in r.candidates[:n]), k) for r in rows])
        )
        if task.kind == "answer" and all(len(r.candidates) == n for r in rows):
            if k == n and setting.majority:  # the setting's own votes: the table's row
                majs.append(_mean([1.0 if r.correct else 0.0 for r in rows]))
            else:  # the unbiased estimator, as the estimated rows of the table
                majs.append(_mean([_maj(r, k) for r in rows]))
    return {
        "task": task.name,
        "task_key": task.key,
        "strategy": setting.label,
        "n": n,
        "n_problems": len(rows),
        "k": ks,
        "pass_at_k": passes,
        "maj_at_k": majs or None,
    }
