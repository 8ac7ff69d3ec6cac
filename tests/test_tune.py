"""``ponder tune`` then ``-s auto:budget=N`` for a model other than the shipped one, over a
scripted OpenAI-compatible server; ``auto`` without a plan names the command that makes one;
``tune`` raises max_tokens when the model's replies are cut off."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.testing import ScriptedServer

runner = CliRunner()


def arithmetic(question: str, index: int, seed: int | None) -> str:
    """Right about two times in three, and wrong by one otherwise (per question and sample)."""
    found = re.search(r"-?\d+(?:\s*[-+*]\s*-?\d+)+", question)
    value = eval(found.group(0)) if found else 0  # digits and + - * only
    rng = random.Random(f"{question}|{index}|{seed}")
    if rng.random() < 0.35:
        value += rng.choice([-1, 1])
    return f"Let me compute it.\nAnswer: {value}"


@pytest.fixture
def plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "plans"
    monkeypatch.setenv("PONDER_PLANS", str(where))
    return where


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer(arithmetic)
    yield server
    server.close()


def test_tune_then_auto_on_another_model(
    plans: Path, scripted: ScriptedServer, tmp_path: Path
) -> None:
    server = f"{scripted.url}#scripted"
    ask = ["solve", "What is 3 * 4?", "-s", "auto:budget=300", "--model", server, "--json"]
    before = runner.invoke(app, ask)
    assert before.exit_code == 2
    assert f"ponder tune --model {server}" in before.stderr
    tune = ["tune", "--model", server, "-t", "products", "-t", "basic_arithmetic"]
    result = runner.invoke(app, [*tune, "--limit", "6", "--out", str(tmp_path / "tune"), "-q"])
    assert result.exit_code == 0, result.stderr + result.stdout
    assert "what auto will do" in result.stdout and "auto:budget=" in result.stdout
    [written] = plans.glob("*.json")
    plan = json.loads(written.read_text())
    assert plan["model"].startswith("openai:") and plan["model"].endswith("#scripted")
    labels = {o["label"] for b in plan["bins"] for o in b["options"]}
    assert any(label.startswith("self_consistency") for label in labels)
    after = runner.invoke(app, ask)
    assert after.exit_code == 0, after.stderr
    details = json.loads(after.stdout)["details"]
    assert details["plan"] == str(written) and details["bin"] in {"agree", "split"}
    calls = scripted.requests
    again = runner.invoke(app, [*tune, "--limit", "6", "--out", str(tmp_path / "tune"), "-q"])
    assert again.exit_code == 0 and again.stdout == result.stdout
    assert scripted.requests == calls  # resumed: nothing stored runs twice


def test_tune_raises_max_tokens_that_cut_replies_off(plans: Path, tmp_path: Path) -> None:
    def wordy(question: str, index: int, seed: int | None) -> str:
        return "word " * 300 + "\nAnswer: " + arithmetic(question, index, seed).split()[-1]

    with ScriptedServer(wordy) as url:
        args = ["tune", "--model", f"{url}#scripted", "-t", "products", "--limit", "3", "-q"]
        args += ["--temperature", "0.5", "--out", str(tmp_path / "wordy")]
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr + result.stdout
    assert "256: 100% cut off" in result.stdout and "512: 0% cut off  <- chosen" in result.stdout
    [written] = plans.glob("*.json")
    options = [o["options"] for b in json.loads(written.read_text())["bins"] for o in b["options"]]
    assert all(o.get("max_tokens") in (None, 512) for o in options)


def test_eval_warns_when_samples_are_cut_off(tmp_path: Path) -> None:
    with ScriptedServer(lambda q, i, s: "word " * 40) as url:
        args = ["eval", "--model", f"{url}#scripted", "-t", "products", "--limit", "2", "-q"]
        result = runner.invoke(app, [*args, "-s", "greedy:max_tokens=8", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert "100% of its samples were cut off at max_tokens=8" in result.stderr
    assert "max_tokens=16" in result.stderr
