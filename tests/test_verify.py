"""Scorers and the selection strategies of the verification family."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.api import make_strategy
from ponder.core.problem import Candidate, Problem
from ponder.core.spec import parse_spec as parse_strategy_spec
from ponder.core.types import Capabilities, Completion, GenerationRequest, TokenLogprob
from ponder.errors import (
    BudgetExhausted,
    CapabilityError,
    ConfigError,
    UnknownNameError,
    VerifierError,
)
from ponder.runtime import Budget, Context
from ponder.scoring.answers import majority_vote
from ponder.scoring.scorers.base import Comparator, Comparison, ScoreValue, aggregate, make_scorer
from ponder.scoring.scorers.confidence import Confidence, group_confidences, token_confidence
from ponder.scoring.scorers.judge import Judge
from ponder.scoring.scorers.python_fn import PythonScorer
from ponder.scoring.scorers.reward_model import RewardModel
from ponder.scoring.scorers.unit_tests import UnitTestScorer
from ponder.strategies.knockout import failure_bound, tournament
from ponder.strategies.weighted_vote import shortest_majority_vote
from ponder.testing import FunctionBackend

NO_LOGPROBS = Capabilities(continuation=True, native_n=True, streaming=True)


def prompt_of(request: GenerationRequest) -> str:
    assert request.messages is not None
    return request.messages[-1].content


def position(probs: dict[str, float]) -> TokenLogprob:
    """One generated position whose top alternatives have the given probabilities."""
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    top = tuple((t, math.log(p)) for t, p in ranked)
    return TokenLogprob(ranked[0][0], math.log(ranked[0][1]), top)


def candidate(i: int, text: str, answer: str | None = None, tokens: int = 10) -> Candidate:
    return Candidate(i, text, answer, tokens, "stop")


def judge_model(solutions: dict[str, float]) -> FunctionBackend:
    """Generates from ``solutions`` (text -> P(yes) the judge gives it), sample i the i-th."""
    texts = list(solutions)

    def fn(request: GenerationRequest, index: int) -> str | Completion:
        prompt = prompt_of(request)
        if "Proposed solution" in prompt:
            for text, p_yes in solutions.items():
                if text in prompt:
                    top = position({"Yes": p_yes * 0.9, "No": (1 - p_yes) * 0.9, "The": 0.1})
                    return Completion(top.token, "length", 1, index, (top,))
            raise AssertionError("the judge saw no known solution")
        seed = request.params.seed or 0
        return texts[(seed + index) % len(texts)]

    return FunctionBackend(fn)


# -- votes


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["1", "2", "3", "x", None]), st.floats(0, 10)),
        min_size=1,
        max_size=12,
    )
)
def test_a_weighted_vote_never_picks_a_lighter_answer(
    votes: list[tuple[str | None, float]],
) -> None:
    answers = [a for a, _ in votes]
    weights = [w for _, w in votes]
    vote = majority_vote(answers, weights)
    totals: dict[str, float] = {}
    for a, w in votes:
        if a is not None:
            totals[a] = totals.get(a, 0.0) + w
    if not totals:
        assert vote.answer is None
        return
    assert vote.answer is not None
    assert totals[vote.answer] >= max(totals.values()) - 1e-9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["1", "2", "3"]), st.integers(1, 500)), min_size=1))
def test_shortest_majority_ranks_by_count_over_mean_length(votes: list[tuple[str, int]]) -> None:
    cands = [candidate(i, f"t{i}", a, n) for i, (a, n) in enumerate(votes)]
    vote = shortest_majority_vote(cands)
    score = {}
    for a in {a for a, _ in votes}:
        lengths = [n for b, n in votes if b == a]
        score[a] = len(lengths) / (sum(lengths) / len(lengths))
    assert vote.answer is not None
    assert score[vote.answer] >= max(score.values()) - 1e-12


def test_shortest_majority_prefers_shorter_chains_at_equal_counts() -> None:
    cands = [
        candidate(0, "a", "5", 200),
        candidate(1, "b", "7", 40),
        candidate(2, "c", "5", 220),
        candidate(3, "d", "7", 60),
    ]
    assert shortest_majority_vote(cands).answer == "7"


# -- knockout


class NoisyComparator(Comparator):
    """Prefers the correct one of a mixed pair with probability p; a coin otherwise."""

    name = "noisy"

    def __init__(self, p: float, rng: random.Random) -> None:
        self.p, self.rng = p, rng

    async def compare(self, problem: Problem, pairs: Any, ctx: Any) -> list[Comparison]:
        verdicts = []
        for a, b in pairs:
            ok_a, ok_b = a.answer == "right", b.answer == "right"
            if ok_a == ok_b:
                verdicts.append(Comparison(self.rng.choice([0, 1])))  # type: ignore[arg-type]
            else:
                prefers_correct = self.rng.random() < self.p
                verdicts.append(Comparison(0 if prefers_correct == ok_a else 1))
        return verdicts


@pytest.mark.parametrize(("n", "k", "p_gen", "p_comp"), [(8, 9, 0.3, 0.9), (16, 15, 0.2, 0.85)])
def test_knockout_fails_no_more_often_than_the_papers_bound(
    n: int, k: int, p_gen: float, p_comp: float
) -> None:
    trials, failures, random_failures = 1500, 0, 0
    rng = random.Random(1234)
    comparator = NoisyComparator(p_comp, rng)

    async def run_all() -> int:
        fails = 0
        for _t in range(trials):
            # wrong answers are all different, so equal-answer skipping never hides a match
            cands = [
                candidate(i, f"s{i}", "right" if rng.random() < p_gen else f"wrong{i}")
                for i in range(n)
            ]
            winner, _ = await tournament(Problem("q"), cands, None, comparator, k=k)  # type: ignore[arg-type]
            fails += winner.answer != "right"
        return fails

    failures = asyncio.run(run_all())
    bound = failure_bound(n, k, p_gen, p_comp)
    slack = 3 * math.sqrt(bound * (1 - bound) / trials)
    assert failures / trials <= bound + slack
    # the check has teeth: picking a candidate at random fails far above the bound
    random_failures = sum(rng.random() >= p_gen for _ in range(trials))
    assert random_failures / trials > bound + slack


async def test_knockout_alternates_order_and_batches_each_round() -> None:
    seen: list[int] = []

    class Recorder(Comparator):
        name = "recorder"

        async def compare(self, problem: Problem, pairs: Any, ctx: Any) -> list[Comparison]:
            seen.append(len(pairs))
            # always prefer whichever is shown first: position bias, cancelled by alternation
            return [Comparison(0, p_first=0.9) for _ in pairs]

    cands = [candidate(i, f"s{i}", str(i)) for i in range(5)]
    winner, rounds = await tournament(Problem("q"), cands, None, Recorder(), k=2)  # type: ignore[arg-type]
    assert seen == [4, 2, 2]  # 2 pairs x 2, then 1 pair x 2 (+ the bye), then the final
    assert rounds[0][0]["wins"] == [1, 1]  # each won once: the bias cancelled
    assert rounds[0][-1] == {"bye": 4}
    assert winner.index in range(5)


async def test_knockout_records_a_comparator_that_answers_neither() -> None:
    def fn(request: GenerationRequest, index: int) -> str:
        if "Solution A" in prompt_of(request):
            return "Both are fine."
        return ["The answer is 3", "The answer is 4"][(request.params.seed or 0) + index & 1]

    backend = FunctionBackend(fn, capabilities=NO_LOGPROBS)
    result = await make_strategy("knockout", n=2, k=2, seed=0).run("q", Context(backend))
    assert result.details["comparison_failures"] == 2
    match = result.details["rounds"][0][0]
    assert match["decided_by"] == "tie: earlier candidate"
    assert all("neither A nor B" in v["error"] for v in match["verdicts"])


# -- judge


async def test_judge_reads_p_yes_and_best_of_n_picks_the_best() -> None:
    backend = judge_model({"The answer is 3": 0.2, "The answer is 4": 0.9, "It is 5": 0.5})
    ctx = Context(backend)
    result = await make_strategy("best_of_n", n=3, seed=0).run("2 + 2?", ctx)
    assert result.answer == "4"
    values = [s["value"] for s in result.details["scores"]]
    assert values == pytest.approx([0.2, 0.9, 0.5])
    verify = ctx.ledger.roles["verify"]
    assert verify.calls == 3 and verify.completion_tokens == 3
    assert ctx.ledger.roles["generate"].calls == 1


async def test_judge_without_yes_or_no_is_a_recorded_failure() -> None:
    def fn(request: GenerationRequest, index: int) -> str | Completion:
        if "Proposed solution" in prompt_of(request):
            top = position({"Maybe": 0.7, "Perhaps": 0.3})
            return Completion("Maybe", "length", 1, index, (top,))
        return "The answer is 4"

    with pytest.raises(VerifierError, match="neither yes nor no"):
        await make_strategy("best_of_n", n=2).run("q", Context(FunctionBackend(fn)))


async def test_text_judge_parses_a_rating_and_records_an_unparseable_one() -> None:
    replies = {
        "The answer is 3": "Rating: 2",
        "The answer is 4": "Rating: 10/10",
        "It is 5": "I cannot say",
    }

    def fn(request: GenerationRequest, index: int) -> str:
        prompt = prompt_of(request)
        for text, reply in replies.items():
            if "Proposed solution" in prompt and text in prompt:
                return reply
        return list(replies)[index]

    backend = FunctionBackend(fn, capabilities=NO_LOGPROBS)
    result = await make_strategy("best_of_n", n=3).run("q", Context(backend))
    scores = result.details["scores"]
    assert result.answer == "4"
    assert scores[0]["value"] == pytest.approx(1 / 9) and scores[1]["value"] == 1.0
    assert scores[2]["value"] is None and "no rating" in scores[2]["error"]
    assert result.details["score_failures"] == 1


async def test_judge_calls_are_issued_together() -> None:
    in_flight, peak = 0, 0
    all_in = asyncio.Event()  # set once 8 calls are in flight together

    class Counting(FunctionBackend):
        async def generate(self, request: GenerationRequest) -> Any:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            if in_flight == 8:
                all_in.set()
            if request.params.n == 1:  # a judge call waits for the others (if they come)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_in.wait(), timeout=2)
            try:
                return await super().generate(request)
            finally:
                in_flight -= 1

    inner = judge_model({f"The answer is {i}": (i + 1) / 10 for i in range(8)})
    backend = Counting(inner.fn)
    await make_strategy("best_of_n", n=8).run("q", Context(backend))
    assert peak == 8


def test_missing_logprobs_names_the_capability_and_the_scorers_that_work() -> None:
    backend = FunctionBackend(lambda r, i: "4", capabilities=NO_LOGPROBS)
    for spec, scorer in [
        ("best_of_n", "confidence"),
        ("best_of_n", "judge(mode=logprob)"),
        ("weighted_self_consistency", "confidence"),
    ]:
        strategy = make_strategy(spec, scorer=scorer)
        with pytest.raises(CapabilityError) as caught:
            asyncio.run(strategy.run("q", Context(backend)))
        message = str(caught.value)
        assert "logprobs" in message and "scorers that work with it:" in message
        assert "judge (mode=text without logprobs)" in message and "tests" in message
        assert "confidence," not in message.split("work with it:")[1]
    assert backend.history == []  # nothing was sampled


# -- confidence


def test_confidence_metrics() -> None:
    sure = position({"4": 0.97, "5": 0.02, "6": 0.01})
    unsure = position({"4": 0.4, "5": 0.35, "6": 0.25})
    assert token_confidence(sure) > token_confidence(unsure)
    assert group_confidences([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]
    assert group_confidences([1, 2], 5) == [1.5]
    confident = Candidate(0, "x", "4", 3, "stop", logprobs=(sure, sure, sure))
    shaky = Candidate(1, "y", "5", 3, "stop", logprobs=(sure, unsure, sure))
    scorer = Confidence(metric="lowest_group", window=1)
    assert scorer.score_one(confident).value > scorer.score_one(shaky).value  # type: ignore[operator]
    mean = Confidence(metric="mean_logprob").score_one(confident)
    assert mean.value == pytest.approx(0.97)
    missing = Confidence().score_one(candidate(2, "z", "4"))
    assert missing.value is None and "without logprobs" in (missing.error or "")


async def test_weighted_self_consistency_lets_confident_minority_win() -> None:
    sure = position({"Yes": 0.98, "No": 0.01, "x": 0.01})
    unsure = position({"Yes": 0.34, "No": 0.33, "x": 0.33})

    def fn(request: GenerationRequest, index: int) -> Completion:
        if index == 0:
            return Completion("The answer is 7", "stop", 4, index, (sure,) * 4)
        return Completion("The answer is 9", "stop", 4, index, (unsure,) * 4)

    backend = FunctionBackend(fn)
    weighted = await make_strategy("weighted_self_consistency", n=3).run("q", Context(backend))
    assert backend.history[0].params.top_logprobs == 20  # the scorer asked for what it needs
    assert weighted.answer == "7"  # one very confident vote outweighs two unsure ones
    plain = await make_strategy("self_consistency", n=3).run("q", Context(FunctionBackend(fn)))
    assert plain.answer == "9"


async def test_probability_weighting_counts_a_repeated_path_once() -> None:
    high = TokenLogprob("a", math.log(0.9))
    low = TokenLogprob("b", math.log(0.5))

    def fn(request: GenerationRequest, index: int) -> Completion:
        if index < 3:  # the same low-probability path, three times
            return Completion("So 5", "stop", 1, index, (low,))
        return Completion("So 6", "stop", 1, index, (high,))

    result = await make_strategy("weighted_self_consistency", n=4, weighting="probability").run(
        "q", Context(FunctionBackend(fn))
    )
    assert result.answer == "6"
    with pytest.raises(ConfigError, match="drop the scorer"):
        make_strategy("weighted_self_consistency", weighting="probability", scorer="judge")


# -- reward model over HTTP


class _RewardHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))  # type: ignore[attr-defined]
        if self.path == "/broken":
            payload = b"{not json"
        elif self.path == "/pooling":
            text = body["messages"][-1]["content"]
            steps = text.count("<s>")
            rows = [[0.1, 0.9 - 0.2 * i] for i in range(steps)] if steps else [[0.0, 0.7]]
            payload = json.dumps(
                {"data": [{"index": 0, "data": rows}], "usage": {"prompt_tokens": 11}}
            ).encode()
        elif self.path == "/classify":
            data = [{"index": i, "probs": [0.5, 0.1 * (i + 1)]} for i in range(len(body["input"]))]
            payload = json.dumps({"data": data}).encode()
        elif self.path == "/score":
            payload = json.dumps({"scores": [0.3, [0.9, 0.5]]}).encode()
        else:
            payload = json.dumps({"unexpected": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def reward_server() -> Iterator[tuple[str, list[Any]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RewardHandler)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.requests  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


CANDS = [candidate(0, "step one\n\nstep two", "1"), candidate(1, "only step", "2")]


async def test_reward_model_apis_and_step_aggregation(reward_server: Any) -> None:
    url, requests = reward_server
    ctx = Context(FunctionBackend(lambda r, i: "x"))
    prm = RewardModel(url=url + "/v1", step_token="<s>", aggregate="min")
    scores = await prm.score(Problem("q"), CANDS, ctx)
    assert scores[0].steps == pytest.approx((0.9, 0.7)) and scores[0].value == pytest.approx(0.7)
    sent = sorted(body["messages"][-1]["content"] for _, body in requests)
    assert sent == ["only step<s>", "step one<s>step two<s>"]
    assert ctx.ledger.roles["verify"].prompt_tokens == 22
    for how, expected in [("last", 0.7), ("product", 0.63), ("mean", 0.8)]:
        s = await RewardModel(url=url, step_token="<s>", aggregate=how).score(
            Problem("q"), CANDS[:1], ctx
        )
        assert s[0].value == pytest.approx(expected)
    orm = await RewardModel(url=url).score(Problem("q"), CANDS, ctx)
    assert [s.value for s in orm] == pytest.approx([0.7, 0.7])
    classify = await RewardModel(url=url, api="classify").score(Problem("q"), CANDS, ctx)
    assert [s.value for s in classify] == pytest.approx([0.1, 0.2])
    plain = await RewardModel(url=url + "/score", api="json", aggregate="mean").score(
        Problem("q"), CANDS, ctx
    )
    assert [s.value for s in plain] == pytest.approx([0.3, 0.7])
    assert requests[-1][1]["steps"] == [["step one", "step two"], ["only step"]]


async def test_reward_model_failures_are_recorded_and_named(reward_server: Any) -> None:
    url, _ = reward_server
    ctx = Context(FunctionBackend(lambda r, i: "x"))
    broken = await RewardModel(url=url + "/broken", api="json").score(Problem("q"), CANDS, ctx)
    assert all(s.value is None and "not JSON" in (s.error or "") for s in broken)
    # never its body: scores and their errors reach whoever asked
    assert all("{not json" not in (s.error or "") for s in broken)
    shape = await RewardModel(url=url + "/other", api="json").score(Problem("q"), CANDS, ctx)
    assert all("unexpected shape" in (s.error or "") for s in shape)
    with pytest.raises(VerifierError, match="could not be reached"):
        await make_strategy(
            "best_of_n", n=2, scorer={"name": "reward_model", "url": "http://127.0.0.1:9"}
        ).run("q", ctx)
    with pytest.raises(ConfigError, match="not an http"):
        make_strategy("best_of_n", scorer="reward_model(url=ftp://x)")


# -- tests and python scorers


TESTS_PROBLEM = Problem(
    "Write add(a, b).",
    metadata={
        "tests": [
            "assert candidate(1, 2) == 3",
            "assert candidate(2, 2) == 4",
            "assert candidate(0, 0) == 1",
        ],
        "entry_point": "add",
    },
)


async def test_tests_scorer_gives_the_fraction_passed() -> None:
    ctx = Context(FunctionBackend(lambda r, i: "x"))
    good = candidate(0, "```python\ndef add(a, b):\n    return a + b\n```")
    loops = candidate(1, "def add(a, b):\n    while a == 0:\n        pass\n    return a + b")
    missing = candidate(2, "def plus(a, b):\n    return a + b")
    scores = await UnitTestScorer(timeout=3).score(TESTS_PROBLEM, [good, loops, missing], ctx)
    assert scores[0].value == pytest.approx(2 / 3)
    assert scores[1].value == pytest.approx(2 / 3)  # the third test hung; the first two count
    assert scores[2].value == 0.0
    assert ctx.ledger.roles["verify"].calls == 3


async def test_a_crashing_test_harness_is_a_recorded_failure() -> None:
    ctx = Context(FunctionBackend(lambda r, i: "x"))
    broken = Problem(
        "q", metadata={**TESTS_PROBLEM.metadata, "test_setup": "import nonexistent_mod"}
    )
    good = candidate(0, "def add(a, b):\n    return a + b")
    [score] = await UnitTestScorer().score(broken, [good], ctx)
    assert score.value is None and "harness crashed" in (score.error or "")
    unparsable = Problem("q", metadata={"tests": ["assert (("], "entry_point": "add"})
    [score] = await UnitTestScorer().score(unparsable, [good], ctx)
    assert score.value is None and "harness crashed" in (score.error or "")
    [score] = await UnitTestScorer().score(Problem("q"), [good], ctx)
    assert score.value is None and "no unit tests" in (score.error or "")


async def test_humaneval_problems_carry_tests_the_scorer_runs() -> None:
    from ponder.tasks.humaneval import HumanEvalTask

    problem = HumanEvalTask().problems(limit=1)[0]
    reference = (
        "```python\n" + problem.metadata["record"]["prompt"] + problem.metadata["reference"] + "```"
    )
    ctx = Context(FunctionBackend(lambda r, i: "x"))
    [score] = await UnitTestScorer().score(problem, [candidate(0, reference)], ctx)
    assert score.value == 1.0 and score.details["of"] == len(problem.metadata["tests"]) > 1


async def test_python_scorer_records_what_the_function_did() -> None:
    def fn(problem: Problem, cand: Candidate) -> Any:
        if cand.index == 1:
            raise RuntimeError("boom")
        return "high" if cand.index == 2 else 0.5

    ctx = Context(FunctionBackend(lambda r, i: "x"))
    scores = await PythonScorer(fn=fn).score(
        Problem("q"), [candidate(i, "t") for i in range(3)], ctx
    )
    assert scores[0].value == 0.5
    assert "raised RuntimeError: boom" in (scores[1].error or "")
    assert "not a finite number" in (scores[2].error or "")
    by_path = make_scorer("python(function=math:fabs)")
    assert isinstance(by_path, PythonScorer)
    with pytest.raises(ConfigError, match="needs a function"):
        make_scorer("python")


# -- specs, budgets, multiple models


def test_scorer_specs_parse_with_nested_options() -> None:
    name, options = parse_strategy_spec(
        "best_of_n:n=8,scorer=judge(mode=text,model=big),temperature=0.7"
    )
    assert options == {"n": 8, "scorer": "judge(mode=text,model=big)", "temperature": 0.7}
    scorer = make_scorer(options["scorer"])
    assert isinstance(scorer, Judge) and scorer.model == "big"
    with pytest.raises(
        UnknownNameError, match="choose one of: arithmetic, confidence, gen_verify, judge"
    ):
        make_strategy("best_of_n", scorer="oracle")
    with pytest.raises(ConfigError, match="cannot; pairwise scorers: judge"):
        make_strategy("knockout", scorer="confidence")
    with pytest.raises(ConfigError, match="unknown aspect"):
        make_strategy("multi_verifier", aspects=["corectness"])
    assert aggregate([0.5, 0.2], "product") == pytest.approx(0.1)


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(
        [
            "best_of_n",
            "weighted_self_consistency",
            "shortest_majority",
            "knockout",
            "multi_verifier",
            "model_switch",
        ]
    ),
    st.integers(1, 400),
)
def test_no_strategy_spends_more_than_its_budget(name: str, limit: int) -> None:
    sure = position({"Yes": 0.6, "No": 0.3, "A": 0.1})

    def fn(request: GenerationRequest, index: int) -> Completion:
        words = " ".join(["w"] * (index % 5)) + f" The answer is {index % 3}"
        return Completion(words, "stop", len(words.split()), index, (sure,) * len(words.split()))

    backends = {"default": FunctionBackend(fn), "second": FunctionBackend(fn)}
    ctx = Context(backends, budget=Budget(completion_tokens=limit))
    strategy = make_strategy(name, n=4, max_tokens=12)
    with contextlib.suppress(BudgetExhausted):
        asyncio.run(strategy.run("q", ctx))
    assert ctx.ledger.total().completion_tokens <= limit


async def test_model_switch_switches_only_when_the_first_model_disagrees() -> None:
    agree = FunctionBackend(lambda r, i: "The answer is 4")
    split = FunctionBackend(lambda r, i: f"The answer is {i}")
    other = FunctionBackend(lambda r, i: "The answer is 5")
    ctx = Context({"default": agree, "second": other})
    result = await make_strategy("model_switch", n=3).run("q", ctx)
    assert result.answer == "4" and result.details["switched"] == 0 and other.history == []
    ctx = Context({"default": split, "second": other})
    result = await make_strategy("model_switch", n=3).run("q", ctx)
    assert result.answer == "5" and result.details["switched"] == 1
    assert [c.model for c in result.candidates] == ["default"] * 3 + ["second"] * 3
    lonely = FunctionBackend(lambda r, i: "4")
    with pytest.raises(UnknownNameError, match="unknown model 'second'"):
        await make_strategy("model_switch").run("q", Context(lonely))
    assert lonely.history == []


async def test_multi_verifier_counts_approvals_across_aspects_and_models() -> None:
    def verifier(approves: str) -> FunctionBackend:
        def fn(request: GenerationRequest, index: int) -> Completion:
            prompt = prompt_of(request)
            yes = 0.9 if approves in prompt.split("Proposed solution:")[1] else 0.1
            top = position({"Yes": yes, "No": 1 - yes})
            return Completion(top.token, "length", 1, index, (top,))

        return FunctionBackend(fn)

    gen = FunctionBackend(lambda r, i: ["The answer is 3", "The answer is 4"][i % 2])
    ctx = Context({"default": gen, "a": verifier("is 4"), "b": verifier("is 4")})
    result = await make_strategy(
        "multi_verifier", n=2, verifier_models=["a", "b"], aspects=["correctness", "logic"]
    ).run("q", ctx)
    assert result.answer == "4" and result.details["approvals"] == [0, 4]
    assert ctx.ledger.roles["verify"].calls == 8  # 2 candidates x 2 aspects x 2 models


@pytest.mark.live
async def test_best_of_n_with_the_embedded_judge(embedded: Any) -> None:
    ctx = Context(embedded)
    result = await make_strategy("best_of_n", n=3, max_tokens=24, seed=3).run("What is 3 + 4?", ctx)
    assert ctx.ledger.roles["verify"].calls == 3
    assert all(isinstance(s["value"], float) for s in result.details["scores"])
    assert result.text in [c.text for c in result.candidates]
    assert ScoreValue(0.5).ok


async def test_process_reward_model_scores_search_nodes(reward_server: Any) -> None:
    """A search's nodes scored by a PRM behind vLLM's /pooling: each node once, its steps
    joined by the step token, its score the PRM's value for its last step."""
    url, requests = reward_server

    def model(request: GenerationRequest, index: int) -> str:
        depth = request.prefix.count("\n\n")
        return "Answer: 4" if depth >= 2 else f"step {depth} of {index}\n\nrest"

    prm = {"name": "reward_model", "url": url + "/v1", "step_token": "<s>", "aggregate": "last"}
    strategy = make_strategy("beam_search", n=2, beam_width=1, scorer=prm, seed=1)
    result = await strategy.run("q", Context(FunctionBackend(model)))
    tree = result.details["tree"]
    scored = [n for n in tree[1:] if n["scored"] == "yes"]
    assert len(requests) == len(scored) > 0
    for node in scored:
        assert node["score"] == pytest.approx(0.9 - 0.2 * (node["depth"] - 1))
    sent = [body["messages"][-1]["content"] for _, body in requests]
    assert any(text.count("<s>") == 3 for text in sent)
    assert result.answer == "4"
