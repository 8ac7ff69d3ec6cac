"""The evaluation harness, end to end with a function playing the model (fast, exact), and
once with the embedded model."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.core.types import GenerationRequest, ModelShape
from ponder.errors import BackendUnreachable, ConfigError, ContextLengthError
from ponder.eval import evaluate, report
from ponder.eval.scope import problem_seed
from ponder.eval.store import Store
from ponder.tasks import make_task
from ponder.testing import FunctionBackend

runner = CliRunner()


def fake_model(request: GenerationRequest, index: int) -> str:
    """Adds the two numbers of the question; sampled replies are wrong when (seed + index)
    is a multiple of 3, greedy replies when the first number is odd."""
    assert request.messages is not None
    a, b = map(int, re.findall(r"\d+", request.messages[-1].content)[:2])
    params = request.params
    wrong = a % 2 == 1 if params.temperature == 0 else ((params.seed or 0) + index) % 3 == 0
    return f"The answer is {a + b + (1 if wrong else 0)}."


def write_questions(path: Path, count: int) -> Path:
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({"question": f"What is {i} + {i + 1}?", "answer": 2 * i + 1}) + "\n")
    return path


def expected_vote_correct(problem_id: str, seed: int, n: int) -> bool:
    base = problem_seed(seed, problem_id)
    right = sum((base + i) % 3 != 0 for i in range(n))
    return right > n - right


def test_eval_end_to_end_with_a_pool(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 6)))
    backend = FunctionBackend(fake_model)
    outcome = evaluate(
        [task],
        ["greedy", "self_consistency:n=1|2|4,max_tokens=16"],
        backend=backend,
        out=tmp_path / "out",
        seed=5,
        model_shape=ModelShape(1000, 2, 8),
    )
    # only the largest n ran; n=1 and n=2 came from its samples
    sizes = sorted(r.params.n for r in backend.history)
    assert sizes == [1] * 6 + [4] * 6
    rows = {r["strategy"]: r for r in outcome.summary["results"]}
    assert set(rows) == {
        "greedy",
        "self_consistency:n=1,max_tokens=16",
        "self_consistency:n=2,max_tokens=16",
        "self_consistency:n=4,max_tokens=16",
    }
    for r in rows.values():
        for field in (
            "strategy",
            "n_problems",
            "accuracy",
            "ci_low",
            "ci_high",
            "prompt_tokens_mean",
            "completion_tokens_mean",
            "busy_seconds",
            "elapsed_seconds",
            "latency_p50",
            "prompt_computed_mean",
            "cut_off_share",
        ):
            assert field in r
        assert r["n_problems"] == 6
        assert r["ci_low"] <= r["accuracy"] <= r["ci_high"]
        assert r["flops_mean"] > 0
    # greedy is wrong exactly on odd first numbers: problems 1, 3, 5
    assert rows["greedy"]["accuracy"] == pytest.approx(3 / 6)
    assert rows["greedy"]["ci_method"] == "wilson"
    ids = [p.id or "" for p in task.problems()]
    vote = sum(expected_vote_correct(i, 5, 4) for i in ids) / 6
    assert rows["self_consistency:n=4,max_tokens=16"]["accuracy"] == pytest.approx(vote)
    one = rows["self_consistency:n=1,max_tokens=16"]
    assert one["estimated"] and one["estimated_from"] == "self_consistency:n=4,max_tokens=16"
    single = sum((problem_seed(5, i) + j) % 3 != 0 for i in ids for j in range(4)) / 24
    assert one["accuracy"] == pytest.approx(single)
    assert one["busy_seconds"] is None and one["elapsed_seconds"] is None
    four = rows["self_consistency:n=4,max_tokens=16"]
    assert one["completion_tokens_mean"] == pytest.approx(four["completion_tokens_mean"] / 4)
    curve = outcome.summary["curves"][0]
    assert curve["k"] == [1, 2, 3, 4] and curve["maj_at_k"][0] == pytest.approx(single)
    names = {p.name for p in outcome.files}
    assert {"summary.json", "report.md", "q_accuracy_vs_tokens.png", "q_scaling.png"} <= names
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == outcome.summary
    assert "(est.)" in outcome.table and "greedy" in outcome.table
    # the report is redrawn from the store alone, to the same numbers
    again = report(tmp_path / "out")
    assert again.summary["results"] == outcome.summary["results"]


def test_rerunning_resumes_and_runs_nothing_twice(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 4)))
    first = evaluate([task], ["greedy"], backend=FunctionBackend(fake_model), out=tmp_path)
    assert first.ran == 4
    backend = FunctionBackend(fake_model)
    second = evaluate([task], ["greedy"], backend=backend, out=tmp_path)
    assert second.ran == 0 and backend.history == []
    assert second.summary["results"] == first.summary["results"]
    # a new setting runs only itself; more problems run only the new ones
    third = evaluate([task], ["greedy", "self_consistency:n=2"], backend=backend, out=tmp_path)
    assert third.ran == 4 and all(r.params.n == 2 for r in backend.history)
    with Store(tmp_path) as store:
        assert store.count() == 8


def test_results_of_another_model_are_kept_side_by_side(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 2)))
    evaluate([task], ["greedy"], backend=FunctionBackend(fake_model), out=tmp_path)

    class Other(FunctionBackend):
        @property
        def model_name(self) -> str:
            return "other-model"

    outcome = evaluate([task], ["greedy"], backend=Other(fake_model), out=tmp_path)
    assert outcome.ran == 2
    assert any("function:function" in note and "side by side" in note for note in outcome.notes)
    assert outcome.summary["model"] == "function:other-model"
    with Store(tmp_path) as store:
        assert store.models() == {"function:function", "function:other-model"}


def test_a_backend_failure_keeps_what_was_done(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 6)))
    calls = []

    def flaky(request: GenerationRequest, index: int) -> str:
        calls.append(1)
        if len(calls) > 3:
            raise BackendUnreachable("the server went away", url="http://x")
        return fake_model(request, index)

    with pytest.raises(BackendUnreachable) as info:
        evaluate([task], ["greedy"], backend=FunctionBackend(flaky), out=tmp_path, concurrency=1)
    assert any("3 result(s) are stored" in note for note in info.value.__notes__)
    outcome = evaluate([task], ["greedy"], backend=FunctionBackend(fake_model), out=tmp_path)
    assert outcome.ran == 3 and outcome.summary["results"][0]["n_problems"] == 6


def test_a_later_call_beyond_the_context_is_recorded_and_a_first_one_stops(
    tmp_path: Path,
) -> None:
    """A strategy whose later call outgrows the context on one problem (the judge of a
    best_of_n shown a long candidate): that problem is unanswered with the error and its
    cost, the others are solved. The same error on the first call is the settings': it stops."""
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 3)))
    spoiled = list(task.problems(3))[2].question

    def model(request: GenerationRequest, index: int) -> str:
        assert request.messages is not None
        prompt = request.messages[-1].content
        if "Rating" in prompt:
            if spoiled in prompt:
                raise ContextLengthError("prompt (1900 tokens) + max_tokens (256) = 2156 ...")
            return "Rating: 9"
        return fake_model(request, index)

    setting = "best_of_n:n=2,scorer=judge(mode=text)"
    outcome = evaluate([task], [setting], backend=FunctionBackend(model), out=tmp_path)
    assert outcome.ran == 3
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        rows = {
            r["question"]: r
            for r in (json.loads(raw) for (raw,) in db.execute("SELECT record FROM results"))
        }
    assert (
        rows[spoiled]["answer"] is None
        and "ContextLengthError" in rows[spoiled]["details"]["error"]
    )
    assert rows[spoiled]["usage"]["completion_tokens"] > 0
    assert all(r["answer"] is not None for q, r in rows.items() if q != spoiled)

    def too_long(request: GenerationRequest, index: int) -> str:
        raise ContextLengthError("prompt (30 tokens) + max_tokens (9999) exceeds the context")

    with pytest.raises(ContextLengthError):
        evaluate([task], ["greedy"], backend=FunctionBackend(too_long), out=tmp_path / "b")


