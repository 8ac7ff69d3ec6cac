"""Reports of a summary: the text table (rich), ``summary.json``, ``report.md`` and the plots.

See ``ponder.eval.summary`` for what the numbers mean.
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from ponder.eval.html import write_html
from ponder.eval.plots import draw_plots, slug


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
        "cached",
        "completion tok",
        "cut off",
        "elapsed s",
        "p50 s",
        "FLOPs/problem",
        "eFLOPs/problem",
        "frontier",
    ]
    thinking = any(r.get("reasoning_tokens_mean") for r in summary["results"])
    if thinking:  # reasoning models, or strategies that run the thinking themselves
        header.insert(header.index("completion tok") + 1, "of it thinking")
    rows = [header]
    for r in summary["results"]:
        acc = (
            "-"
            if r["accuracy"] is None
            else (f"{r['accuracy']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
        )
        label = r["strategy"] + (" (est.)" if r["estimated"] else "")
        row = [
            r["task"],
            label,
            f"{r['n_problems']}/{r['n_planned']}",
            acc,
            _fmt(r.get("prompt_computed_mean")),
            _fmt(r["cached_prompt_tokens_mean"]),
            _fmt(r["completion_tokens_mean"]),
            _cut(r),
            _fmt(r.get("elapsed_seconds")),
            _fmt(r.get("latency_p50"), 2),
            _flops(r["flops_mean"]),
            _flops(r.get("eflops_mean")),
            _standing(r),
        ]
        if thinking:
            row.insert(7, _fmt(r.get("reasoning_tokens_mean")))
        rows.append(row)
    return rows


def _standing(row: dict[str, Any]) -> str:
    """ "yes" on the accuracy-against-computed-tokens frontier; "beaten by X" when a setting
    that costs no more is more accurate with significance on the same problems."""
    if row.get("beaten_by"):
        p = row.get("beaten_p")
        return f"beaten by {row['beaten_by']}" + (f" (p={p:.3f})" if p is not None else "")
    return "yes" if row.get("frontier") else ""


def _cut(row: dict[str, Any]) -> str:
    """The share cut off at max_tokens, and the share the loop stop ended where there are any."""
    if row.get("cut_off_share") is None:
        return "-"
    loops = row.get("loop_share") or 0.0
    return f"{row['cut_off_share']:.0%}" + (f" +{loops:.0%} loop" if loops else "")


def read_rows(summary: dict[str, Any]) -> list[list[str]]:
    """Per run setting, the share of samples each path read (``read_shares``)."""
    paths = ("declared", "boxed", "fallback", "model", "abstained")
    compared = any("differ" in (r.get("read_shares") or {}) for r in summary["results"])
    rows = [["task", "strategy", *paths, *(["rules ≠ model"] if compared else [])]]
    for r in summary["results"]:
        shares = r.get("read_shares")
        if shares and not r.get("estimated"):
            differ = [f"{shares['differ']:.0%}" if "differ" in shares else "-"] if compared else []
            rows.append([r["task"], r["strategy"], *(f"{shares[p]:.0%}" for p in paths), *differ])
    return rows


def comparison_rows(summary: dict[str, Any]) -> list[list[str]]:
    """The paired comparisons (``ponder report --compare A B``) as table rows."""
    rows = [
        ["task", "A", "B", "problems", "A acc", "B acc", "A - B [95% CI]", "A only/B only", "p"]
    ]
    for c in summary.get("comparisons", []):
        if not c["problems"]:
            rows.append([c["task"], c["a"], c["b"], "0 shared", "-", "-", "-", "-", "-"])
            continue
        rows.append(
            [
                c["task"],
                c["a"],
                c["b"],
                f"{c['problems']}"
                + (
                    f" (+{c['only_a']}/{c['only_b']} unshared)"
                    if c["only_a"] or c["only_b"]
                    else ""
                ),
                f"{c['accuracy_a']:.3f}",
                f"{c['accuracy_b']:.3f}",
                f"{c['difference']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]",
                "-" if c["a_only"] is None else f"{c['a_only']}/{c['b_only']}",
                "-" if c["p_value"] is None else f"{c['p_value']:.4f}",
            ]
        )
    return rows


def format_table(summary: dict[str, Any]) -> str:
    """The results as an aligned text table (drawn by rich, as plain text), and the paired
    comparisons asked for, if any."""
    text = _text_table(table_rows(summary))
    if summary.get("comparisons"):
        text += "\n\npaired comparisons (McNemar's exact test, paired bootstrap interval):\n"
        text += _text_table(comparison_rows(summary))
    return text


def _text_table(rows: list[list[str]]) -> str:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in rows[0]:
        table.add_column(name, no_wrap=True)
    for row in rows[1:]:
        table.add_row(*row)
    console = Console(file=io.StringIO(), width=1000, color_system=None, highlight=False)
    with console.capture() as captured:
        console.print(table)
    return "\n".join(line.rstrip() for line in captured.get().splitlines()).strip("\n")


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


def write_report(
    summary: dict[str, Any], directory: Path, problems: list[dict[str, Any]] | None = None
) -> list[Path]:
    """Write ``summary.json``, ``report.md``, the PNG plots and ``report.html`` (with the
    per-problem view of ``problems``, from ``ponder.eval.html.problem_views``); return the
    files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "summary.json", directory / "report.md"]
    written[0].write_text(json.dumps(summary, indent=2) + "\n")
    plots = draw_plots(summary, directory)
    written += plots
    written[1].write_text(_markdown(summary, plots))
    tables = {
        task["key"]: _html_rows(
            table_rows({"results": [r for r in summary["results"] if r["task_key"] == task["key"]]})
        )
        for task in summary["tasks"]
    }
    written.append(write_html(summary, problems or [], plots, tables, directory / "report.html"))
    return written


