"""From stored records to numbers, tables and plots.

``summarize(plan, store)`` computes, for every task and strategy setting of a run:

- ``accuracy``: the fraction of problems answered correctly (the task scorer's verdict), with
  a 95% interval: Wilson's score interval when every per-problem value is 0 or 1, a
  percentile bootstrap over problems (10,000 resamples, fixed seed) otherwise (settings
  estimated from a larger pool, whose per-problem values are maj@k probabilities);
- ``mean_score``: the mean of the task's own score (reasoning-gym gives partial credit);
- tokens per problem: ``prompt_tokens_mean`` (one prompt per request, cached or not),
  ``cached_prompt_tokens_mean``, ``completion_tokens_mean``, ``tokens_mean`` (their sum);
- ``wall_seconds``: the summed wall time of the setting's problems (problems overlap when run
  concurrently, so this is latency summed, not the run's elapsed time; ``latency_mean`` is per
  problem); ``null`` for estimated settings, which did not run;
- ``flops_mean``: estimated FLOPs per problem (``ponder.eval.flops``), null when the model's
  shape is unknown.

A setting estimated from a pool (``estimated_from`` names the setting that ran) takes its
accuracy from the maj@k estimator and its tokens as the expected cost of k of the pool's N
samples: the prompt once, k/N of the completion tokens and of the samples' FLOPs.

``curves`` holds, for every setting that drew a pool of N samples, pass@k (coverage) and
maj@k (answer tasks only) for k = 1..N, averaged over problems.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from ponder.eval.estimators import interval, maj_at_k, pass_at_k
from ponder.eval.flops import estimate_flops
from ponder.eval.plan import Plan, Setting, TaskPlan
from ponder.eval.records import ProblemRecord
from ponder.eval.store import Store


def summarize(
    plan: Plan, store: Store, *, elapsed: float | None = None, started: float | None = None
) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    by_key = {s.key: s for s in plan.settings}
    for task in plan.tasks:
        pools: dict[str, dict[str, ProblemRecord]] = {}
        for setting in plan.run_settings:
            pools[setting.key] = store.records(
                task.key, setting.key, plan.model, plan.seed, task.problems
            )
        for setting in plan.settings:
            if setting.estimated:
                assert setting.pool is not None and setting.k is not None
                records = pools[setting.pool]
                row = _estimated_row(task, setting, by_key[setting.pool], records, plan)
            else:
                row = _run_row(task, setting, pools[setting.key])
            results.append(row)
        for setting in plan.run_settings:
            curve = _curve(task, setting, pools[setting.key])
            if curve:
                curves.append(curve)
    return {
        "model": plan.model,
        "seed": plan.seed,
        "limit": plan.limit,
        "command": plan.command,
        "started": _iso(started) if started else None,
        "elapsed_seconds": round(elapsed, 3) if elapsed is not None else None,
        "model_shape": plan.model_shape
        and {
            "n_params": plan.model_shape.n_params,
            "n_layer": plan.model_shape.n_layer,
            "d_model": plan.model_shape.d_model,
        },
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
    }


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
    walls = [r.wall_seconds for r in rows]
    flops = [r.flops for r in rows]
    row.update(
        mean_score=_mean([r.score for r in rows]),
        prompt_tokens_mean=_mean([u.prompt_tokens for u in usage]),
        cached_prompt_tokens_mean=_mean([u.cached_prompt_tokens for u in usage]),
        completion_tokens_mean=_mean([u.completion_tokens for u in usage]),
        tokens_mean=_mean([u.prompt_tokens + u.completion_tokens for u in usage]),
        wall_seconds=sum(walls) if rows else None,
        latency_mean=_mean(walls),
        flops_mean=None if not rows or None in flops else _mean([f or 0.0 for f in flops]),
        samples=_mean([len(r.candidates) for r in rows]),
        estimated=False,
        estimated_from=None,
    )
    return row


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
    prompt, cached, completion, flops = [], [], [], []
    for r in rows:
        u, n = r.usage, len(r.candidates)
        prompt.append(u.prompt_tokens)
        cached.append(u.cached_prompt_tokens)
        completion.append(u.completion_tokens * k / n)
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
        completion_tokens_mean=_mean(completion),
        tokens_mean=_mean([p + c for p, c in zip(prompt, completion, strict=True)]),
        wall_seconds=None,
        latency_mean=None,
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