def test_a_problem_whose_verifier_fails_is_recorded_unanswered_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """best_of_n's scorer fails on every candidate of one problem (a judge that never
    writes a rating): that problem is recorded unanswered, with the error and its cost; the
    others are solved; a resume has nothing left to run."""
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 4)))
    problems = list(task.problems(4))
    spoiled = problems[1].question

    def model(request: GenerationRequest, index: int) -> str:
        assert request.messages is not None
        prompt = request.messages[-1].content
        if "Rating" in prompt:  # the text-mode judge
            return "no idea" if spoiled in prompt else "Rating: 9"
        return fake_model(request, index)

    setting = "best_of_n:n=2,scorer=judge(mode=text)"
    outcome = evaluate([task], [setting], backend=FunctionBackend(model), out=tmp_path)
    assert outcome.ran == 4
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        rows = [json.loads(raw) for (raw,) in db.execute("SELECT record FROM results")]
    records = {r["question"]: r for r in rows}
    failed = records[spoiled]
    assert failed["answer"] is None and not failed["correct"] and failed["candidates"] == []
    assert "VerifierError" in failed["details"]["error"]
    assert "could not score" in failed["details"]["error"]
    assert failed["usage"]["completion_tokens"] > 0  # what it spent is counted
    assert all(r["answer"] is not None for q, r in records.items() if q != spoiled)
    again = evaluate([task], [setting], backend=FunctionBackend(model), out=tmp_path)
    assert again.ran == 0


