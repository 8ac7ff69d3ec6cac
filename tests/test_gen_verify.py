"""``gen_verify`` (generative verification): verdicts read from reasoning chains, averaged;
the ledger is the sum of its calls under ``verify``; the budget holds; the same seed gives the
same result; a chain without a verdict is left out and a candidate without any fails, on the
record; a request cannot set its prompt; and it runs on the embedded model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.api import make_strategy
from ponder.core.problem import Candidate, Problem
from ponder.core.types import GenerationRequest
from ponder.errors import BudgetExhausted, ConfigError, VerifierError
from ponder.runtime import Budget, Context
from ponder.scoring.scorers.base import make_scorer
from ponder.scoring.scorers.gen_verify import verdict
from ponder.server.policy import Policy, PolicyError
from ponder.testing import FunctionBackend


def play(request: GenerationRequest, index: int) -> str:
    """Solves with 'The answer is 4.' or '5.'; as a verifier, accepts 4 in two chains of
    three and rejects 5 (and says nothing in the third chain of a 5)."""
    asked = request.messages[-1].content if request.messages else ""
    if "Proposed solution" not in asked:
        return f"The answer is {4 + index % 2}."
    if "answer is 4" in asked:
        return "Redo: 2 + 2 = 4. Verdict: correct" if index < 2 else "Hmm. Verdict: incorrect"
    return "2 + 2 is not 5. Verdict: incorrect" if index < 2 else "I cannot tell."


def test_verdicts_are_read_from_the_chains_text() -> None:
    assert verdict("steps... Verdict: correct") is True
    assert verdict("Verdict: **Incorrect**") is False
    assert verdict("verdict - correct. Wait, verdict: not correct") is False
    assert verdict("no verdict here, it looks correct") is None


async def test_best_of_n_picks_what_the_chains_accept() -> None:
    backend = FunctionBackend(play)
    strategy = make_strategy("best_of_n", n=2, scorer="gen_verify(m=3,seed=1)", seed=0)
    result = await strategy.run("What is 2 + 2?", Context(backend))
    assert result.answer == "4"
    scores = result.details["scores"]
    assert scores[0]["value"] == pytest.approx(2 / 3)
    assert scores[1]["value"] == 0.0 and scores[1]["details"]["with_verdict"] == 2
    verify = result.ledger["by_role"]["verify"]
    assert verify["calls"] == 2  # one request of m chains per candidate
    generate = result.ledger["by_role"]["generate"]
    assert (
        result.usage.completion_tokens
        == verify["completion_tokens"] + (generate["completion_tokens"])
    )


async def test_a_candidate_without_any_verdict_is_a_recorded_failure() -> None:
    silent = FunctionBackend(lambda request, index: "I am not sure.")
    scorer = make_scorer("gen_verify(m=2)")
    candidate = Candidate(0, "The answer is 4.", "4", 5, "stop")
    [score] = await scorer.score(Problem("2 + 2?"), [candidate], Context(silent))
    assert score.value is None and "none of the 2 verification chains" in (score.error or "")


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), m=st.integers(1, 4), budget=st.integers(40, 400))
def test_ledger_adds_up_and_the_budget_holds(n: int, m: int, budget: int) -> None:
    async def run() -> Any:
        ctx = Context(FunctionBackend(play), budget=Budget(completion_tokens=budget))
        spec = f"gen_verify(m={m},max_tokens=8,seed=3)"
        strategy = make_strategy("best_of_n", n=n, scorer=spec, max_tokens=8, seed=0)
        try:
            return await strategy.run("What is 2 + 2?", ctx), ctx
        except BudgetExhausted:
            return None, ctx

    result, ctx = asyncio.run(run())
    spent = ctx.ledger.total().completion_tokens
    assert spent <= budget
    if result is not None:
        roles = result.ledger["by_role"]
        assert sum(r["completion_tokens"] for r in roles.values()) == spent
        assert roles["verify"]["calls"] == n


def test_the_same_seed_gives_the_same_result() -> None:
    def run() -> Any:
        strategy = make_strategy("best_of_n", n=2, scorer="gen_verify(m=3,seed=5)", seed=2)
        return asyncio.run(strategy.run("What is 2 + 2?", Context(FunctionBackend(play))))

    first, second = run(), run()
    assert first.answer == second.answer and first.details == second.details


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="m"):
        make_scorer("gen_verify(m=0)")
    with pytest.raises(ConfigError, match="template"):
        asyncio.run(
            make_scorer({"name": "gen_verify", "prompt": "{question:>99}"}).score(
                Problem("q"), [Candidate(0, "x", "1", 1, "stop")], Context(FunctionBackend(play))
            )
        )
    with pytest.raises(PolicyError, match="prompt template"):
        Policy.default().admit("best_of_n", {}, {"scorer": "gen_verify(prompt=x)"}, {"default"})


@pytest.mark.live
def test_gen_verify_on_the_embedded_model(embedded: Any) -> None:
    strategy = make_strategy(
        "best_of_n", n=2, scorer="gen_verify(m=2,max_tokens=48,seed=1)", max_tokens=24, seed=0
    )
    ctx = Context(embedded)
    try:
        result = asyncio.run(strategy.run("What is 3 + 4?", ctx))
    except VerifierError as exc:  # a 135M model may write no verdict: said, not guessed
        assert "verification chains" in str(exc)
    else:
        assert len(result.details["scores"]) == 2
    verify = ctx.ledger.as_dict()["by_role"]["verify"]
    assert verify["calls"] == 2 and verify["completion_tokens"] > 0
