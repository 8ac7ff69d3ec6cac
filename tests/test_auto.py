"""``ponder plan`` and ``auto``: plans from stored evaluations, the probe, the bins, the
choice within a budget, the probe's samples reused, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.core.types import GenerationRequest
from ponder.errors import ConfigError
from ponder.eval import evaluate
from ponder.eval.planner import build, measure, parse_budget
from ponder.runtime import Context
from ponder.strategies.auto import Auto, PlanBin, PlanFile, PlanOption, Probe, load_plan
from ponder.tasks import make_task
from ponder.testing import FunctionBackend


def model(request: GenerationRequest, index: int) -> str:
    """Even first numbers are easy (every sample right); odd ones are split: a sample is
    right when its seed is even. Greedy is right when the first number is not a multiple
    of 3."""
    assert request.messages is not None
    a, b = map(int, re.findall(r"\d+", request.messages[-1].content)[:2])
    params = request.params
    if params.temperature == 0:
        wrong = a % 3 == 0
    else:
        wrong = a % 2 == 1 and ((params.seed or 0) + index) % 2 == 1
    return f"The answer is {a + b + (1 if wrong else 0)}."


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plan")
    questions = out / "q.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"question": f"What is {i} + {i + 1}?", "answer": 2 * i + 1}) + "\n"
            for i in range(16)
        )
    )
    evaluate(
        [make_task(str(questions))],
        ["greedy", "self_consistency:n=1|2|4|8,temperature=0.3|0.9"],
        backend=FunctionBackend(model),
        out=out,
    )
    return out


def test_plan_bins_problems_by_the_probes_agreement(store: Path) -> None:
    plan = build(measure([store]))
    assert plan.model == "function:function"
    assert plan.probe.n == 4 and plan.probe.temperature in (0.3, 0.9)
    shares = {b.name: b.share for b in plan.bins}
    # even first numbers: all 4 probe samples agree; odd ones split 2-2
    assert shares == {"agree": 0.5, "split": 0.5}
    agree, split = plan.bins
    top = max(agree.options, key=lambda o: (o.accuracy, -o.cost))
    assert top.accuracy == 1.0
    reusing = [o for o in split.options if o.reuses_probe]
    assert {o.options["n"] for o in reusing} == {4, 8}
    assert all(o.options["temperature"] == plan.probe.temperature for o in reusing)
    fresh = next(o for o in split.options if o.label == "greedy")
    greedy_alone = measure([store]).by_setting["greedy"]
    assert fresh.cost > sum(m.tokens for m in greedy_alone.values()) / 16  # the probe paid


def test_choose_is_the_best_combination_within_the_budget() -> None:
    def option(label: str, accuracy: float, cost: float) -> PlanOption:
        return PlanOption(
            label=label,
            strategy="greedy",
            options={},
            reuses_probe=False,
            accuracy=accuracy,
            ci_low=0,
            ci_high=1,
            cost=cost,
            problems=10,
        )

    plan = PlanFile(
        model="m",
        measured_on=[],
        probe=Probe(n=4, temperature=0.5, max_tokens=8, cost=10),
        bins=[
            PlanBin(
                name="agree",
                min_agreement=0.75,
                share=0.5,
                options=[option("a1", 0.9, 10), option("a2", 0.95, 100)],
            ),
            PlanBin(
                name="split",
                min_agreement=0.0,
                share=0.5,
                options=[option("s1", 0.3, 10), option("s2", 0.6, 100)],
            ),
        ],
    )
    # budget 55: (a1, s2) costs 55 and gives 0.75; (a2, s1) costs 55 and gives 0.625
    picks, why = plan.choose(55)
    assert [o.label for o in picks] == ["a1", "s2"] and "0.750" in why
    picks, why = plan.choose(1)
    assert [o.label for o in picks] == ["a1", "s1"] and "below every" in why


def sc_option(n: int, accuracy: float, cost: float) -> PlanOption:
    return PlanOption(
        label=f"self_consistency:n={n},temperature=0.5",
        strategy="self_consistency",
        options={"n": n, "temperature": 0.5, "max_tokens": 32},
        reuses_probe=True,
        accuracy=accuracy,
        ci_low=0,
        ci_high=1,
        cost=cost,
        problems=8,
    )


async def test_auto_probes_then_continues_the_probe(tmp_path: Path) -> None:
    greedy = PlanOption(
        label="greedy",
        strategy="greedy",
        options={"max_tokens": 32},
        reuses_probe=False,
        accuracy=0.5,
        ci_low=0,
        ci_high=1,
        cost=50,
        problems=8,
    )
    plan = PlanFile(
        model="function:function",
        measured_on=["a test"],
        probe=Probe(n=4, temperature=0.5, max_tokens=32, cost=40),
        bins=[
            PlanBin(name="agree", min_agreement=0.75, share=0.5, options=[sc_option(4, 1, 40)]),
            PlanBin(
                name="split",
                min_agreement=0.0,
                share=0.5,
                options=[sc_option(8, 0.6, 80), greedy],
            ),
        ],
    )
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    backend = FunctionBackend(model)
    auto = Auto(budget=10_000, plan=str(path), seed=1)
    result = await auto.run("What is 3 + 4?", Context(backend))  # odd: split 2-2
    details = result.details
    assert details["bin"] == "split" and details["probe"]["agreement"] == 0.5
    assert details["chosen"] == "self_consistency:n=8,temperature=0.5"
    # the probe's 4 samples and 4 more, seeded on from where the probe stopped: 8 in all
    assert [r.params.n for r in backend.history] == [4, 4]
    assert [r.params.seed for r in backend.history] == [1, 5]
    assert [r.params.temperature for r in backend.history] == [0.5, 0.5]
    assert len(result.candidates) == 8
    assert result.usage.completion_tokens == sum(c.completion_tokens for c in result.candidates)
    easy_backend = FunctionBackend(model)
    easy = await auto.run("What is 2 + 3?", Context(easy_backend))
    assert easy.details["bin"] == "agree" and easy.answer == "5"
    assert [r.params.n for r in easy_backend.history] == [4]  # the probe was the answer
    # a budget that only affords greedy in the split bin: the probe, then greedy on its own
    cheap = Auto(budget=45, plan=str(path), seed=1)
    other = FunctionBackend(model)
    result = await cheap.run("What is 3 + 4?", Context(other))
    assert result.details["chosen"] == "greedy"
    assert [r.params.temperature for r in other.history] == [0.5, 0.0]


async def test_auto_refuses_a_plan_of_another_model(store: Path, tmp_path: Path) -> None:
    data = json.loads(build(measure([store])).model_dump_json())
    data["model"] = "llamacpp:other.gguf@sha256:0"
    path = tmp_path / "other.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="measured on llamacpp:other.gguf.*not on function"):
        await Auto(budget=100, plan=str(path)).run(
            "What is 1 + 2?", Context(FunctionBackend(model))
        )
    with pytest.raises(ConfigError, match="no plan file"):
        Auto(budget=100, plan=str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{}")
    load_plan.cache_clear()
    with pytest.raises(ConfigError, match="not a ponder plan file"):
        Auto(budget=100, plan=str(tmp_path / "bad.json"))


def test_the_shipped_plan_loads() -> None:
    plan = load_plan(None)
    assert plan.model.startswith("llamacpp:SmolLM2-135M-Instruct")
    assert [b.name for b in plan.bins] == ["agree", "split"]


def test_ponder_plan_command_and_bad_input(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = CliRunner().invoke(app, ["plan", str(store), "--budget", "300", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "best single setting" in result.output and "auto:" in result.output
    assert "coverage fits" in result.output and "extrapolated" in result.output
    assert PlanFile.model_validate_json(out.read_text()).bins
    seconds = CliRunner().invoke(app, ["plan", str(store), "--budget", "0.5s"])
    assert "s a problem" in seconds.output
    tiny = CliRunner().invoke(app, ["plan", str(store), "--budget", "1"])
    assert "no setting fits: the cheapest is" in tiny.output
    assert parse_budget("3e13eflops") == (3e13, "eflops")
    with pytest.raises(ConfigError, match="give tokens"):
        parse_budget("lots")
    empty = CliRunner().invoke(app, ["plan", str(tmp_path)])
    assert empty.exit_code != 0 and "no results store" in empty.output