def test_bad_requests_fail_before_anything_runs(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 2)))
    backend = FunctionBackend(fake_model)
    with pytest.raises(Exception, match="unknown strategy 'nope'"):
        evaluate([task], ["nope"], backend=backend, out=tmp_path / "a")
    with pytest.raises(ConfigError, match="invalid options for strategy 'self_consistency'"):
        evaluate([task], ["self_consistency:n=0"], backend=backend, out=tmp_path / "a")
    with pytest.raises(ConfigError, match="given twice"):
        evaluate(
            [task], ["self_consistency", "self_consistency:n=8"], backend=backend, out=tmp_path
        )
    with pytest.raises(ConfigError, match="--limit"):
        evaluate([task], ["greedy"], backend=backend, out=tmp_path, limit=0)
    assert backend.history == []


KILL_SCRIPT = """
import asyncio, json, re, sys
from ponder.eval import evaluate
from ponder.tasks import make_task
from ponder.testing import FunctionBackend
sys.path.insert(0, {tests!r})
from test_eval import fake_model
task = make_task({questions!r})
evaluate([task], ["greedy", "self_consistency:n=3"], out={out!r}, seed=1, concurrency=3,
         backend=FunctionBackend(fake_model, delay=0.05))
"""


def test_kill_minus_9_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    questions = str(write_questions(tmp_path / "q.jsonl", 40))
    interrupted, whole = tmp_path / "interrupted", tmp_path / "whole"

    def launch(out: Path) -> subprocess.Popen[bytes]:
        script = KILL_SCRIPT.format(
            tests=str(Path(__file__).parent), questions=questions, out=str(out)
        )
        return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])

    process = launch(interrupted)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and stored < 20:
        time.sleep(0.05)
        try:
            with sqlite3.connect(interrupted / "results.sqlite") as db:
                stored = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        except sqlite3.Error:
            continue
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < stored < 80, "the kill should land halfway"
    assert launch(interrupted).wait(timeout=120) == 0
    assert launch(whole).wait(timeout=120) == 0
    with Store(interrupted) as a, Store(whole) as b:
        assert a.keys() == b.keys()
        assert a.count() == b.count() == 80


