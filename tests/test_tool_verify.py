"""``tool_verify``: model-written check programs run in the sandbox decide the score: a
printed value equivalent to the candidate's answer accepts it, ``True``/``False`` is a
verdict on its claim, a program that fails, hangs or prints nothing gives no verdict; it
serves ``best_of_n``; its tokens are charged to ``verify``; requests may not name it unless
the operator allows it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ponder.api import make_strategy
from ponder.core.problem import Candidate, Problem
from ponder.core.types import GenerationRequest
from ponder.errors import ConfigError
from ponder.runtime import Context
from ponder.scoring.scorers.base import make_scorer
from ponder.server.policy import Policy, PolicyError
from ponder.testing import FunctionBackend


def candidate(answer: str | None, index: int = 0) -> Candidate:
    text = f"3 + 4 = {answer}.\nAnswer: {answer}" if answer else "I am not sure."
    return Candidate(index, text, answer, 8, "stop")


def writer(program: str) -> Any:
    def reply(request: GenerationRequest, index: int) -> str:
        return f"Checking it:\n```python\n{program}\n```"

    return reply


def score(program: str, answers: list[str | None], **options: Any) -> list[Any]:
    scorer = make_scorer({"name": "tool_verify", **options})
    ctx = Context(FunctionBackend(writer(program)))
    problem = Problem("What is 3 + 4?")
    cands = [candidate(a, i) for i, a in enumerate(answers)]
    return asyncio.run(scorer.score(problem, cands, ctx))


def test_a_printed_value_is_compared_with_the_answer() -> None:
    right, wrong, none = score("x = 3\ny = 4\nprint(x + y)", ["7", "8", None])
    assert right.value == 1.0 and wrong.value == 0.0
    assert right.details["checks"][0]["printed"] == "7"
    assert none.value is None and "no answer" in (none.error or "")


def test_a_printed_verdict_is_taken_as_it_is() -> None:
    (accepted,) = score("print(3 + 4 == 7)", ["7"])
    (rejected,) = score("print(False)", ["7"])
    assert accepted.value == 1.0 and rejected.value == 0.0


@pytest.mark.parametrize(
    ("program", "why"),
    [
        ("raise ValueError('no')", "failed"),
        ("x = 1", "printed nothing"),
        ("import time\ntime.sleep(30)", "timeout"),
    ],
)
def test_a_program_that_gives_no_verdict_is_a_recorded_failure(program: str, why: str) -> None:
    (result,) = score(program, ["7"], timeout=1.0)
    assert result.value is None and "gave a verdict" in (result.error or "")
    assert why in result.details["checks"][0]["why"]


def test_a_reply_without_code_runs_nothing() -> None:
    scorer = make_scorer("tool_verify")
    ctx = Context(FunctionBackend(lambda r, i: "It looks right to me."))
    (result,) = asyncio.run(scorer.score(Problem("q"), [candidate("7")], ctx))
    assert result.value is None and result.details["ran"] == 0


def test_the_programs_run_in_the_sandbox() -> None:
    (reach,) = score("import socket\nsocket.create_connection(('127.0.0.1', 22))\nprint(7)", ["7"])
    assert reach.value is None  # the sandbox refuses the socket: no verdict


async def test_best_of_n_chooses_by_the_checks() -> None:
    def world(request: GenerationRequest, index: int) -> str:
        asked = request.messages[-1].content if request.messages else ""
        if "Python program" in asked:
            return "```python\nprint(3 + 4)\n```"
        return f"Answer: {(8, 7, 9)[index % 3]}"

    strategy = make_strategy("best_of_n", n=3, scorer="tool_verify", seed=0)
    result = await strategy.run("What is 3 + 4?", Context(FunctionBackend(world)))
    assert result.answer == "7"
    roles = result.ledger["by_role"]
    assert roles["verify"]["calls"] >= 3 and roles["verify"]["completion_tokens"] > 0


def test_bad_input_and_the_policy() -> None:
    with pytest.raises(ConfigError, match="m"):
        make_scorer("tool_verify(m=0)")
    with pytest.raises(ConfigError, match="timeout"):
        make_scorer("tool_verify(timeout=0)")
    policy = Policy.default()
    with pytest.raises(PolicyError, match="tool_verify"):
        policy.admit("best_of_n", {}, {"scorer": "tool_verify"}, {"default"})
