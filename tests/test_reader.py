"""Reading with the model's help (``reader=rules|model|hybrid``): the model continues a reply
with "Therefore, the final answer (...) is" and its few tokens are read; hybrid keeps the
rules' declared forms and asks the model only where the rules fell back or found nothing;
each candidate records which path read it; the reading's tokens are charged to ``read``; a
backend that cannot continue gets a short turn instead; cut-off replies and code are never
read; and on the embedded engine the reading continues the reply's own cached tokens."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from ponder.api import make_strategy
from ponder.core.problem import AnswerSpec, Problem
from ponder.core.types import GenerationRequest
from ponder.errors import ConfigError, UnknownNameError
from ponder.runtime import Context
from ponder.testing import FULL_CAPABILITIES, FunctionBackend

GCD = Problem("What is the GCD of 48 and 18?", answer=AnswerSpec("number"))
# the rules take the first factor of a product said in words: a misreading the model corrects
PROSE = "Both 48 and 18 are divisible by 2 and by 3, so their GCD equals 2 times 3."


def world(request: GenerationRequest, index: int) -> str:
    if "final answer" in request.prefix:
        return " 6."
    return PROSE if index % 2 == 0 else "Answer: 6"


def run(spec: str, reply: Any = world, problem: Problem = GCD, **backend: Any) -> Any:
    name, _, options = spec.partition(":")
    parsed: dict[str, Any] = dict(o.split("=") for o in options.split(",") if o)
    strategy = make_strategy(name, **parsed)
    return asyncio.run(strategy.run(problem, Context(FunctionBackend(reply, **backend))))


def test_rules_misread_prose_and_the_model_reads_it() -> None:
    rules = run("greedy")
    assert rules.answer == "2" and rules.candidates[0].read_by == "fallback"
    assert "read" not in rules.ledger["by_role"]
    model = run("greedy:reader=model")
    assert model.answer == "6" and model.candidates[0].read_by == "model"
    read = model.ledger["by_role"]["read"]
    assert read["calls"] == 1 and 0 < read["completion_tokens"] <= 16


def test_hybrid_asks_the_model_only_where_the_rules_fell_back() -> None:
    result = run("self_consistency:n=4,seed=0,reader=hybrid")
    paths = [c.read_by for c in result.candidates]
    assert paths == ["model", "declared", "model", "declared"]
    assert result.answer == "6" and len(result.details["votes"]) == 1
    assert result.ledger["by_role"]["read"]["calls"] == 2


def test_when_the_model_reads_nothing() -> None:
    def mute(request: GenerationRequest, index: int) -> str:
        return " something." if "final answer" in request.prefix else PROSE

    hybrid = run("greedy:reader=hybrid", mute)
    assert hybrid.answer == "2" and hybrid.candidates[0].read_by == "fallback"
    model = run("greedy:reader=model", mute)
    assert model.answer is None and model.candidates[0].abstained == "the model read no answer"


def test_a_backend_that_cannot_continue_gets_a_short_turn() -> None:
    seen: list[GenerationRequest] = []

    def turn(request: GenerationRequest, index: int) -> str:
        seen.append(request)
        last = request.messages[-1].content if request.messages else ""
        return "6" if "Complete this sentence" in last else PROSE

    plain = dataclasses.replace(FULL_CAPABILITIES, continuation=False)
    result = run("greedy:reader=model", turn, capabilities=plain)
    assert result.answer == "6"
    asked = seen[-1]
    assert asked.prefix == "" and asked.messages is not None
    assert [m.role for m in asked.messages][-2:] == ["assistant", "user"]
    assert "(a number)" in asked.messages[-1].content


def test_cut_off_replies_and_code_are_not_read() -> None:
    cut = run("greedy:reader=model,max_tokens=3")
    assert cut.answer is None and "read" not in cut.ledger["by_role"]
    code = Problem("Write f.", answer=AnswerSpec("code", entry_point="f"))
    result = run("greedy:reader=model", lambda r, i: "def f(): return 1", problem=code)
    assert "read" not in result.ledger["by_role"]


def test_a_named_model_reads_another_models_replies() -> None:
    writer_calls: list[GenerationRequest] = []
    reader_calls: list[GenerationRequest] = []

    def writer(request: GenerationRequest, index: int) -> str:
        writer_calls.append(request)
        return " 2." if "final answer" in request.prefix else PROSE  # a weak reader of itself

    def judge(request: GenerationRequest, index: int) -> str:
        reader_calls.append(request)
        return " 6."

    models = {"default": FunctionBackend(writer), "judge": FunctionBackend(judge)}
    for spec in ("greedy", "self_consistency:n=2,seed=0"):
        writer_calls.clear(), reader_calls.clear()
        name, _, options = spec.partition(":")
        parsed: dict[str, Any] = dict(o.split("=") for o in options.split(",") if o)
        strategy = make_strategy(name, reader="model", reader_model="judge", **parsed)
        result = asyncio.run(strategy.run(GCD, Context(models)))
        assert result.answer == "6" and all(c.read_by == "model" for c in result.candidates)
        assert all("final answer" not in r.prefix for r in writer_calls)  # the writer only wrote
        assert reader_calls and all(PROSE in r.prefix for r in reader_calls)  # the judge read
        assert all(not r.retain for r in writer_calls)  # nothing kept for a reading
    with pytest.raises(ConfigError, match="reader_model"):
        make_strategy("greedy", reader_model="judge")  # the rules read: nobody to name
    with pytest.raises(UnknownNameError, match="judge"):
        strategy = make_strategy("greedy", reader="model", reader_model="judge")
        asyncio.run(strategy.run(GCD, Context(FunctionBackend(writer))))


def test_bad_reader() -> None:
    with pytest.raises(ConfigError, match="reader"):
        make_strategy("greedy", reader="oracle")
    with pytest.raises(ConfigError, match="reader_tokens"):
        make_strategy("self_consistency", reader_tokens=0)


@pytest.mark.live
def test_the_embedded_reading_continues_the_cached_reply(embedded: Any) -> None:
    problem = Problem("What is 3 + 4? Explain briefly.", answer=AnswerSpec("number"))
    strategy = make_strategy("greedy", reader="model", max_tokens=128)
    result = asyncio.run(strategy.run(problem, Context(embedded)))
    candidate = result.candidates[0]
    read = result.ledger["by_role"].get("read")
    if candidate.finish_reason != "stop":
        assert read is None  # a cut-off reply is not read
        return
    assert read is not None and read["calls"] == 1 and read["completion_tokens"] <= 16
    # the reply's own tokens come from the cache: only the cue (and a token or two where
    # re-tokenising the reply differs) is computed
    assert read["prompt_tokens"] - read["cached_prompt_tokens"] <= 24
    assert candidate.read_by in ("model", None)


def evaluate_gcd(tmp_path: Any, settings: list[str], problems: int) -> Any:
    """``ponder eval`` of ``settings`` on ``problems`` GCD questions answered by ``world``."""
    import json

    from ponder.eval import evaluate
    from ponder.tasks import make_task

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "".join(json.dumps({"question": f"GCD {i}?", "answer": 6}) + "\n" for i in range(problems))
    )
    return evaluate(
        [make_task(str(questions))], settings, backend=FunctionBackend(world), out=tmp_path / "out"
    )


def test_reports_show_how_answers_were_read(tmp_path: Any) -> None:
    summary = evaluate_gcd(tmp_path, ["self_consistency:n=4,reader=hybrid", "greedy"], 4)
    rows = {r["name"]: r for r in summary.summary["results"] if not r["estimated"]}
    hybrid = rows["self_consistency"]["read_shares"]
    assert hybrid["model"] == 0.5 and hybrid["declared"] == 0.5 and hybrid["abstained"] == 0
    assert rows["greedy"]["read_shares"]["fallback"] == 1.0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## How answers were read" in report


def test_stores_written_before_the_reader_still_resume() -> None:
    """An option added to every strategy must leave existing settings' keys as they were
    (``LATE_OPTIONS``), or every store re-runs after an upgrade."""
    from ponder.core.registry import default_registry
    from ponder.eval.scope import make_settings

    keys = {
        s.label: s.key
        for s in make_settings(
            ["greedy", "self_consistency:n=8,max_tokens=512"], default_registry()
        )
    }
    assert keys["greedy"] == 'greedy:{"keep_cut_off":false,"max_tokens":256}'
    assert keys["self_consistency:n=8,max_tokens=512"] == (
        'self_consistency:{"keep_cut_off":false,"loop_repeats":0,"max_tokens":512,"n":8,'
        '"seed":null,"temperature":0.4,"top_k":null,"top_p":1.0}'
    )
    (hybrid,) = make_settings(["greedy:reader=hybrid"], default_registry())
    assert '"reader":"hybrid"' in hybrid.key


def test_compare_reads_every_reply_both_ways_and_records_whether_they_agree() -> None:
    result = run("self_consistency:n=4,seed=0,reader=compare")
    checks = [(c.read_by, c.read_check) for c in result.candidates]
    # the prose the rules misread ("2") the model reads as 6: they differ, the model's stands;
    # a declared "Answer: 6" stands and the model agrees
    assert checks == [("model", "differ"), ("declared", "agree")] * 2
    assert result.answer == "6"
    assert result.ledger["by_role"]["read"]["calls"] == 4  # every reply, unlike hybrid's 2
    assert all(c.as_dict()["read_check"] in ("agree", "differ") for c in result.candidates)


def test_compare_shares_in_the_report(tmp_path: Any) -> None:
    summary = evaluate_gcd(tmp_path, ["self_consistency:n=4,reader=compare"], 2)
    (row,) = [r for r in summary.summary["results"] if not r["estimated"]]
    assert row["read_shares"]["differ"] == 0.5
    assert "rules ≠ model" in (tmp_path / "out" / "report.md").read_text()


def test_the_model_s_continuation_is_read_without_its_leading_colon() -> None:
    capital = Problem("What is the capital of France?", answer=AnswerSpec("text"))

    def reply(request: GenerationRequest, index: int) -> str:
        return ": Paris." if "final answer" in request.prefix else "Well, it has to be Paris."

    result = run("greedy:reader=model", reply, problem=capital)
    assert result.answer == "Paris" and result.candidates[0].read_by == "model"