def test_cli_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["eval", "--task", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown task 'nope'" in result.output
    assert "products" in result.output
    result = runner.invoke(
        app, ["eval", "-t", "products", "-a", "max_digits=0", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "max_digits must be >= min_digits" in result.output
    result = runner.invoke(app, ["eval", "-t", "products", "-s", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown strategy 'nope'; choose one of" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": 1}\n{oops\n')
    result = runner.invoke(app, ["eval", "-t", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "line 2: not valid JSON" in result.output
    result = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "holds no results store" in result.output
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = runner.invoke(
        app, ["eval", "-t", "products", "--ray", "auto", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "pip install 'ponder[ray]'" in result.output


@pytest.mark.live
def test_cli_eval_on_the_embedded_model(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "eval",
        "-t",
        "products",
        "-a",
        "max_digits=1",
        "--limit",
        "2",
        "--out",
        str(out),
        "-s",
        "greedy:max_tokens=24",
        "-s",
        "self_consistency:n=1|2,max_tokens=24",
        "-q",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "self_consistency:n=1,max_tokens=24 (est.)" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"].startswith("llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf@sha256:")
    assert [r["n_problems"] for r in summary["results"]] == [2, 2, 2]
    assert all(r["flops_mean"] > 0 for r in summary["results"])
    assert (out / "products_accuracy_vs_tokens.png").stat().st_size > 1000
    redrawn = runner.invoke(app, ["report", str(out), "--json"])
    assert redrawn.exit_code == 0
    assert json.loads(redrawn.stdout)["results"] == summary["results"]


@pytest.mark.live
def test_ray_fan_out_lands_in_the_same_store(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 3)))
    settings = ["greedy:max_tokens=8"]
    small = {"n_ctx": 512, "n_parallel": 2, "n_prompt_slots": 1}  # each worker's engine
    fanned = evaluate(
        [task],
        settings,
        out=tmp_path / "ray",
        ray_address="local",
        ray_workers=2,
        backend_options=small,
    )
    local = evaluate([task], settings, out=tmp_path / "local", backend_options=small)
    assert fanned.ran == 3
    with Store(tmp_path / "ray") as a, Store(tmp_path / "local") as b:
        assert a.keys() == b.keys()
    assert fanned.summary["results"][0]["n_problems"] == 3
    assert fanned.summary["model"] == local.summary["model"]


@pytest.mark.live
def test_backend_options_configure_the_main_model(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 2)))
    with pytest.raises(ContextLengthError, match="context of 256 tokens"):
        evaluate(
            [task],
            ["greedy:max_tokens=300"],
            out=tmp_path / "small",
            backend_options={"n_ctx": 256, "n_parallel": 2},
        )
    backend = FunctionBackend(lambda request, index: "1")
    with pytest.raises(ConfigError, match="backend given by spec"):
        evaluate([task], ["greedy"], out=tmp_path / "x", backend=backend, backend_options={"a": 1})


def test_a_setting_that_gets_everything_wrong_still_reports(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 3)))
    backend = FunctionBackend(lambda request, index: "The answer is 1000.")
    outcome = evaluate([task], ["greedy", "self_consistency:n=2"], backend=backend, out=tmp_path)
    assert [r["accuracy"] for r in outcome.summary["results"]] == [0.0, 0.0]
    assert all(r["ci_low"] == 0.0 for r in outcome.summary["results"])
    assert (tmp_path / "q_accuracy_vs_tokens.png").is_file()


# -- a whole task under one budget (allocate)


def split_model(request: GenerationRequest, index: int) -> str:
    """Even first numbers: always right (settled after two samples). Odd: the sampled answer
    is off by (seed + index) % 3, a three-way split that never settles."""
    assert request.messages is not None
    a, b = map(int, re.findall(r"\d+", request.messages[-1].content)[:2])
    off = 0 if a % 2 == 0 else ((request.params.seed or 0) + index) % 3
    return f"The answer is {a + b + off}."


def test_allocate_runs_a_task_under_one_budget(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 6)))
    backend = FunctionBackend(split_model)
    spec = "allocate:tokens_per_problem=40,max_tokens=8,max_per_problem=8"
    outcome = evaluate(
        [task],
        ["self_consistency:n=4,max_tokens=8", spec],
        backend=backend,
        out=tmp_path / "out",
        seed=3,
    )
    assert outcome.ran == 12
    rows = {r["strategy"]: r for r in outcome.summary["results"]}
    assert rows[spec]["n_problems"] == 6
    with Store(tmp_path / "out") as store:
        (setting,) = [k for (_, k, _, _) in store.settings() if k.startswith("allocate:")]
        records = store.records(task.key, setting, "function:function", 3)
    assert len(records) == 6
    spent = sum(r.usage.completion_tokens for r in records.values())
    assert spent <= 40 * 6  # the task's budget
    easy = [r for r in records.values() if int(re.findall(r"\d+", r.question)[0]) % 2 == 0]
    hard = [r for r in records.values() if r not in easy]
    # a unanimous vote settles at the first two samples (Beta rule: 1 - 0.5**3 >= 0.8); the
    # split problems get the rest of the budget
    assert all(len(r.candidates) == 2 for r in easy)
    assert all(len(r.candidates) > 4 for r in hard)
    assert all(r.correct for r in easy)
    batch = next(iter(records.values())).details["batch"]
    assert batch["budget_completion_tokens"] == 240 and batch["completion_tokens"] == spent
    # sample k of a problem is drawn with the problem's seed + k, whatever the round order
    by_question = {r.question: r.problem for r in records.values()}
    drawn: dict[str, int] = {}
    assert all(r.params.n == 4 for r in backend.history[:6])  # self_consistency ran first
    for request in backend.history[6:]:
        assert request.messages is not None
        problem = by_question[request.messages[-1].content]
        assert request.params.seed == problem_seed(3, problem) + drawn.get(problem, 0)
        drawn[problem] = drawn.get(problem, 0) + request.params.n
    assert drawn == {r.problem: len(r.candidates) for r in records.values()}
    # re-running runs nothing; the report is the same
    again = FunctionBackend(split_model)
    second = evaluate(
        [task],
        ["self_consistency:n=4,max_tokens=8", spec],
        backend=again,
        out=tmp_path / "out",
        seed=3,
    )
    assert second.ran == 0 and again.history == []
    assert second.summary["results"] == outcome.summary["results"]


def test_allocate_with_too_small_a_budget_fails_before_sampling(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 3)))
    backend = FunctionBackend(split_model)
    with pytest.raises(ConfigError, match=r"budget of 30 completion tokens \(10 x 3 problems\)"):
        evaluate(
            [task], ["allocate:tokens_per_problem=10,max_tokens=16"], backend=backend, out=tmp_path
        )
    with pytest.raises(ConfigError, match="tokens_per_problem"):
        evaluate([task], ["allocate:n=4"], backend=backend, out=tmp_path)
    with pytest.raises(ConfigError, match="max_per_problem"):
        evaluate(
            [task],
            ["allocate:tokens_per_problem=50,initial=4,max_per_problem=2"],
            backend=backend,
            out=tmp_path,
        )
    with pytest.raises(ConfigError, match=r"straggler \(0.5\) must be 0 \(off\) or at least 1"):
        evaluate(
            [task], ["allocate:tokens_per_problem=50,straggler=0.5"], backend=backend, out=tmp_path
        )
    assert backend.history == []


