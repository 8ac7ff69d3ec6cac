"""Adaptive compute: stopping rules, cancellation, the savings ledger, bad input."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.api import make_strategy
from ponder.core.types import (
    Capabilities,
    Completion,
    GenerationRequest,
    Message,
    TokenLogprob,
    make_params,
)
from ponder.errors import CapabilityError, ConfigError
from ponder.runtime import Budget, Context
from ponder.strategies.early_stopping import (
    beta_leader_probability,
    dirichlet_leader_probability,
    majority_probability,
)
from ponder.testing import FunctionBackend


def scripted_answers(answers: list[str], pad: int = 0) -> FunctionBackend:
    """Sample i (by seed + index) answers answers[i]; ``pad`` extra words before it."""

    def fn(request: GenerationRequest, index: int) -> str:
        i = (request.params.seed or 0) + index
        return " ".join(["so"] * pad + [f"The answer is {answers[i % len(answers)]}"])

    return FunctionBackend(fn)


# -- the stopping rules


def test_beta_rule_is_exact() -> None:
    assert beta_leader_probability(2, 0) == pytest.approx(0.875)
    assert beta_leader_probability(3, 3) == pytest.approx(0.5)
    assert beta_leader_probability(3, 1) == pytest.approx(0.8125)
    # against numerical integration of the Beta(c1 + 1, c2 + 1) density above 1/2
    c1, c2 = 5, 2
    grid = [0.5 + (i + 0.5) / 20000 * 0.5 for i in range(20000)]
    norm = math.factorial(c1 + c2 + 1) / (math.factorial(c1) * math.factorial(c2))
    integral = sum(norm * x**c1 * (1 - x) ** c2 for x in grid) * (0.5 / 20000)
    assert beta_leader_probability(c1, c2) == pytest.approx(integral, abs=1e-6)
    assert dirichlet_leader_probability((6, 1)) > dirichlet_leader_probability((3, 2, 1))
    assert majority_probability([], "beta") == 0.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["1", "2", "3"]), min_size=16, max_size=16),
    st.integers(1, 4),
    st.integers(4, 16),
    st.integers(1, 4),
)
def test_early_stopping_sc_stops_at_the_first_unanimous_window(
    answers: list[str], window: int, n: int, parallel: int
) -> None:
    window = min(window, n)
    ctx = Context(scripted_answers(answers))
    strategy = make_strategy("early_stopping_sc", n=n, window=window, parallel=parallel, seed=0)
    result = asyncio.run(strategy.run("q", ctx))
    assert len(result.candidates) <= n  # never later than the fixed-N run it replaces
    if parallel > 1:  # equal lengths: the order samples finish in is the scheduler's
        return
    expected = n
    for start in range(0, n - window + 1, window):  # a last, partial window does not count
        chunk = answers[start : start + window]
        if len(set(chunk)) == 1:
            expected = start + window
            assert result.answer == chunk[0]
            assert result.details["stopped_by"] == "unanimous window"
            break
    assert len(result.candidates) == expected


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["1", "2", "3"]), min_size=16, max_size=16),
    st.sampled_from([0.6, 0.8, 0.95]),
    st.sampled_from(["beta", "dirichlet"]),
)
def test_adaptive_consistency_stops_no_later_than_fixed_n(
    answers: list[str], threshold: float, rule: str
) -> None:
    ctx = Context(scripted_answers(answers))
    strategy = make_strategy(
        "adaptive_consistency", n=16, threshold=threshold, rule=rule, parallel=1, seed=0
    )
    result = asyncio.run(strategy.run("q", ctx))
    assert len(result.candidates) <= 16
    counts: dict[str, int] = {}
    stop_at = None
    for i, a in enumerate(answers):  # one in flight: the rule sees samples in order
        counts[a] = counts.get(a, 0) + 1
        if majority_probability(sorted(counts.values(), reverse=True), rule) >= threshold:
            stop_at = i + 1
            break
    assert len(result.candidates) == (stop_at or 16)
    assert result.details["stopped_by"] == ("threshold" if stop_at else "n")


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(
        [
            "early_stopping_sc",
            "adaptive_consistency",
            "deepconf",
            "first_finish",
            "deepconf:offline",
        ]
    ),
    st.integers(30, 400),
)
def test_stopping_rules_never_exceed_the_budget(name: str, limit: int) -> None:
    def fn(request: GenerationRequest, index: int) -> Completion:
        words = ["w"] * (((request.params.seed or 0) + index) % 7) + ["The answer is 3"]
        text = " ".join(words)
        k = len(text.split())
        lp = (TokenLogprob("w", -0.1, (("w", -0.1), ("x", -3.0))),) * k
        return Completion(text, "stop", k, index, lp)

    options: dict[str, Any] = {"max_tokens": 10, "seed": 0}
    if name.startswith("deepconf"):
        options.update(window=2, warmup=2, n=8)
        if name.endswith("offline"):
            options["mode"] = "offline"
        name = "deepconf"
    # samples stream side by side (step_delay), so launches overlap as on a real backend
    ctx = Context(FunctionBackend(fn, step_delay=0.0002), budget=Budget(completion_tokens=limit))
    try:
        result = asyncio.run(make_strategy(name, **options).run("q", ctx))
    except ConfigError as exc:  # the first request alone would not fit: refused up front
        assert "raise the budget" in str(exc)
    else:  # a tight budget ends the run with what it drew; it never fails it
        assert result.candidates
    assert ctx.ledger.total().completion_tokens <= limit


# -- cancellation and the savings ledger


async def test_first_finish_keeps_the_first_and_charges_the_cancelled() -> None:
    lengths = [12, 30, 5, 40]

    def fn(request: GenerationRequest, index: int) -> str:
        return " ".join(["step"] * lengths[index] + [f"The answer is {index}"])

    backend = FunctionBackend(fn, step_delay=0.001)
    ctx = Context(backend)
    result = await make_strategy("first_finish", n=4).run("q", ctx)
    assert result.answer == "2"  # the shortest finished first
    savings = result.details["savings"]
    assert savings["samples_cancelled"] == 3 and savings["samples_finished"] == 1
    cancelled = ctx.ledger.cancelled
    assert len(cancelled) == 3 and all(6 <= t <= 9 for t in cancelled)
    # the ledger charges what was produced: the finished sample and the cut-short ones
    assert ctx.ledger.total().completion_tokens == sum(cancelled) + 9
    assert ctx.ledger.as_dict()["samples_cancelled"] == 3
    voted = await make_strategy("first_finish", n=4, k=2).run("q", Context(backend))
    assert voted.details["finish_order"] == [2, 0]
    # vote members are candidate indices, as in every other strategy's votes
    assert sorted(m for g in voted.details["votes"] for m in g["members"]) == [0, 2]
    assert {g["answer"]: g["members"] for g in voted.details["votes"]} == {"2": [2], "0": [0]}


@pytest.mark.parametrize("name", ["adaptive_consistency", "early_stopping_sc"])
async def test_stragglers_are_cut_replaced_and_charged(name: str) -> None:
    def fn(request: GenerationRequest, index: int) -> str:
        i = (request.params.seed or 0) + index
        pad = 60 if i == 1 else 4  # sample 1 loops; the others take 8 tokens
        return " ".join(["so"] * pad + [f"The answer is {i}"])  # no two agree: no early stop

    options: dict[str, Any] = {"n": 6, "parallel": 2, "seed": 0, "straggler": 4}
    if name == "early_stopping_sc":
        options["window"] = 2
    ctx = Context(FunctionBackend(fn, step_delay=0.001))
    result = await make_strategy(name, **options).run("q", ctx)
    cut = result.candidates[1]
    assert cut.finish_reason == "cancelled" and cut.answer is None
    # cut at the first token past 4 x the median finished length (8), at most a step later
    assert 33 <= cut.completion_tokens <= 34
    assert [c.finish_reason for c in result.candidates].count("stop") == 5  # replaced
    savings = result.details["savings"]
    assert savings["stragglers_cut"] == 1 and savings["cancelled_tokens"] == [cut.completion_tokens]
    assert ctx.ledger.total().completion_tokens == 5 * 8 + cut.completion_tokens
    kept = await make_strategy(name, **{**options, "straggler": 0}).run(
        "q", Context(FunctionBackend(fn, step_delay=0.001))
    )
    assert kept.candidates[1].finish_reason == "stop"  # straggler=0: nothing is cut
    assert kept.details["savings"]["stragglers_cut"] == 0


async def test_samples_of_a_problem_under_way_are_queued_ahead_of_new_problems() -> None:
    backend = scripted_answers(["1", "2", "3", "4", "5", "6"])
    strategy = make_strategy("adaptive_consistency", n=6, parallel=2, seed=0)
    await strategy.run("q", Context(backend))
    assert [r.priority for r in backend.history] == [0, 0, 1, 1, 1, 1]


async def test_deepconf_online_cancels_traces_that_lose_confidence() -> None:
    sure = TokenLogprob("a", -0.01, (("a", -0.01), ("b", -6.0), ("c", -7.0)))
    lost = TokenLogprob("a", -1.0, (("a", -1.0), ("b", -1.1), ("c", -1.2)))

    def fn(request: GenerationRequest, index: int) -> Completion:
        i = (request.params.seed or 0) + index
        if i == 1:  # a confident warm-up trace that disagrees, so no early consensus
            return Completion(" ".join(["x"] * 20 + ["9"]), "stop", 21, index, (sure,) * 21)
        if i % 2 == 0:  # confident traces answering 7
            return Completion(" ".join(["x"] * 20 + ["7"]), "stop", 21, index, (sure,) * 21)
        return Completion(
            " ".join(["y"] * 20 + ["9"]), "stop", 21, index, (sure,) * 3 + (lost,) * 18
        )

    ctx = Context(FunctionBackend(fn, step_delay=0.001))
    strategy = make_strategy(
        "deepconf", n=8, warmup=2, window=4, eta=90, consensus=0.95, parallel=2, seed=0
    )
    result = await strategy.run("q", ctx)
    details = result.details
    assert details["early_terminated"]  # the wavering traces were stopped
    for i in details["early_terminated"]:
        assert result.candidates[i].finish_reason == "cancelled"
        assert result.candidates[i].completion_tokens < 21
    assert result.answer == "7"
    assert details["savings"]["samples_cancelled"] == len(details["early_terminated"])


async def test_deepconf_stops_at_consensus_after_the_warmup() -> None:
    sure = TokenLogprob("a", -0.01, (("a", -0.01), ("b", -6.0)))
    backend = FunctionBackend(lambda r, i: Completion("The answer is 7", "stop", 4, i, (sure,) * 4))
    result = await make_strategy("deepconf", n=16, warmup=4, seed=0).run("q", Context(backend))
    assert result.details["stopped_by"] == "consensus" and len(result.candidates) == 4
    assert result.details["savings"]["tokens_saved_estimate"] == 48.0


async def test_certainty_probe_stops_when_probes_agree() -> None:
    def fn(request: GenerationRequest, index: int) -> str:
        if request.prefix:  # a probe: answers from the partial reasoning
            return "42" if request.prefix.count("think") >= 8 else "I am not sure, wait"
        return " ".join(["think"] * 200 + ["The answer is 41"])

    backend = FunctionBackend(fn, step_delay=0.002)
    ctx = Context(backend)
    result = await make_strategy("certainty_probe", probe_every=8, agree=2).run("q", ctx)
    assert result.answer == "42" and result.details["stopped_by"] == "probes agreed"
    assert result.details["tokens_at_stop"] < 200
    assert ctx.ledger.roles["probe"].calls >= 2
    assert ctx.ledger.cancelled and ctx.ledger.cancelled[0] < 200
    probes = [r for r in backend.history if r.prefix]
    assert all(r.prefix.endswith("The final answer is: ") for r in probes)


# -- bad input, before any sample


NO_LOGPROBS = Capabilities(continuation=True, native_n=True, streaming=True)
NO_CONTINUATION = Capabilities(logprobs=True, max_top_logprobs=20, streaming=True)


def test_bad_settings_name_the_parameter() -> None:
    for name, options, needle in [
        ("adaptive_consistency", {"threshold": 1.0}, "threshold"),
        ("adaptive_consistency", {"threshold": 0}, "threshold"),
        ("adaptive_consistency", {"straggler": 0.5}, "straggler (0.5) must be 0 (off) or"),
        ("early_stopping_sc", {"straggler": -1}, "straggler"),
        ("early_stopping_sc", {"window": 20, "n": 16}, "window (20) is larger than n (16)"),
        ("deepconf", {"warmup": 20, "n": 16}, "warmup (20) is larger than n"),
        ("first_finish", {"k": 9, "n": 8}, "k (9) is larger than n (8)"),
    ]:
        with pytest.raises(ConfigError, match=re_escape(needle)):
            make_strategy(name, **options)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


async def test_missing_capabilities_and_small_budgets_fail_before_sampling() -> None:
    plain = FunctionBackend(lambda r, i: "4", capabilities=NO_LOGPROBS)
    with pytest.raises(CapabilityError, match="needs logprobs"):
        await make_strategy("deepconf").run("q", Context(plain))
    stiff = FunctionBackend(lambda r, i: "4", capabilities=NO_CONTINUATION)
    with pytest.raises(CapabilityError, match="needs continuation"):
        await make_strategy("certainty_probe").run("q", Context(stiff))
    tight = FunctionBackend(lambda r, i: "4")
    ctx = Context(tight, budget=Budget(completion_tokens=300))
    with pytest.raises(ConfigError, match="window=4 needs room for 4 samples"):
        await make_strategy("early_stopping_sc", window=4, max_tokens=100).run("q", ctx)
    assert plain.history == stiff.history == tight.history == []


@pytest.mark.live
async def test_cancelled_samples_decode_at_most_one_more_step(embedded: Any) -> None:
    stats = embedded.stats
    before = (stats.tokens_decoded, stats.prompt_tokens_computed, stats.samples_cancelled)
    ctx = Context(embedded)
    result = await make_strategy("first_finish", n=4, max_tokens=300, seed=11).run(
        "Count from 1 to 100, then say done.", ctx
    )
    cancelled = result.details["savings"]["samples_cancelled"]
    assert cancelled >= 1

    async def settled() -> None:
        for _ in range(200):
            if stats.samples_cancelled - before[2] >= cancelled:
                return
            await asyncio.sleep(0.01)

    await settled()
    # a one-token request after them: if the cancelled samples still decoded, its steps
    # would carry their tokens too; its own are its prompt and one sampled token
    probe = await embedded.generate(
        GenerationRequest.chat(
            [Message("user", "Say hi.")], make_params(temperature=0, max_tokens=1)
        )
    )
    assert probe.usage.completion_tokens == 1
    sampled_by_engine = (
        (stats.tokens_decoded - before[0]) - (stats.prompt_tokens_computed - before[1]) - 1
    )
    seen = ctx.ledger.total().completion_tokens  # what the strategy was told and charged
    assert 0 <= sampled_by_engine - seen <= cancelled  # at most one step per cancelled sample


# -- allocation across problems


@settings(max_examples=30, deadline=None)
@given(st.integers(50, 2000), st.integers(1, 3), st.sampled_from([0.0, 1.0, 1.5, 3.0]))
def test_allocate_never_exceeds_the_batch_budget(limit: int, step: int, straggler: float) -> None:
    from ponder.core.problem import Problem
    from ponder.runtime.sampling import SamplingConfig
    from ponder.strategies.allocate import allocate

    def fn(request: GenerationRequest, index: int) -> str:
        question = request.messages[-1].content if request.messages else ""
        seed = (request.params.seed or 0) + index
        if question == "easy":
            return "The answer is 1"
        return "so " * (seed % 4) + f"The answer is {seed % 3}"

    problems = [Problem("easy", id="e"), Problem("hard", id="h"), Problem("hard2", id="h2")]
    ctx = Context(FunctionBackend(fn), budget=Budget(completion_tokens=limit))
    config = SamplingConfig(max_tokens=8, seed=0)
    try:
        shares = asyncio.run(
            allocate(problems, ctx, sampling=config, step=step, straggler=straggler)
        )
    except ConfigError:
        assert limit < 16  # not even the first two samples of one problem fit
        return
    assert ctx.ledger.total().completion_tokens <= limit
    easy, hard, _ = shares
    assert easy.answer == "1"
    if limit >= 400:  # enough budget: the unsettled problems get more samples than the easy
        assert len(hard.candidates) > len(easy.candidates)


def looping_model(request: GenerationRequest, index: int) -> str:
    """Sample k (the request's seed + its index) splits three ways, and every fifth loops."""
    k = (request.params.seed or 0) + index
    return "so " * 30 + "The answer is 7" if k % 5 == 4 else f"The answer is {k % 3}"


@pytest.mark.parametrize("straggler", [3.0, 0.0])
def test_allocate_cuts_stragglers_at_the_median_of_earlier_rounds(straggler: float) -> None:
    from ponder.core.problem import Problem
    from ponder.runtime.sampling import SamplingConfig
    from ponder.strategies.allocate import allocate

    backend = FunctionBackend(looping_model)
    ctx = Context(backend, budget=Budget(completion_tokens=5000))
    problems = [Problem(f"q{i}", id=str(i)) for i in range(3)]
    config = SamplingConfig(max_tokens=64, seed=0)
    shares = asyncio.run(
        allocate(problems, ctx, sampling=config, max_per_problem=8, straggler=straggler)
    )
    caps = [r.params.max_tokens for r in backend.history]
    assert all(len(s.candidates) == 8 for s in shares)  # a three-way split never settles
    looped = [s.candidates[4] for s in shares]  # sample 4 of each problem loops
    if not straggler:
        assert set(caps) == {64}
        assert all(c.answer == "7" and c.completion_tokens == 34 for c in looped)
        assert ctx.ledger.cancelled == [] and all(s.cut == 0 for s in shares)
        return
    # round 1 has no lengths to go by; round 2 goes by the batch's (4 tokens each: 3 x 4),
    # later rounds by each problem's own three finished samples
    assert caps[:3] == [64] * 3 and set(caps[3:]) == {12}
    assert all(c.answer is None and c.completion_tokens == 12 for c in looped)
    assert all(c.finish_reason == "length" for c in looped)
    assert [s.cut for s in shares] == [1, 1, 1]
    assert ctx.ledger.cancelled == [12, 12, 12]
    assert [s.as_dict()["stragglers_cut"] for s in shares] == [1, 1, 1]
    assert all(s.finished == [4] * 7 for s in shares)  # the cut sample is not a length to go by


def test_allocate_spends_its_budget_when_stragglers_lower_max_tokens() -> None:
    from ponder.core.problem import Problem
    from ponder.runtime.sampling import SamplingConfig
    from ponder.strategies.allocate import allocate

    # short samples: the straggler limit (12) is below a quarter of max_tokens (16), and the
    # requests of a round hold reservations while others are checked
    backend = FunctionBackend(looping_model)
    ctx = Context(backend, budget=Budget(completion_tokens=300))
    problems = [Problem(f"q{i}", id=str(i)) for i in range(6)]
    shares = asyncio.run(allocate(problems, ctx, sampling=SamplingConfig(max_tokens=64, seed=0)))
    assert all(len(s.candidates) < 16 for s in shares)  # never settled, never full
    assert 300 - ctx.ledger.total().completion_tokens < 12  # so it ran until no request fit


def test_allocate_spends_the_budget_tail_on_shorter_requests() -> None:
    from ponder.core.problem import Problem
    from ponder.runtime.sampling import SamplingConfig
    from ponder.strategies.allocate import allocate

    problems = [Problem(f"q{i}", id=str(i)) for i in range(3)]
    backend = FunctionBackend(lambda request, index: "one two three four five six seven eight")
    ctx = Context(backend, budget=Budget(completion_tokens=40))
    shares = asyncio.run(allocate(problems, ctx, sampling=SamplingConfig(max_tokens=8)))
    # 2 x 8 reserved per request: two full requests (32 tokens), then the last 8 tokens buy
    # two samples of at most 4 tokens for the third problem rather than nothing
    assert [r.params.max_tokens for r in backend.history] == [8, 8, 4]
    assert [len(s.candidates) for s in shares] == [2, 2, 2]
    assert ctx.ledger.total().completion_tokens == 40
