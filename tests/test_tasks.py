"""Tasks: lookup, determinism, argument checking, JSONL validation, scoring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ponder.core.registry import default_registry
from ponder.errors import ConfigError, UnknownNameError
from ponder.tasks import make_task, task_names
from ponder.tasks.humaneval import extract_code


def test_every_reasoning_gym_dataset_is_a_task() -> None:
    names = task_names()
    assert {"humaneval", "jsonl", "reasoning_gym:products", "reasoning_gym:chain_sum"} <= set(names)
    assert make_task("reasoning_gym:products").name == make_task("products").name == "products"


def test_unknown_task_lists_the_known() -> None:
    with pytest.raises(UnknownNameError, match="unknown task 'nope'.*humaneval.*products"):
        make_task("nope")
    with pytest.raises(UnknownNameError, match="reasoning_gym task 'nope'"):
        make_task("reasoning_gym:nope")


def test_reasoning_gym_problems_are_fixed_by_the_seed() -> None:
    a = make_task("products", {"max_digits": 1}, seed=3).problems()[:5]
    b = make_task("products", {"max_digits": 1}, seed=3).problems()[:5]
    c = make_task("products", {"max_digits": 1}, seed=4).problems()[:5]
    assert [p.question for p in a] == [p.question for p in b]
    assert [p.question for p in a] != [p.question for p in c]
    # problem i does not depend on the size asked for
    small = make_task("products", {"max_digits": 1, "size": 5}, seed=3).problems()
    assert [p.question for p in small] == [p.question for p in a]
    # a limit generates only the first problems, the same ones
    first = make_task("products", {"max_digits": 1}, seed=3).problems(2)
    assert [p.question for p in first] == [p.question for p in a[:2]]
    # an explicit seed argument wins over the run's seed, and is part of the task's identity
    assert make_task("products", {"seed": 9}, seed=3).args["seed"] == 9
    assert make_task("products", seed=3).key != make_task("products", seed=4).key


def test_reasoning_gym_arguments_are_checked_by_the_dataset() -> None:
    with pytest.raises(ConfigError, match="max_digits must be >= min_digits"):
        make_task("products", {"max_digits": 0})
    with pytest.raises(ConfigError, match="no argument bogus; its arguments: .*max_digits"):
        make_task("products", {"bogus": 1})


def test_reasoning_gym_scoring_uses_the_dataset_scorer() -> None:
    task = make_task("products", {"max_digits": 1}, seed=0)
    problem = task.problems()[2]
    reference = problem.metadata["reference"]
    assert task.score(problem, "", reference).correct
    assert not task.score(problem, "", str(int(reference) + 1)).correct
    missing = task.score(problem, "I do not know", None)
    assert not missing.correct and missing.reason


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_jsonl_task_reads_and_scores(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "q.jsonl",
        [
            {"question": "Half of one?", "answer": "1/2", "id": "half"},
            "",
            {"question": "Capital of France?", "answer": "Paris", "metadata": {"topic": "geo"}},
        ],
    )
    task = make_task(str(path))
    assert task.name == "jsonl" and task.kind == "answer"
    half, paris = task.problems()
    assert (half.id, paris.id) == ("half", "3")  # default id: the line number
    assert paris.metadata["topic"] == "geo"
    assert task.score(half, "", "0.5").correct  # math-verify equivalence
    assert task.score(half, "", "\\frac{1}{2}").correct
    assert task.score(paris, "", "paris.").correct  # normalised exact match
    assert not task.score(paris, "", "Lyon").correct


def test_jsonl_bad_lines_are_named_and_nothing_is_loaded(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.jsonl",
        [
            {"question": "ok", "answer": 1},
            "{not json",
            {"question": "", "answer": 1},
            {"question": "q", "answer": None},
            [1, 2],
            {"question": "q", "answer": 1, "id": 1},
            {"question": "q", "answer": 1, "extra": 1},
        ],
    )
    with pytest.raises(ConfigError) as info:
        make_task(str(path))
    message = str(info.value)
    assert "6 invalid line(s), nothing was loaded" in message
    for fragment in (
        "line 2: not valid JSON",
        'line 3: "question" must be a non-empty string',
        'line 4: "answer" must be a string or a number',
        "line 5: expected a JSON object",
        "line 6: id '1' already used on line 1",  # line 1's default id is its line number
        "line 7: unknown field(s) extra",
    ):
        assert fragment in message
    duplicate = _write(tmp_path / "dup.jsonl", [{"question": "a", "answer": 1, "id": "x"}] * 2)
    with pytest.raises(ConfigError, match="line 2: id 'x' already used on line 1"):
        make_task(str(duplicate))
    with pytest.raises(ConfigError, match="does not exist"):
        make_task(str(tmp_path / "missing.jsonl"))


def test_humaneval_runs_the_tests_in_the_sandbox() -> None:
    task = make_task("humaneval", {"timeout": 5})
    problems = task.problems()
    assert len(problems) == 164 and task.kind == "code"
    problem = problems[0]
    record = problem.metadata["record"]
    whole = f"Here it is:\n```python\n{record['prompt']}{record['canonical_solution']}```\n"
    assert task.score(problem, whole, None).correct
    assert task.score(problem, record["canonical_solution"], None).correct  # the body alone
    wrong = task.score(
        problem, "```python\ndef has_close_elements(a, b):\n    return True\n```", None
    )
    assert not wrong.correct and "AssertionError" in (wrong.reason or "")
    hung = task.score(problem, "```python\nwhile True: pass\n```", None)
    assert not hung.correct and hung.reason


def test_run_seeds_share_no_reasoning_gym_problems() -> None:
    # reasoning-gym derives item i from seed + i: seeds 0 and 1 would share 19 of 20 problems
    first = {p.question for p in make_task("gcd", seed=0).problems(20)}
    second = {p.question for p in make_task("gcd", seed=1).problems(20)}
    assert not first & second
    assert make_task("gcd", seed=1).args["seed"] == 1_000_000
    given = make_task("gcd", {"seed": 1}, seed=1)  # a task argument goes to the dataset as is
    assert given.args["seed"] == 1
    assert len(first & {p.question for p in given.problems(20)}) == 19


def test_hash_ordered_datasets_need_a_fixed_hash_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    with pytest.raises(ConfigError, match="PYTHONHASHSEED"):
        make_task("ransom_note")
    code = (
        "from ponder.tasks import make_task; "
        "print([p.question for p in make_task('ransom_note', seed=3).problems(3)])"
    )

    def asked(hash_seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout

    assert asked("0") == asked("0") != asked("1")  # fixed: the same problems; changed: not


def test_humaneval_ids_pick_problems_in_their_order() -> None:
    task = make_task("humaneval", {"ids": "32, HumanEval/10,32"})
    assert [p.id for p in task.problems()] == ["HumanEval/32", "HumanEval/10"]
    assert [p.id for p in task.problems(1)] == ["HumanEval/32"]
    with pytest.raises(ConfigError, match="no problem HumanEval/164"):
        make_task("humaneval", {"ids": "3,164"})


def test_extract_code_takes_the_last_block() -> None:
    text = "```python\nfirst\n```\nthen\n```\nsecond\n```"
    assert extract_code(text).strip() == "second"
    assert extract_code("no fences") == "no fences"
    assert extract_code("```python\nunclosed").strip() == "unclosed"


def test_tasks_register_as_plugins() -> None:
    registry = default_registry()
    assert {"humaneval", "jsonl", "reasoning_gym"} <= set(registry.names("task"))


def test_code_candidates_vote_by_behaviour_and_are_scored_themselves(tmp_path: Path) -> None:
    from ponder.eval import evaluate
    from ponder.testing import FunctionBackend

    task = make_task("humaneval", {"timeout": 5})
    record = task.problems(1)[0].metadata["record"]
    right = f"```python\n{record['prompt']}{record['canonical_solution']}```"
    # the first candidate fails (it numbers in its code would have voted with nobody); the
    # other three pass, written differently but behaving alike on the prompt's examples
    wrong = f"```python\n{record['prompt']}    return len(numbers) > 99\n```"
    also_right = right.replace("distance = abs(elem - elem2)", "distance = abs(elem2 - elem)")
    replies = [wrong, right, also_right, right]
    backend = FunctionBackend(lambda request, i: replies[i % 4])
    outcome = evaluate(
        [task],
        ["self_consistency:n=4"],
        backend=backend,
        out=tmp_path / "out",
        limit=1,
        progress=None,
    )
    (row,) = outcome.summary["results"]
    assert row["accuracy"] == 1.0  # at least pass@1 (0.75): the behaving majority wins
    (curve,) = outcome.summary["curves"]
    assert curve["pass_at_k"][0] == 0.75


def test_code_that_raises_on_every_example_does_not_vote() -> None:
    from ponder.scoring.behaviour import behaviour_answer

    problem = make_task("humaneval", {}).problems(1)[0]
    assert problem.answer is not None
    broken = "```python\ndef has_close_elements(numbers, threshold):\n    return numbers[99]\n```"
    answer, why = behaviour_answer(broken, problem.answer)
    assert answer is None and why is not None and "raises on every example" in why