def test_named_models_join_the_context_and_the_model_key(tmp_path: Path) -> None:
    task = make_task(str(write_questions(tmp_path / "q.jsonl", 3)))
    first = FunctionBackend(split_model)

    class Second(FunctionBackend):
        @property
        def model_name(self) -> str:
            return "second-model"

    second = Second(fake_model)
    outcome = evaluate(
        [task],
        ["model_switch:n=2,max_tokens=8"],
        backend=first,
        named_models={"second": second},
        out=tmp_path / "out",
    )
    assert outcome.summary["model"] == "function:function +second=function:second-model"
    # the split problems (odd first numbers) disagree with themselves and switch models
    assert first.history and second.history
    with pytest.raises(ConfigError, match="not supported with --ray"):
        evaluate(
            [task],
            ["greedy"],
            named_models={"second": second},
            out=tmp_path / "r",
            ray_address="local",
        )


def test_a_record_this_version_cannot_read_is_a_clear_error(tmp_path: Path) -> None:
    task = make_task("products", {"max_digits": 1}, seed=0)
    outcome = evaluate(
        [task],
        ["greedy"],
        backend=FunctionBackend(fake_model),
        out=tmp_path / "out",
        limit=2,
        progress=None,
    )
    assert outcome.ran == 2
    with Store(tmp_path / "out") as store:
        (key,) = [k for (_, k, _, _) in store.settings()]
        records = store.records(task.key, key, "function:function", 0)
        assert len(records) == 2 and all(r.usage.total_tokens > 0 for r in records.values())
    with sqlite3.connect(tmp_path / "out" / "results.sqlite") as db:  # a field gone
        db.execute("UPDATE results SET record = json_remove(record, '$.groups')")
    with pytest.raises(ConfigError, match="evaluate into a new --out"):
        report(tmp_path / "out")