def _html_rows(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:]
    )
    return f"<tr>{head}</tr>{body}"


def _environment(env: dict[str, Any] | None) -> str | None:
    """What produced the run, in a line: results move between CPUs and thread counts."""
    if not env:
        return None
    parts = [f"{k} {v}" for k, v in env.items() if k not in ("cpu_features",) and v is not None]
    if env.get("cpu_features"):
        parts.append("CPU features " + " ".join(env["cpu_features"]))
    return "; ".join(parts)


def _markdown(summary: dict[str, Any], plots: list[Path]) -> str:
    lines = ["# ponder eval report", ""]
    facts = [
        ("model", summary["model"]),
        ("seed", summary["seed"]),
        ("problems per task", summary["limit"] or "all"),
        ("started", summary["started"]),
        ("elapsed", f"{summary['elapsed_seconds']} s" if summary["elapsed_seconds"] else None),
        ("command", f"`{summary['command']}`" if summary["command"] else None),
        ("produced by", _environment(summary.get("environment"))),
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
            if plot.name.startswith(slug(task["task"]) + "_"):
                lines += ["", f"![{plot.stem}]({plot.name})"]
    read = read_rows(summary)
    if len(read) > 1:
        lines += ["", "## How answers were read", "", _markdown_table(read)]
    if summary.get("comparisons"):
        lines += ["", "## Paired comparisons", "", _markdown_table(comparison_rows(summary))]
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
  once per request. "prompt tok" counts the prompt tokens the model computed, "cached" those
  served from a prefix cache; the plots' cost axis is computed prompt plus completion tokens.
- "of it thinking" (shown when any strategy thought): the completion tokens spent inside a
  thought, as a reasoning server reports them or as a strategy that runs the thinking
  (budget_forcing) counts them.
- "How answers were read": per setting, the share of samples whose answer the rules read
  from a declared form (`Answer: X`), from `\\boxed{}`, by their fallback reading of prose,
  or the model read (`reader=model|hybrid`), and the share that gave none.
- "cut off": the share of samples that reached max_tokens (they give no answer); "+N% loop": the
  share the loop stop ended (`loop_repeats`), which abstain too.
- Time: "elapsed s" runs from a setting's first problem starting to its last finishing
  (settings run interleaved, so spans overlap); "p50 s" is the median problem latency.
  ``summary.json`` also has p90, the mean and ``busy_seconds`` (latencies summed).
- eFLOPs: the Kinetics cost (Sadhukhan et al. 2025): compute plus the memory traffic of
  attention's KV cache weighted by the hardware's arithmetic intensity (`hardware` in
  `summary.json`; `ponder report --hardware`), the prompt's KV counted once a step for all
  samples of a call. See `ponder.eval.kinetics` for the formula and the hardware table.
- "frontier": "yes" when no other setting of the task is at least as accurate for fewer
  computed tokens (or more accurate for as few); "beaten by X" when X costs no more and is
  more accurate with significance on the problems both ran (McNemar's exact test, p < 0.05;
  for settings estimated from a pool, the paired bootstrap interval excluding zero).
- Paired comparisons (`ponder report DIR --compare A B`): on the problems both settings ran,
  the mean difference A - B with a paired percentile bootstrap interval (problems resampled
  together), the discordant problems (A right and B wrong / the reverse) and McNemar's exact
  two-sided p-value.
- FLOPs: 2 N (prefilled + generated tokens) + 2 n_layer d_model (attended positions) (Kaplan
  et al. 2020), with cached prompt tokens not charged again.
"""
