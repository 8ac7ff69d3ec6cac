"""The report's plots (matplotlib, headless): accuracy against tokens per problem with the
Pareto frontier, and pass@k / maj@k against k."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: matplotlib (its text layout, pyplot's figures) is not thread-safe: evaluations running in
#: threads of one process draw one at a time
_DRAWING = threading.Lock()


def slug(text: str) -> str:
    """A file-name-safe form of a task's name."""
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
    with _DRAWING:
        return _draw(summary, directory)


def _draw(summary: dict[str, Any], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for task in summary["tasks"]:
        rows = [
            r
            for r in summary["results"]
            if r["task_key"] == task["key"]
            and r["accuracy"] is not None
            and r.get("computed_tokens_mean")
        ]
        name = slug(task["task"])
        if rows:
            fig, ax = plt.subplots(figsize=(7, 4.5))
            xs = [r["computed_tokens_mean"] for r in rows]
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
            ax.set_xlabel("computed tokens per problem (prompt not served from cache + completion)")
            ax.set_ylabel("accuracy (95% CI)")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(
                f"{task['task']}: accuracy against compute (hollow: estimated from a pool)"
            )
            ax.legend(loc="lower right")
            fig.tight_layout()
            path = directory / f"{name}_accuracy_vs_tokens.png"
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
            path = directory / f"{name}_scaling.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written