def test_two_evals_on_one_store_split_the_work(tmp_path: Path) -> None:
    import threading
    from collections import Counter

    questions = write_questions(tmp_path / "q.jsonl", 24)
    backends = [FunctionBackend(fake_model, delay=0.02) for _ in range(2)]
    outcomes: list[object] = [None, None]

    def run(i: int) -> None:
        outcomes[i] = evaluate(
            [make_task(str(questions))],
            ["greedy"],
            backend=backends[i],
            out=tmp_path / "shared",
            concurrency=2,
            progress=None,
        )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    asked = Counter(r.messages[-1].content for b in backends for r in b.history if r.messages)
    assert len(asked) == 24 and set(asked.values()) == {1}  # every problem solved once
    assert all(len(b.history) > 0 for b in backends)  # both took a share
    with Store(tmp_path / "shared") as store:
        assert store.count() == 24
    final = report(tmp_path / "shared")
    assert final.summary["results"][0]["n_problems"] == 24


def test_a_claim_of_a_process_that_is_gone_is_taken_over(tmp_path: Path) -> None:
    questions = write_questions(tmp_path / "q.jsonl", 3)
    task = make_task(str(questions))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its PID is no longer running
    with Store(tmp_path / "out") as store:
        for problem in task.problems():
            store._db.execute(
                "INSERT INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    task.key,
                    problem.id,
                    "x",
                    "function:function",
                    0,
                    "dead run",
                    __import__("socket").gethostname(),
                    gone.pid,
                    time.time(),
                ),
            )
        assert store.claim(task.key, task.problems()[0].id or "", "x", "function:function", 0, "me")
    outcome = evaluate(
        [task],
        ["greedy"],
        backend=FunctionBackend(fake_model),
        out=tmp_path / "out",
        progress=None,
    )
    assert outcome.ran == 3


def test_interrupting_an_eval_says_what_is_stored_and_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    questions = write_questions(tmp_path / "q.jsonl", 2)
    evaluate(
        [make_task(str(questions))],
        ["greedy"],
        backend=FunctionBackend(fake_model),
        out=tmp_path / "out",
        progress=None,
    )

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("ponder.eval.evaluate", interrupted)
    result = CliRunner().invoke(app, ["eval", "-t", str(questions), "--out", str(tmp_path / "out")])
    assert result.exit_code == 130
    assert "2 result(s) are stored" in result.stderr and "again to resume" in result.stderr


