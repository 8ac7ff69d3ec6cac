"""``ponder plan`` and ``auto`` choose among the aggregation strategies (``moa``, ``debate``,
``fuse``, ``self_verify``) as among any setting: a sweep that stores them gives plan options
for them, and ``auto`` runs the one its budget affords where it is best."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from ponder.core.types import GenerationRequest
from ponder.eval import evaluate
from ponder.eval.planner import build, measure
from ponder.runtime import Context
from ponder.strategies.auto import Auto
from ponder.tasks import make_task
from ponder.testing import FunctionBackend


def model(request: GenerationRequest, index: int) -> str:
    """Samples of odd first numbers are right half the time; a layer or merge that reads
    other answers is always right; even first numbers are easy."""
    assert request.messages is not None
    text = request.messages[-1].content
    question = next(m.content for m in request.messages if "What is" in m.content)
    a, b = map(int, re.findall(r"\d+", question.split("What is")[1])[:2])
    if "Responses to this problem" in text or "Several attempts" in text:
        return f"Reading them all, the answer is {a + b}."
    params = request.params
    wrong = a % 2 == 1 and ((params.seed or 0) + index) % 2 == 1
    if params.temperature == 0:
        wrong = a % 3 == 0
    return f"The answer is {a + b + (1 if wrong else 0)}."


def test_plan_and_auto_choose_an_aggregation_strategy(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"question": f"What is {i} + {i + 1}?", "answer": 2 * i + 1}) + "\n"
            for i in range(12)
        )
    )
    evaluate(
        [make_task(str(questions))],
        [
            "greedy",
            "self_consistency:n=1|2|4|8,temperature=0.9",
            "moa:layers=1,temperature=0.9",
            "fuse:n=4,when=always,temperature=0.9",
        ],
        backend=FunctionBackend(model),
        out=tmp_path / "store",
    )
    measured = measure([tmp_path / "store"])
    assert any(name.startswith("moa") for name in measured.by_setting)
    plan = build(measured)
    split = next(b for b in plan.bins if b.name == "split")
    best = max(split.options, key=lambda o: (o.accuracy, -o.cost))
    assert best.strategy in ("moa", "fuse") and best.accuracy == 1.0
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    auto = Auto(budget=100_000, plan=str(path), seed=1)
    result = asyncio.run(auto.run("What is 3 + 4?", Context(FunctionBackend(model))))
    assert result.details["bin"] == "split"
    assert result.details["chosen"].split(":")[0] in ("moa", "fuse")
    assert result.answer == "7"
    assert "aggregate" in result.ledger["by_role"]
