"""The seeds' benchmarks as tasks, each loader on fixture files in its dataset's exact schema
(``tests/data/benchmarks``): problems, references, the right reply scored right and a wrong
one wrong (code run in the sandbox), parquet as well as JSONL, the clear error offline, and
``ponder eval -t gsm8k --data FILE`` end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.errors import ConfigError
from ponder.tasks import make_task
from ponder.testing import ScriptedServer

DATA = Path(__file__).parent / "data" / "benchmarks"


def task(name: str, **args: object):  # type: ignore[no-untyped-def]
    return make_task(name, {"data": str(DATA / name), **args})


@pytest.mark.parametrize(
    ("name", "references", "right", "wrong"),
    [
        ("gsm8k", ["72", "2400"], "So 72 clips.\nAnswer: 72", "Answer: 71"),
        (
            "math500",
            ["\\left( 3, \\frac{\\pi}{2} \\right)", "\\frac{3}{4}"],
            "Answer: $\\left(3, \\frac{\\pi}{2}\\right)$",
            "Answer: (3, \\pi)",
        ),
        ("aime24", ["204", "113"], "Answer: 204", "Answer: 240"),
        ("aime25", ["70"], "The sum is 70.\nAnswer: 70", "Answer: 7"),
    ],
)
def test_answer_benchmarks(name: str, references: list[str], right: str, wrong: str) -> None:
    loaded = task(name)
    problems = loaded.problems()
    assert [p.metadata["reference"] for p in problems] == references
    assert all(p.question.endswith(p.answer.prompt) for p in problems if p.answer)
    first = problems[0]
    from ponder.scoring.extraction import read_answer

    for reply, correct in ((right, True), (wrong, False)):
        answer = read_answer(reply, first.answer).answer
        assert loaded.score(first, reply, answer).correct is correct, (reply, answer)


def test_gpqa_shuffles_with_a_fixed_seed() -> None:
    problems = task("gpqa_diamond").problems()
    again = task("gpqa_diamond").problems()
    assert [p.question for p in problems] == [p.question for p in again]
    first = problems[0]
    letter = first.metadata["reference"]
    assert re.search(rf"^{letter}\) Mitochondrion$", first.question, re.M), first.question
    assert first.answer is not None and first.answer.type == "choice"
    loaded = task("gpqa_diamond")
    assert loaded.score(first, "", letter).correct
    assert not loaded.score(first, "", "ABCD".replace(letter, "")[0]).correct
    other = task("gpqa_diamond", shuffle_seed=7).problems()
    assert {p.metadata["reference"] for p in problems + other} <= set("ABCD")


MBPP_RIGHT = (
    "```python\ndef remove_Occ(s, ch):\n    i = s.find(ch)\n    if i >= 0:\n"
    "        s = s[:i] + s[i + 1:]\n    j = s.rfind(ch)\n    if j >= 0:\n"
    "        s = s[:j] + s[j + 1:]\n    return s\n```"
)


def test_mbpp_runs_its_asserts_in_the_sandbox() -> None:
    loaded = task("mbpp")
    problem = loaded.problems()[0]
    assert "Your code should pass these tests" in problem.question
    assert problem.answer is not None and problem.answer.entry_point == "remove_Occ"
    assert loaded.score(problem, MBPP_RIGHT, None).correct
    wrong = "```python\ndef remove_Occ(s, ch):\n    return s.replace(ch, '', 1)\n```"
    assert not loaded.score(problem, wrong, None).correct  # the first occurrence only
    challenge = task("mbpp", challenge=True)
    assert len(challenge.problems()[0].metadata["steps"]) == 6


def test_mbpp_plus_runs_evalplus_tests() -> None:
    loaded = task("mbpp_plus")
    problem = loaded.problems()[0]
    right = "```python\ndef square_perimeter(a):\n    return 4 * a\n```"
    assert loaded.score(problem, right, None).correct
    # right on the three shown asserts, wrong past them: EvalPlus's inputs catch it
    tuned = "```python\ndef square_perimeter(a):\n    return 4 * a if a < 100 else 0\n```"
    assert not loaded.score(problem, tuned, None).correct


def test_livecodebench_functional_and_stdin_with_releases_and_dates() -> None:
    loaded = task("livecodebench", release="release_v1")
    func, stdin = loaded.problems()
    assert "starter code" in func.question and "standard input" in stdin.question
    assert len(func.metadata["steps"]) == 4  # comparison helper, 1 public, 2 private
    method = (
        "```python\nclass Solution:\n    def sum(self, num1, num2):\n"
        "        return num1 + num2\n```"
    )
    assert loaded.score(func, method, None).correct
    assert not loaded.score(func, method.replace("num1 + num2", "num1 - num2"), None).correct
    program = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    assert loaded.score(stdin, program, None).correct
    assert not loaded.score(stdin, program.replace("a + b", "a * b"), None).correct
    assert len(task("livecodebench", release="release_v2").problems()) == 3
    assert [p.id for p in task("livecodebench", release="v2").problems()] == [
        "livecodebench-abc350_a"
    ]
    window = task("livecodebench", release="release_v2", start_date="2023-09-01")
    assert [p.id for p in window.problems()] == ["livecodebench-abc300_a", "livecodebench-abc350_a"]


def test_parquet_files_in_the_datasets_schema(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (DATA / "gsm8k" / "test.jsonl").read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test-00000-of-00001.parquet")
    loaded = make_task("gsm8k", {"data": str(tmp_path)})
    assert [p.metadata["reference"] for p in loaded.problems()] == ["72", "2400"]


def test_offline_without_data_says_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_datasets(name: str, *args: object, **kwargs: object) -> object:
        if name == "datasets":
            raise ImportError("no datasets here")
        return real(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(ConfigError, match="--data PATH") as caught:
        make_task("gsm8k", {}).problems()
    assert "pip install datasets" in str(caught.value)
    with pytest.raises(ConfigError, match="no such file"):
        make_task("gsm8k", {"data": "/no/such/file.jsonl"}).problems()


def test_eval_gsm8k_from_a_data_file_end_to_end(tmp_path: Path) -> None:
    def solve(question: str, index: int, seed: int | None) -> str:
        return "Answer: 72" if "Natalia" in question else "Answer: 2400"

    with ScriptedServer(solve) as url:
        args = ["eval", "-t", "gsm8k", "--data", str(DATA / "gsm8k" / "test.jsonl")]
        args += ["--model", f"{url}#scripted", "-s", "greedy", "--out", str(tmp_path), "-q"]
        result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    [row] = summary["results"]
    assert row["task"] == "gsm8k" and row["accuracy"] == 1.0 and row["n_problems"] == 2
    # what produced the run is stored with it and shown in the report
    assert summary["environment"]["backend"] == "openai"
    assert summary["environment"]["server"] == url
    assert "- produced by: backend openai" in (tmp_path / "report.md").read_text()
