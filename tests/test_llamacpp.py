"""The embedded backend against the real SmolLM2 model through llama.cpp (few tokens each)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ponder.backends.llamacpp import LlamaCppBackend
from ponder.core.types import Completion, GenerationRequest, Message, make_params, sample_seed
from ponder.errors import ConfigError, ContextLengthError, ModelLoadError, ModelNotFoundError

pytestmark = pytest.mark.live


async def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Poll until ``condition()`` holds; fail (never hang) after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {seconds} s")
        await asyncio.sleep(0.01)


def chat(text: str, **params: object) -> GenerationRequest:
    return GenerationRequest.chat([Message("user", text)], make_params(**params))


async def test_greedy_matches_plain_llama_cpp_python() -> None:
    from llama_cpp import Llama

    embedded = LlamaCppBackend(n_ctx=1024, n_parallel=2, n_prompt_slots=2)  # fresh state
    reference = Llama(str(embedded.model_path), n_ctx=512, flash_attn=True, verbose=False)
    for question in ("Name a color.", "What is 7 * 8?"):
        expected = reference.create_chat_completion(
            messages=[{"role": "user", "content": question}], temperature=0, max_tokens=16
        )["choices"][0]["message"]["content"]
        for _ in range(2):  # the second time the prompt comes from the prefix cache
            got = await embedded.generate(chat(question, temperature=0, max_tokens=16))
            assert got.completions[0].text == expected
    embedded.close()


async def test_seeded_samples_are_reproducible_and_distinct(embedded: LlamaCppBackend) -> None:
    request = chat("Tell me a story.", temperature=1.0, max_tokens=16, n=4, seed=11)
    runs = []
    for _ in range(2):  # two engines in the same (fresh) state
        fresh = LlamaCppBackend(n_ctx=1024, n_parallel=4, n_prompt_slots=1)
        try:
            runs.append(await fresh.generate(request))
        finally:
            fresh.close()
    first, second = runs
    assert [c.text for c in first.completions] == [c.text for c in second.completions]
    assert len({c.text for c in first.completions}) > 1  # sample i draws from its own seed
    assert [c.index for c in first.completions] == [0, 1, 2, 3]
    assert [c.seed for c in first.completions] == [sample_seed(11, i) for i in range(4)]
    assert first.completions[0].seed == 11  # one sample seeded 11 is the first of these


async def test_usage_is_exact(embedded: LlamaCppBackend) -> None:
    request = chat("Count to ten.", temperature=0.7, max_tokens=8, n=3, seed=1)
    result = await embedded.generate(request)
    assert result.usage.prompt_tokens == len(embedded.prompt_tokens(request))
    assert result.usage.completion_tokens == sum(c.completion_tokens for c in result.completions)
    for c in result.completions:
        assert 1 <= c.completion_tokens <= 8
        assert (c.finish_reason == "length") == (c.completion_tokens == 8)


async def test_prompt_is_prefilled_once_for_n_samples_and_reused_later(
    embedded: LlamaCppBackend,
) -> None:
    request = chat("Describe the moon in one sentence, please, for a child.", max_tokens=4, n=6)
    n_prompt = len(embedded.prompt_tokens(request))
    before = dataclasses.replace(embedded.stats)
    first = await embedded.generate(request)
    computed = embedded.stats.prompt_tokens_computed - before.prompt_tokens_computed
    # every prompt token but the last is shared by the 6 samples: decoded once at most
    assert computed <= n_prompt - 1
    # each sample's first step decodes the last prompt token, each later step the token
    # sampled before; the last sampled token is never decoded
    decoded = embedded.stats.tokens_decoded - before.tokens_decoded
    assert decoded == computed + first.usage.completion_tokens
    mid = dataclasses.replace(embedded.stats)
    again = await embedded.generate(request)
    assert again.usage.cached_prompt_tokens == n_prompt - 1
    assert embedded.stats.prompt_tokens_computed == mid.prompt_tokens_computed


async def test_shared_prefix_is_reused_across_requests(embedded: LlamaCppBackend) -> None:
    system = Message("system", "You are a careful assistant who answers about geography. " * 3)
    one = GenerationRequest.chat(
        [system, Message("user", "Capital of France?")], make_params(max_tokens=2, temperature=0)
    )
    two = GenerationRequest.chat(
        [system, Message("user", "Capital of Peru?")], make_params(max_tokens=2, temperature=0)
    )
    await embedded.generate(one)
    result = await embedded.generate(two)
    tokens_one, tokens_two = embedded.prompt_tokens(one), embedded.prompt_tokens(two)
    common = next(i for i, (x, y) in enumerate(zip(tokens_one, tokens_two, strict=False)) if x != y)
    assert result.usage.cached_prompt_tokens == common > 30


async def test_concurrent_requests_share_decode_steps(embedded: LlamaCppBackend) -> None:
    before = dataclasses.replace(embedded.stats)
    prompts = ["Say hi.", "Name a fruit.", "Name a river.", "Name a tree."]
    results = await asyncio.gather(
        *(embedded.generate(chat(p, temperature=0.8, max_tokens=12, seed=3)) for p in prompts)
    )
    sampled = sum(r.usage.completion_tokens for r in results)
    calls = embedded.stats.decode_calls - before.decode_calls
    assert sampled > 12
    assert calls < sampled  # several sequences advanced in each llama_decode call


async def test_cancellation_stops_decoding_at_once(embedded: LlamaCppBackend) -> None:
    request = chat(
        "Write a very long essay about the sea.", temperature=0.8, max_tokens=400, n=3, seed=5
    )
    cancelled_before = embedded.stats.samples_cancelled
    task = asyncio.create_task(embedded.generate(request))
    await wait_for(
        lambda: any(
            s.job.params.max_tokens == 400 and s.n_sampled >= 5
            for s in list(embedded._engine.scheduler.samples)
        )
    )
    at_cancel = embedded.stats.tokens_decoded
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: embedded.stats.samples_cancelled - cancelled_before == 3)
    # at most the one decode step already under way: one token per live sequence
    assert embedded.stats.tokens_decoded - at_cancel <= 3
    # nothing more decodes for them: the next request's decode steps are its own alone
    settled = embedded.stats.tokens_decoded, embedded.stats.prompt_tokens_computed
    await embedded.generate(chat("Say hi.", temperature=0, max_tokens=1))
    decoded = embedded.stats.tokens_decoded - settled[0]
    assert decoded == embedded.stats.prompt_tokens_computed - settled[1] + 1
    assert embedded._engine.scheduler.samples == []


async def test_stream_matches_generate() -> None:
    request = chat("List three animals.", temperature=0.9, max_tokens=20, n=2, seed=21)
    fresh = [LlamaCppBackend(n_ctx=1024, n_parallel=2, n_prompt_slots=1) for _ in range(2)]
    whole = await fresh[0].generate(request)
    texts = {0: "", 1: ""}
    finishes = {}
    usages = []
    async for chunk in fresh[1].stream(request):
        texts[chunk.index] += chunk.text
        if chunk.finish_reason:
            finishes[chunk.index] = chunk.finish_reason
        if chunk.usage:
            usages.append(chunk.usage)
    assert [texts[0], texts[1]] == [c.text for c in whole.completions]
    assert finishes == {c.index: c.finish_reason for c in whole.completions}
    assert usages == [whole.usage]  # exact usage, once, on the last chunk
    for backend in fresh:
        backend.close()


async def test_stream_carries_logprobs(embedded: LlamaCppBackend) -> None:
    request = chat("Say yes.", temperature=0, max_tokens=6, logprobs=True, top_logprobs=2)
    whole = await embedded.generate(request)
    streamed = [lp async for chunk in embedded.stream(request) for lp in chunk.logprobs]
    assert whole.completions[0].logprobs is not None
    assert [lp.token for lp in streamed] == [lp.token for lp in whole.completions[0].logprobs]


async def test_closing_a_stream_cancels_it(embedded: LlamaCppBackend) -> None:
    request = chat("Write a long poem.", temperature=0.8, max_tokens=300, seed=2)
    before = embedded.stats.samples_cancelled
    stream = embedded.stream(request)
    async for _ in stream:
        break
    await stream.aclose()
    await wait_for(lambda: embedded.stats.samples_cancelled > before)
    assert embedded.stats.samples_cancelled == before + 1


async def test_stop_strings_cut_the_text(embedded: LlamaCppBackend) -> None:
    def counting(stop: list[str]) -> GenerationRequest:
        params = make_params(temperature=0, max_tokens=30, stop=stop)
        return GenerationRequest(params=params, prompt="1, 2, 3, 4, 5,")

    one = (await embedded.generate(counting([","]))).completions[0]
    assert (one.text, one.finish_reason) == (" 6", "stop")
    # a stop string that spans several tokens is found across token boundaries
    two = (await embedded.generate(counting([", 9", "\n\n"]))).completions[0]
    assert (two.text, two.finish_reason) == (" 6, 7, 8", "stop")
    assert two.completion_tokens < 30


async def test_continuation_from_an_assistant_prefix(embedded: LlamaCppBackend) -> None:
    base = chat("What is 2 + 3?", temperature=0, max_tokens=6)
    request = dataclasses.replace(base, prefix="The answer is")
    assert embedded.render(request).endswith("<|im_start|>assistant\nThe answer is")
    result = await embedded.generate(request)
    assert not result.completions[0].text.startswith("The answer is")
    raw = GenerationRequest(params=make_params(temperature=0, max_tokens=3), prompt="1, 2, 3,")
    assert embedded.render(raw) == "1, 2, 3,"
    assert (await embedded.generate(raw)).completions[0].text.strip().startswith("4")


async def test_logprobs(embedded: LlamaCppBackend) -> None:
    result = await embedded.generate(
        chat("Say yes.", temperature=0, max_tokens=5, logprobs=True, top_logprobs=3)
    )
    c = result.completions[0]
    assert c.logprobs is not None and len(c.logprobs) == c.completion_tokens
    for item in c.logprobs:
        assert item.logprob <= 0.0
        assert len(item.top) == 3
        assert [lp for _, lp in item.top] == sorted((lp for _, lp in item.top), reverse=True)
        assert item.logprob == pytest.approx(item.top[0][1])  # greedy picks the most likely
    plain = await embedded.generate(chat("Say yes.", temperature=0, max_tokens=5))
    assert plain.completions[0].logprobs is None


async def test_top_k_and_top_p_cut_what_is_drawn(embedded: LlamaCppBackend) -> None:
    """Each drawn token against the same step's logits (the reported log-probabilities, the
    untempered distribution): top_k=1 draws the most likely token at any temperature, top_k=3
    one of the three most likely, top_p=0.3 at temperature 1 a token with less than 0.3 of
    the mass above it."""

    async def drawn(**params: object) -> list[tuple[float, list[float]]]:
        request = chat(
            "Tell me a story.", max_tokens=12, n=3, seed=5, logprobs=True, top_logprobs=5, **params
        )
        steps = []
        for c in (await embedded.generate(request)).completions:
            assert c.logprobs is not None and len(c.logprobs) == c.completion_tokens
            steps += [(lp.logprob, [top for _, top in lp.top]) for lp in c.logprobs]
        return steps

    for chosen, top in await drawn(temperature=1.5, top_k=1):
        assert chosen == pytest.approx(top[0])
    for chosen, top in await drawn(temperature=1.5, top_k=3):
        assert chosen >= top[2] - 1e-6
    for chosen, top in await drawn(temperature=1.0, top_p=0.3):
        above = sum(math.exp(lp) for lp in top if lp > chosen + 1e-6)
        assert above < 0.3 + 1e-4


async def test_too_long_is_an_error_before_any_work(embedded: LlamaCppBackend) -> None:
    before = embedded.stats.tokens_decoded
    with pytest.raises(ContextLengthError, match="lower max_tokens"):
        await embedded.generate(chat("hi", max_tokens=100_000))
    assert embedded.stats.tokens_decoded == before


def test_missing_model_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelNotFoundError, match=str(missing)):
        LlamaCppBackend(missing)


def test_corrupt_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelLoadError, match="not a valid GGUF"):
        LlamaCppBackend(bad)


async def test_more_samples_than_slots_run_in_waves(embedded: LlamaCppBackend) -> None:
    # the suite's backend decodes at most 8 sequences at once
    many = [
        embedded.generate(chat(f"Say {i}.", temperature=0.8, max_tokens=6, seed=i, n=3))
        for i in range(5)
    ]
    results = await asyncio.gather(*many)
    assert [len(r.completions) for r in results] == [3] * 5
    assert embedded._engine.scheduler.samples == []


async def test_a_small_shared_kv_cache_admits_samples_in_waves() -> None:
    small = LlamaCppBackend(n_ctx=256, n_parallel=8, n_prompt_slots=2, kv_unified=True)
    try:
        request = chat("Write about rain.", temperature=0.8, max_tokens=100, n=4, seed=9)
        n_prompt = len(small.prompt_tokens(request))
        assert 2 * 101 + n_prompt <= 256 < 4 * 101 + n_prompt  # only two samples fit at once
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, len(small._engine.scheduler.samples))
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        result = await small.generate(request)
        watcher.cancel()
        assert len(result.completions) == 4 and [c.index for c in result.completions] == [
            0,
            1,
            2,
            3,
        ]
        assert 1 <= peak <= 2
    finally:
        small.close()


async def test_concurrent_requests_with_a_common_prefix_prefill_it_once(
    embedded: LlamaCppBackend,
) -> None:
    context = "Here is a long shared passage about rivers, lakes and the sea. " * 6
    requests = [
        chat(context + f"Question {i}: name a river.", max_tokens=2, temperature=0)
        for i in range(4)
    ]
    token_lists = [embedded.prompt_tokens(r) for r in requests]
    common = min(
        next(i for i, (x, y) in enumerate(zip(token_lists[0], t, strict=False)) if x != y)
        for t in token_lists[1:]
    )
    assert common > 60
    # keep the engine busy, so that the four arrive during one decode step, together
    busy = asyncio.ensure_future(embedded.generate(chat("Tell a story.", max_tokens=48)))
    start = embedded.stats.tokens_decoded
    await wait_for(lambda: embedded.stats.tokens_decoded > start + 2)
    before = dataclasses.replace(embedded.stats)
    results = await asyncio.gather(*(embedded.generate(r) for r in requests))
    await busy
    computed = embedded.stats.prompt_tokens_computed - before.prompt_tokens_computed
    # the common part once (at most: a cached prompt may hold some of it), the rest per request
    assert computed <= common + sum(len(t) - 1 - common for t in token_lists)
    assert sum(r.usage.cached_prompt_tokens for r in results) >= 3 * (common - 1)


async def test_live_samples_keep_consecutive_sequence_ids(embedded: LlamaCppBackend) -> None:
    # llama.cpp computes a batch's KV streams together only while their ids run consecutively:
    # when samples end below a live one, the engine moves it down, and its output is unchanged
    engine = embedded._engine
    assert not engine.config.kv_unified
    steps: list[list[int]] = []
    decode = engine._decode

    def recording(*args: object) -> None:
        steps.append(sorted(s.seq for s in engine.scheduler.samples))
        decode(*args)  # type: ignore[arg-type]

    long_request = chat("Write a long story about a lighthouse.", max_tokens=40, temperature=0)
    alone = await embedded.generate(long_request)
    moved = engine.stats.samples_moved
    engine._decode = recording  # type: ignore[method-assign]
    try:
        short = asyncio.ensure_future(
            embedded.generate(
                chat("Write a long story about rain.", temperature=0.8, max_tokens=12, n=5, seed=3)
            )
        )
        await wait_for(lambda: len(engine.scheduler.samples) == 5)
        together = await embedded.generate(long_request)
        await short
    finally:
        del engine._decode
    assert engine.stats.samples_moved > moved
    assert steps and all(seqs == list(range(len(seqs))) for seqs in steps)
    assert together.completions[0].text == alone.completions[0].text


async def test_clearing_the_prefix_cache_makes_the_next_request_prefill_again(
    embedded: LlamaCppBackend,
) -> None:
    request = chat("Name three birds that cannot fly.", max_tokens=2, temperature=0)
    await embedded.generate(request)
    assert (await embedded.generate(request)).usage.cached_prompt_tokens > 0
    embedded.clear_prefix_cache()
    before = embedded.stats.prompt_tokens_computed
    again = await embedded.generate(request)
    assert again.usage.cached_prompt_tokens == 0
    assert embedded.stats.prompt_tokens_computed - before == again.usage.prompt_tokens - 1


async def finish(
    backend: LlamaCppBackend, order: list[str], name: str, text: str, priority: int, tokens: int
) -> None:
    """Generate greedily at ``priority``; append ``name`` to ``order`` when done."""
    request = chat(text, temperature=0, max_tokens=tokens)
    await backend.generate(dataclasses.replace(request, priority=priority))
    order.append(name)


async def test_higher_priority_requests_are_admitted_first() -> None:
    fresh = LlamaCppBackend(n_ctx=512, n_parallel=1, n_prompt_slots=3)  # one sample at a time
    order: list[str] = []

    def run(name: str, text: str, priority: int, max_tokens: int = 4) -> asyncio.Task[None]:
        return asyncio.create_task(finish(fresh, order, name, text, priority, max_tokens))

    try:
        first = run("first", "Tell me a long story.", 0, max_tokens=24)
        await wait_for(lambda: fresh.stats.tokens_decoded > 0)  # it holds the only slot
        queued = [  # both wait for that slot; the later one has the higher priority
            run("new", "Name a fruit.", 0),
            run("under way", "Name a tree.", 1),
        ]
        await asyncio.gather(first, *queued)
    finally:
        fresh.close()
    assert order == ["first", "under way", "new"]


async def test_a_queued_job_holding_the_prompt_slot_is_not_starved_by_a_higher_priority() -> None:
    # one prompt slot: "new" takes it while waiting for the only sample slot; "under way" (a
    # higher priority) needs that prompt slot, so "new" must start first, then free it
    fresh = LlamaCppBackend(n_ctx=512, n_parallel=1, n_prompt_slots=1)
    order: list[str] = []

    def run(name: str, text: str, priority: int, max_tokens: int = 4) -> asyncio.Task[None]:
        return asyncio.create_task(finish(fresh, order, name, text, priority, max_tokens))

    try:
        first = run("first", "Tell me a long story.", 0, max_tokens=24)
        await wait_for(lambda: fresh.stats.tokens_decoded > 0)
        new = run("new", "Name a fruit.", 0)
        # "new" takes the only prompt slot and waits there for the sample slot
        new_prompt = fresh.prompt_tokens(chat("Name a fruit."))
        await wait_for(
            lambda: any(
                j.prompt_tokens == new_prompt and j.pinned
                for j in list(fresh._engine.scheduler.jobs)
            )
        )
        under_way = run("under way", "Tell me a long story.", 1)
        await asyncio.wait_for(asyncio.gather(first, new, under_way), timeout=60)
    finally:
        fresh.close()
    assert sorted(order) == ["first", "new", "under way"]


async def test_a_gguf_without_a_chat_template_says_what_to_pass(tmp_path: Path) -> None:
    from ponder.backends.llamacpp import default_model_path
    from ponder.errors import ConfigError

    bare = tmp_path / "base.gguf"  # the same model, its template key renamed away
    bare.write_bytes(
        default_model_path()
        .read_bytes()
        .replace(b"tokenizer.chat_template", b"tokenizer.chat_templatX")
    )
    small = {"n_ctx": 256, "n_parallel": 1, "n_prompt_slots": 1}
    with pytest.raises(ConfigError, match="chat_template=chatml\\|gemma\\|llama3"):
        LlamaCppBackend(bare, **small)
    chatml = LlamaCppBackend(bare, chat_template="chatml", stop=" ", **small)
    try:
        request = chat("Write a sentence about the sea.", temperature=0, max_tokens=24)
        assert chatml.render(request).endswith("<|im_start|>assistant\n")
        result = await chatml.generate(request)
        completion = result.completions[0]
        assert completion.finish_reason == "stop" and " " not in completion.text  # -B stop
    finally:
        chatml.close()
    plain = LlamaCppBackend(bare, chat_template="completion", **small)
    try:
        assert plain.render(chat("Say hi.")) == "Say hi.\n\n"
    finally:
        plain.close()
    with pytest.raises(ConfigError, match="neither a built-in"):
        LlamaCppBackend(bare, chat_template="nonsense", **small)


async def greedy_completion(backend: LlamaCppBackend, prompt: str, **params: int) -> Completion:
    """One greedy completion of a plain prompt (120 tokens at most), with ``params``."""
    request = GenerationRequest(make_params(temperature=0, max_tokens=120, **params), prompt=prompt)
    return (await backend.generate(request)).completions[0]


async def test_a_sample_stuck_in_a_loop_ends_as_repetition(embedded: LlamaCppBackend) -> None:
    prompt = "red green blue red green blue red green blue red green blue red green blue"
    free = await greedy_completion(embedded, prompt)
    stopped = await greedy_completion(embedded, prompt, loop_repeats=4)
    assert free.finish_reason == "length" and free.completion_tokens == 120  # it loops on
    assert stopped.finish_reason == "repetition" and stopped.completion_tokens < 40
    assert free.text.startswith(stopped.text)  # the same sample, ended early


async def test_a_table_that_runs_on_ends_as_repetition_under_the_template_rule(
    embedded: LlamaCppBackend,
) -> None:
    prompt = "1. 6 * 0 = 0\n2. 6 * 1 = 6\n3. 6 * 2 = 12\n4. 6 * 3 = 18\n5."
    free = await greedy_completion(embedded, prompt)
    verbatim = await greedy_completion(embedded, prompt, loop_repeats=4)
    template = await greedy_completion(embedded, prompt, loop_template=6)
    assert free.finish_reason == "length" and verbatim.finish_reason == "length"
    assert template.finish_reason == "repetition" and template.completion_tokens < 80
    assert free.text.startswith(template.text)


async def test_the_kv_cache_is_fitted_to_a_memory_budget() -> None:
    small = LlamaCppBackend(kv_memory="300MiB")  # 23 KB a cell: 6 streams of 2048 cells
    try:
        info = small.info()
        assert info["kv_bytes"] <= 300 << 20 and not info["kv_unified"]
        assert (info["n_parallel"], info["n_prompt_slots"]) == (5, 1)
        assert (info["n_parallel_now"], info["n_prompt_slots_now"]) == (1, 1)  # starts small
        result = await small.generate(chat("Say hi.", temperature=0.8, max_tokens=4, n=8))
        assert len(result.completions) == 8  # five at a time, the rest queued
        assert small._engine.scheduler.config.n_parallel == 5  # grown to the plan
    finally:
        small.close()


async def test_a_quantised_kv_cache_runs() -> None:
    quantised = LlamaCppBackend(cache_type_k="q8_0", cache_type_v="q8_0", n_parallel=2)
    try:
        assert quantised.info()["kv_bytes"] == 10 * 2048 * 30 * 3 * 64 * 2 * 34 // 32
        result = await quantised.generate(chat("Name a color.", temperature=0, max_tokens=8))
        assert result.completions[0].completion_tokens > 0
    finally:
        quantised.close()


def test_a_budget_too_small_for_one_sequence_is_an_error_before_work() -> None:
    with pytest.raises(ConfigError, match=r"needs 45 MiB .* raise kv_memory"):
        LlamaCppBackend(kv_memory="10MiB")


async def test_streams_grow_with_the_work_and_explicit_sizes_start_in_full() -> None:
    growing = LlamaCppBackend()
    try:
        assert (growing.info()["n_parallel_now"], growing.info()["n_parallel"]) == (1, 32)
        await growing.generate(chat("Say hi.", temperature=0, max_tokens=2))
        assert growing.info()["n_parallel_now"] == 1  # one sample needed one stream
        result = await growing.generate(chat("Say hi.", temperature=0.8, max_tokens=2, n=6))
        assert len(result.completions) == 6
        assert growing.info()["n_parallel_now"] == 6  # grown for six (cache rebuilt idle)
        assert growing.info()["n_prompt_slots_now"] == 1
    finally:
        growing.close()
    fixed = LlamaCppBackend(n_parallel=4, n_prompt_slots=2)
    try:
        assert (fixed.info()["n_parallel_now"], fixed.info()["n_prompt_slots_now"]) == (4, 2)
    finally:
        fixed.close()


async def test_a_request_that_keeps_prefixes_sizes_the_prompt_cache_before_work() -> None:
    """A search says how many prefixes it will hold (``keep``): the prompt cache grows to it
    beyond the plan's default before the first step (growing later would empty the cache),
    up to what the KV budget allows; explicit sizes stay as set."""
    backend = LlamaCppBackend()
    try:
        cap = backend.info()["max_prompt_slots"]
        assert cap > backend.info()["n_prompt_slots"] == 8
        keep = dataclasses.replace(chat("Say hi.", temperature=0, max_tokens=2), keep=20)
        await backend.generate(keep)
        assert backend.info()["n_prompt_slots_now"] == 20
        huge = dataclasses.replace(keep, keep=100_000)
        await backend.generate(huge)
        assert backend.info()["n_prompt_slots_now"] == cap  # the budget's most
    finally:
        backend.close()
    fixed = LlamaCppBackend(n_parallel=2, n_prompt_slots=2)
    try:
        await fixed.generate(dataclasses.replace(chat("Say hi.", max_tokens=2), keep=20))
        assert fixed.info()["n_prompt_slots_now"] == fixed.info()["max_prompt_slots"] == 2
    finally:
        fixed.close()
    with pytest.raises(ConfigError, match="keep must be >= 0"):
        dataclasses.replace(chat("Say hi."), keep=-1)


async def test_work_that_outgrows_a_busy_engine_makes_it_grow() -> None:
    """A steady stream of work never leaves the engine idle: new work waits for the live
    samples to finish, and the engine grows before taking it (not stuck one stream wide)."""
    busy = LlamaCppBackend()
    try:
        first = asyncio.create_task(
            busy.generate(chat("Count to twenty.", temperature=0, max_tokens=30))
        )
        await wait_for(lambda: bool(busy._engine.scheduler.samples))
        assert busy.info()["n_parallel_now"] == 1
        more = [
            busy.generate(chat(f"Name a colour ({i}).", temperature=0.8, max_tokens=4, n=4))
            for i in range(3)
        ]
        results = await asyncio.gather(first, *more)
        assert [len(r.completions) for r in results] == [1, 4, 4, 4]
        assert busy.info()["n_parallel_now"] >= 12
    finally:
        busy.close()


async def test_a_failed_growth_keeps_the_engine_at_its_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = LlamaCppBackend()
    model = backend._engine.model
    real = model._new_context
    calls = []

    def refuse_big() -> None:
        calls.append(model.config.n_parallel)
        if model.config.n_parallel > 1:
            raise ModelLoadError("no memory (simulated)")
        real()

    monkeypatch.setattr(model, "_new_context", refuse_big)
    try:
        result = await backend.generate(chat("Say hi.", temperature=0.8, max_tokens=2, n=4))
        assert len(result.completions) == 4  # one at a time, at the size it had
        assert calls == [4, 1] and backend.info()["n_parallel_now"] == 1
        assert model.at_full_size  # it does not try again
    finally:
        backend.close()


async def test_threads_follow_the_load_unless_set_and_a_change_reaches_a_grown_context() -> None:
    following = LlamaCppBackend()
    try:
        info = following.info()
        assert info["threads_follow_load"] and 1 <= info["n_threads_now"] <= (os.cpu_count() or 1)
        following._engine.model.set_threads(1)  # as the governor does when cores get busy
        result = await following.generate(chat("Say hi.", temperature=0.8, max_tokens=3, n=4))
        assert len(result.completions) == 4  # grown to four streams: the new context has 1
        assert following.info()["n_threads_now"] == 1
    finally:
        following.close()
    fixed = LlamaCppBackend(n_threads=1)
    try:
        assert (fixed.info()["threads_follow_load"], fixed.info()["n_threads_now"]) == (False, 1)
    finally:
        fixed.close()


@pytest.mark.parametrize("cache_type", ["f16", "q8_0"])
def test_a_copy_across_streams_continues_as_the_sequence_would(
    cache_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prompt's first cells copied into another stream, through the sequence state (the
    sequence's own cells) or llama.cpp's whole-stream copy, give the next token the same
    logits; and the same, up to rounding, as the stream prefilling those tokens itself."""
    import numpy as np

    from ponder.backends.llamacpp import default_model_path
    from ponder.backends.llamacpp import model as llama_model

    config = llama_model.EngineConfig(
        n_ctx=512, n_parallel=3, n_prompt_slots=1, cache_type_k=cache_type, cache_type_v=cache_type
    )
    model = llama_model.LlamaModel(
        str(default_model_path()), config, frozenset({"n_parallel", "n_prompt_slots"})
    )
    try:
        copied: list[bool] = []
        copy_cells = model._copy_cells
        monkeypatch.setattr(
            model, "_copy_cells", lambda s, d: copied.append(copy_cells(s, d)) or copied[-1]
        )
        tokens = model.tokenize(
            "The quick brown fox jumps over the lazy dog. " * 4,
            add_special=True,
            parse_special=False,
        )
        cut = len(tokens) - 6
        assert model.decode([(t, i, 0, False) for i, t in enumerate(tokens)]) == 0
        model.copy(0, 1, cut)  # through the state
        monkeypatch.setattr(llama_model, "COPY_BUFFER_MAX", 0)
        model.copy(0, 2, cut)  # the whole stream, then cut
        assert copied == [True, False]
        assert model.decode([(t, i, 3, False) for i, t in enumerate(tokens[:cut])]) == 0
        assert model.decode([(tokens[cut], cut, seq, True) for seq in (1, 2, 3)]) == 0
        state, stream, own = model._output_rows([0, 1, 2])
        assert np.array_equal(state, stream)
        assert np.argmax(state) == np.argmax(own)
        assert np.allclose(state, own, atol=0.05)
    finally:
        model.close()


async def test_a_preloaded_model_is_taken_by_the_next_backend_of_that_file() -> None:
    """The command line begins loading its model on a thread (``loading.preload``) while it
    imports the rest; the backend then takes that model instead of loading it again."""
    from ponder.backends.llamacpp import default_model_path, loading
    from ponder.cli import _preload

    path = default_model_path()
    assert loading.preload(path) and not loading.preload(path)  # begun once
    backend = LlamaCppBackend(path)
    try:
        assert not loading._preloads  # taken
        result = await backend.generate(chat("Say hi.", temperature=0, max_tokens=2))
        assert result.completions[0].completion_tokens >= 1
    finally:
        backend.close()
    assert not loading.preload(path.with_name("no-such-model.gguf"))
    _preload(["solve", "q", "--model", "http://127.0.0.1:9/v1"])  # not a model file
    _preload(["report", "out"])  # a command that loads no model
    _preload(["solve", "q", "--help"])
    assert not loading._preloads
