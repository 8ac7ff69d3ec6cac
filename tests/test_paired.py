"""Paired comparisons: McNemar's exact test and the paired bootstrap checked against brute
force on small cases, and ``ponder report --compare`` end to end."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.core.types import GenerationRequest
from ponder.errors import ConfigError
from ponder.eval import evaluate, report
from ponder.eval.paired import compare, mcnemar_exact, paired_bootstrap, significant
from ponder.tasks import make_task
from ponder.testing import FunctionBackend


@pytest.mark.parametrize("n", range(11))
def test_mcnemar_matches_enumerating_every_outcome(n: int) -> None:
    """Under the null each discordant problem goes A's way or B's with probability 1/2: the
    p-value is the share of the 2^n outcomes at least as lopsided as the one seen."""
    outcomes = list(itertools.product((0, 1), repeat=n))
    for a_only in range(n + 1):
        seen = min(a_only, n - a_only)
        extreme = sum(1 for o in outcomes if min(sum(o), n - sum(o)) <= seen)
        assert mcnemar_exact(a_only, n - a_only) == pytest.approx(extreme / len(outcomes))


def test_the_paired_bootstrap_matches_every_resample() -> None:
    """Five problems: all 5^5 resamples enumerated give the exact bootstrap distribution of
    the mean difference; the sampled interval lands within one step (0.2) of its quantiles."""
    differences = [1.0, 0.0, 0.0, -1.0, 1.0]
    means = [
        sum(differences[i] for i in pick) / 5 for pick in itertools.product(range(5), repeat=5)
    ]
    exact = np.percentile(means, [2.5, 97.5])
    low, high = paired_bootstrap(differences)
    assert abs(low - exact[0]) <= 0.2 and abs(high - exact[1]) <= 0.2
    assert low <= 0.2 <= high  # the mean difference itself


def test_compare_counts_only_shared_problems() -> None:
    a = {"p1": 1.0, "p2": 1.0, "p3": 0.0, "p4": 1.0, "only-a": 1.0}
    b = {"p1": 0.0, "p2": 1.0, "p3": 0.0, "p4": 0.0, "only-b": 0.0}
    result = compare(a, b)
    assert (result["problems"], result["only_a"], result["only_b"]) == (4, 1, 1)
    assert (result["a_only"], result["b_only"]) == (2, 0)
    assert result["difference"] == pytest.approx(0.5)
    assert result["p_value"] == pytest.approx(0.5)  # 2 of 2 discordant: 2 x 1/4
    assert not significant(result)
    estimated = compare({"p1": 0.75, "p2": 0.5}, {"p1": 0.25, "p2": 0.0})
    assert estimated["p_value"] is None and estimated["test"] == "paired bootstrap only"
    assert significant(estimated)  # +0.5 on both: the interval excludes zero


def sums(request: GenerationRequest, index: int) -> str:
    """Greedy is always right; sampled replies are wrong for questions with an even first
    number, so self-consistency loses exactly those problems."""
    assert request.messages is not None
    a, b = map(int, re.findall(r"\d+", request.messages[-1].content)[:2])
    wrong = request.params.temperature > 0 and a % 2 == 0
    return f"The answer is {a + b + (1 if wrong else 0)}."


def test_report_compare_end_to_end(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"question": f"What is {i} + {i + 1}?", "answer": 2 * i + 1}) + "\n"
            for i in range(12)
        )
    )
    task = make_task(str(questions))
    evaluate(
        [task], ["greedy", "self_consistency:n=3"], backend=FunctionBackend(sums), out=tmp_path
    )
    outcome = report(tmp_path, compare=[("greedy", "self_consistency:n=3")])
    (comparison,) = outcome.summary["comparisons"]
    assert (comparison["problems"], comparison["a_only"], comparison["b_only"]) == (12, 6, 0)
    assert comparison["difference"] == pytest.approx(0.5)
    assert comparison["p_value"] == pytest.approx(2 / 2**6)
    rows = {r["strategy"]: r for r in outcome.summary["results"]}
    assert rows["greedy"]["frontier"] is True
    assert rows["self_consistency:n=3"]["beaten_by"] == "greedy"
    assert "paired comparisons" in outcome.table
    assert "## Paired comparisons" in (tmp_path / "report.md").read_text()
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["comparisons"][0]["p_value"] == pytest.approx(1 / 32)

    cli = CliRunner().invoke(
        app, ["report", str(tmp_path), "--compare", "greedy", "self_consistency:n=3"]
    )
    assert cli.exit_code == 0, cli.output
    assert "0.0312" in cli.output
    with pytest.raises(ConfigError, match="its settings: greedy, self_consistency:n=3"):
        report(tmp_path, compare=[("greedy", "best_of_n:n=3")])


def test_compare_pools_the_tasks_of_a_suite(tmp_path: Path) -> None:
    tasks = []
    for name, offset in (("first", 0), ("second", 100)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text(
            "".join(
                json.dumps({"question": f"What is {i} + {i + 1}?", "answer": 2 * i + 1}) + "\n"
                for i in range(offset, offset + 6)
            )
        )
        tasks.append(make_task(str(path)))
    evaluate(tasks, ["greedy", "self_consistency:n=3"], backend=FunctionBackend(sums), out=tmp_path)
    outcome = report(tmp_path, compare=[("greedy", "self_consistency:n=3")])
    *per_task, pooled = outcome.summary["comparisons"]
    assert pooled["task"] == "all tasks" and len(per_task) == 2
    # each task has 3 even first numbers among its 6: greedy alone right on those
    assert [(c["problems"], c["a_only"], c["b_only"]) for c in per_task] == [(6, 3, 0)] * 2
    assert (pooled["problems"], pooled["a_only"], pooled["b_only"]) == (12, 6, 0)
    assert pooled["difference"] == pytest.approx(0.5)
    assert pooled["p_value"] == pytest.approx(2 / 2**6)
    assert "all tasks" in outcome.table