def test_a_jsonl_file_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        b'{"question": "1+1", "answer": "2"}\n{"question": "caf\xe9", "answer": "1"}\n'
    )
    with pytest.raises(ConfigError, match=r"not UTF-8: byte 52 \(line 2\)"):
        make_task(str(path))


@pytest.mark.live
def test_two_gguf_files_of_one_name_are_two_models(tmp_path: Path) -> None:
    from ponder.backends.llamacpp import default_model_path

    original = default_model_path().read_bytes()
    first, second = tmp_path / "a" / "model.gguf", tmp_path / "b" / "model.gguf"
    for path, content in ((first, original), (second, original.replace(b"Smollm2", b"Smollx2", 1))):
        path.parent.mkdir()
        path.write_bytes(content)
    questions = write_questions(tmp_path / "q.jsonl", 1)
    light = {"n_ctx": 512, "n_parallel": 1, "n_prompt_slots": 1}
    runs = [
        evaluate(
            [make_task(str(questions))],
            ["greedy:max_tokens=4"],
            backend=str(path),
            backend_options=light,
            out=tmp_path / "out",
            progress=None,
        )
        for path in (first, second, first)
    ]
    assert [r.ran for r in runs] == [
        1,
        1,
        0,
    ]  # the second file is another model; the first is known
    assert runs[0].summary["model"] != runs[1].summary["model"]
    assert "@sha256:" in runs[0].summary["model"]
    with Store(tmp_path / "out") as store:
        assert len(store.models()) == 2


def test_a_rerun_keeps_the_original_timing_and_cut_off_replies_are_counted(
    tmp_path: Path,
) -> None:
    from ponder.core.types import Completion

    def model(request: GenerationRequest, index: int) -> Completion | str:
        if index % 2:  # every other sample runs to max_tokens: it gives no answer
            return Completion("Step 1: 2 + 2 = 4\nStep 2: 4 * 3 =", "length", 16, index)
        return fake_model(request, index)

    questions = write_questions(tmp_path / "q.txt", 3)  # any file name will do
    run = [
        evaluate(
            [make_task(str(questions))],
            ["self_consistency:n=4,max_tokens=16"],
            backend=FunctionBackend(model),
            out=tmp_path / "out",
            progress=None,
        )
        for _ in range(2)
    ]
    assert [r.ran for r in run] == [3, 0]
    first, again = (r.summary for r in run)
    assert (
        again["started"] == first["started"]
        and again["elapsed_seconds"] == first["elapsed_seconds"]
    )
    (row,) = first["results"]
    assert row["cut_off_share"] == 0.5 and row["elapsed_seconds"] is not None
    with Store(tmp_path / "out") as store:
        (key,) = [k for (_, k, _, _) in store.settings()]
        records = store.records(make_task(str(questions)).key, key, "function:function", 0)
    cut = [c for r in records.values() for c in r.candidates if c.finish_reason == "length"]
    assert cut and all(c.answer is None and c.abstained == "cut off at max_tokens" for c in cut)


def test_a_task_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no task file at"):
        make_task(str(tmp_path / "missing.json"))


def test_the_curve_and_the_table_break_ties_alike(tmp_path: Path) -> None:
    def split(request: GenerationRequest, index: int) -> str:  # 1-1: a tie every time
        assert request.messages is not None
        a, b = map(int, re.findall(r"\d+", request.messages[-1].content)[:2])
        return f"The answer is {a + b + index}."

    questions = write_questions(tmp_path / "q.jsonl", 4)
    outcome = evaluate(
        [make_task(str(questions))],
        ["self_consistency:n=2"],
        backend=FunctionBackend(split),
        out=tmp_path / "out",
        progress=None,
    )
    (row,) = outcome.summary["results"]
    (curve,) = outcome.summary["curves"]
    assert row["accuracy"] == 1.0  # ties go to the earliest sample, which is right
    assert curve["maj_at_k"] == [0.5, 1.0]  # one sample: a coin; two: the table's own vote
