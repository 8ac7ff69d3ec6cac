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
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.eval.estimators import interval, maj_at_k, pass_at_k
from ponder.eval.flops import estimate_flops
from ponder.eval.runner import Plan, Setting, TaskPlan
from ponder.eval.store import Store


def summarize(
    plan: Plan, store: Store, *, elapsed: float | None = None, started: float | None = None
) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    by_key = {s.key: s for s in plan.settings}
    for task in plan.tasks:
        pools: dict[str, dict[str, dict[str, Any]]] = {}
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


def _run_row(
    task: TaskPlan, setting: Setting, records: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    rows = list(records.values())
    row = _base_row(task, setting, [1.0 if r["correct"] else 0.0 for r in rows])
    usage = [r["usage"] for r in rows]
    walls = [r["wall_seconds"] for r in rows]
    flops = [r["flops"] for r in rows]
    row.update(
        mean_score=_mean([r["score"] for r in rows]),
        prompt_tokens_mean=_mean([u["prompt_tokens"] for u in usage]),
        cached_prompt_tokens_mean=_mean([u["cached_prompt_tokens"] for u in usage]),
        completion_tokens_mean=_mean([u["completion_tokens"] for u in usage]),
        tokens_mean=_mean([u["prompt_tokens"] + u["completion_tokens"] for u in usage]),
        wall_seconds=sum(walls) if rows else None,
        latency_mean=_mean(walls),
        flops_mean=None if not rows or None in flops else _mean(flops),
        samples=_mean([len(r["candidates"]) for r in rows]),
        estimated=False,
        estimated_from=None,
    )
    return row


def _estimated_row(
    task: TaskPlan,
    setting: Setting,
    pool: Setting,
    records: dict[str, dict[str, Any]],
    plan: Plan,
) -> dict[str, Any]:
    k = setting.k
    assert k is not None
    rows = [r for r in records.values() if len(r["candidates"]) >= k]
    values = [_maj(r, k) for r in rows]
    row = _base_row(task, setting, values)
    prompt, cached, completion, flops = [], [], [], []
    for r in rows:
        u, n = r["usage"], len(r["candidates"])
        prompt.append(u["prompt_tokens"])
        cached.append(u["cached_prompt_tokens"])
        completion.append(u["completion_tokens"] * k / n)
        if plan.model_shape and r["flops"] is not None:
            prefill = estimate_flops(
                plan.model_shape,
                prompt_tokens=u["prompt_tokens"],
                cached_prompt_tokens=u["cached_prompt_tokens"],
                completion_tokens=0,
                calls=r["calls"],
            )
            flops.append(prefill + (r["flops"] - prefill) * k / n)
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


def _maj(record: dict[str, Any], k: int) -> float:
    groups = record["groups"]
    return maj_at_k(
        [len(g["members"]) for g in groups],
        [1.0 if g["score"] >= 1.0 else 0.0 for g in groups],
        record["abstained"],
        k,
    )


def _curve(task: TaskPlan, setting: Setting, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rows = list(records.values())
    if not rows or "n" not in setting.config:
        return {}
    n = min(len(r["candidates"]) for r in rows)
    if n < 1:
        return {}
    ks = list(range(1, n + 1))
    passes, majs = [], []
    for k in ks:
        passes.append(
            _mean([pass_at_k(n, sum(c["correct"] for c in r["candidates"][:n]), k) for r in rows])
        )
        if task.kind == "answer" and all(len(r["candidates"]) == n for r in rows):
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


# -- presentation


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _flops(value: float | None) -> str:
    if value is None:
        return "-"
    exponent = int(math.floor(math.log10(value))) if value > 0 else 0
    return f"{value / 10**exponent:.2f}e{exponent}"


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    header = [
        "task",
        "strategy",
        "problems",
        "accuracy [95% CI]",
        "prompt tok",
        "completion tok",
        "wall s",
        "FLOPs/problem",
    ]
    rows = [header]
    for r in summary["results"]:
        acc = (
            "-"
            if r["accuracy"] is None
            else (f"{r['accuracy']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
        )
        label = r["strategy"] + (" (est.)" if r["estimated"] else "")
        rows.append(
            [
                r["task"],
                label,
                f"{r['n_problems']}/{r['n_planned']}",
                acc,
                _fmt(r["prompt_tokens_mean"]),
                _fmt(r["completion_tokens_mean"]),
                _fmt(r["wall_seconds"]),
                _flops(r["flops_mean"]),
            ]
        )
    return rows


def format_table(summary: dict[str, Any]) -> str:
    """The results as an aligned text table."""
    rows = table_rows(summary)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _markdown_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
    return "\n".join(out)


def _curve_rows(curve: dict[str, Any]) -> list[list[str]]:
    ks = [k for k in curve["k"] if k & (k - 1) == 0 or k == curve["n"]]
    rows = [["k", *map(str, ks)], ["pass@k", *(f"{curve['pass_at_k'][k - 1]:.3f}" for k in ks)]]
    if curve["maj_at_k"]:
        rows.append(["maj@k", *(f"{curve['maj_at_k'][k - 1]:.3f}" for k in ks)])
    return rows


def write_report(summary: dict[str, Any], directory: Path) -> list[Path]:
    """Write ``summary.json``, ``report.md`` and the PNG plots; return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "summary.json", directory / "report.md"]
    written[0].write_text(json.dumps(summary, indent=2) + "\n")
    plots = draw_plots(summary, directory)
    written += plots
    written[1].write_text(_markdown(summary, plots))
    return written


def _markdown(summary: dict[str, Any], plots: list[Path]) -> str:
    lines = ["# ponder eval report", ""]
    facts = [
        ("model", summary["model"]),
        ("seed", summary["seed"]),
        ("problems per task", summary["limit"] or "all"),
        ("started", summary["started"]),
        ("elapsed", f"{summary['elapsed_seconds']} s" if summary["elapsed_seconds"] else None),
        ("command", f"`{summary['command']}`" if summary["command"] else None),
    ]
    lines += [f"- {name}: {value}" for name, value in facts if value is not None]
    for task in summary["tasks"]:
        lines += ["", f"## {task['task']}", "", f"Arguments: `{json.dumps(task['args'])}`", ""]
        rows = table_rows(
            {"results": [r for r in summary["results"] if r["task_key"] == task["key"]]}
        )
        lines.append(_markdown_table(rows))
        for curve in summary["curves"]:
            if curve["task_key"] == task["key"]:
                lines += [
                    "",
                    f"Scaling from one pool: `{curve['strategy']}` "
                    f"({curve['n']} samples x {curve['n_problems']} problems)",
                    "",
                ]
                lines.append(_markdown_table(_curve_rows(curve)))
        for plot in plots:
            if plot.name.startswith(_slug(task["task"]) + "_"):
                lines += ["", f"![{plot.stem}]({plot.name})"]
    lines += ["", "## Method", "", _METHOD]
    return "\n".join(lines) + "\n"


_METHOD = """\
- Accuracy: the fraction of problems the task's scorer marks correct. 95% interval: Wilson's
  score interval for 0/1 outcomes; a percentile bootstrap over problems (10,000 resamples)
  for settings estimated from a pool, whose per-problem values are probabilities.
- Settings marked (est.) did not run: they are computed from the largest setting of the same
  strategy with the unbiased maj@k estimator over all k-subsets of its samples (ties split
  evenly), and charged the expected tokens of k samples (the prompt once, k/N of the rest).
- pass@k: Chen et al. 2021's unbiased estimator, 1 - C(N-c, k)/C(N, k).
- Tokens are per problem, as the backend counted them: a prompt shared by n samples counts
  once per request. Wall time is per-problem latency summed over the setting's problems.
- FLOPs: 2 N (prefilled + generated tokens) + 2 n_layer d_model (attended positions) (Kaplan
  et al. 2020), with cached prompt tokens not charged again.
"""


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both cost (lower) and accuracy (higher),
    in order of cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def draw_plots(summary: dict[str, Any], directory: Path) -> list[Path]:
    """Per task: accuracy against tokens per problem (Pareto frontier marked) and, where a
    pool of samples was drawn, pass@k and maj@k against k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for task in summary["tasks"]:
        rows = [
            r
            for r in summary["results"]
            if r["task_key"] == task["key"] and r["accuracy"] is not None and r["tokens_mean"]
        ]
        slug = _slug(task["task"])
        if rows:
            fig, ax = plt.subplots(figsize=(7, 4.5))
            xs = [r["tokens_mean"] for r in rows]
            ys = [r["accuracy"] for r in rows]
            errors = [  # rounding can put a bound a hair past its point
                [max(0.0, y - r["ci_low"]) for y, r in zip(ys, rows, strict=True)],
                [max(0.0, r["ci_high"] - y) for y, r in zip(ys, rows, strict=True)],
            ]
            for i, r in enumerate(rows):
                ax.errorbar(
                    [xs[i]],
                    [ys[i]],
                    yerr=[[errors[0][i]], [errors[1][i]]],
                    fmt="o",
                    capsize=3,
                    color="tab:blue",
                    mfc="white" if r["estimated"] else "tab:blue",
                    alpha=0.85,
                )
            for x, y, r in zip(xs, ys, rows, strict=True):
                ax.annotate(
                    r["strategy"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7
                )
            front = pareto_front(list(zip(xs, ys, strict=True)))
            ax.plot(
                [xs[i] for i in front],
                [ys[i] for i in front],
                "--",
                color="tab:red",
                label="Pareto frontier",
            )
            ax.set_xscale("log")
            ax.set_xlabel("tokens per problem (prompt + completion)")
            ax.set_ylabel("accuracy (95% CI)")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(
                f"{task['task']}: accuracy against compute (hollow: estimated from a pool)"
            )
            ax.legend(loc="lower right")
            fig.tight_layout()
            path = directory / f"{slug}_accuracy_vs_tokens.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
        curves = [c for c in summary["curves"] if c["task_key"] == task["key"] and c["n"] > 1]
        if curves:
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for curve in curves:
                ax.plot(curve["k"], curve["pass_at_k"], "o-", label=f"pass@k  {curve['strategy']}")
                if curve["maj_at_k"]:
                    ax.plot(
                        curve["k"], curve["maj_at_k"], "s--", label=f"maj@k  {curve['strategy']}"
                    )
            ax.set_xscale("log", base=2)
            ax.set_xlabel("k (samples)")
            ax.set_ylabel("fraction of problems")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{task['task']}: coverage and majority vote against samples")
            ax.legend(fontsize=7)
            fig.tight_layout()
            path = directory / f"{slug}_scaling.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written
