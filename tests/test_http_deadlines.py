"""Every HTTP call through ponder ends, against servers that misbehave on purpose: each case
ends in a clear error (the tests assert the error; pytest-timeout would catch a hang;
``benchmarks/bench_http_deadlines.py`` measures how close to the deadline each one ends)."""

from __future__ import annotations

import pytest

from ponder.backends.openai import OpenAIBackend
from ponder.core.types import GenerationRequest, Message, make_params
from ponder.errors import BackendHTTPError, BackendProtocolError, BackendTimeout, BackendUnreachable
from ponder.testing import MisbehavingServer

pytestmark = pytest.mark.timeout(60)


def chat(**params: object) -> GenerationRequest:
    return GenerationRequest.chat([Message("user", "hi")], make_params(**params))


def backend(url: str, **options: object) -> OpenAIBackend:
    return OpenAIBackend(url, model="m", backoff=0.01, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("behaviour", ["silent", "slow_loris"])
async def test_a_server_that_never_finishes_answering_hits_the_deadline(behaviour: str) -> None:
    with MisbehavingServer(behaviour, interval=0.2) as url:
        client = backend(url, timeout=1.0, max_retries=3)
        with pytest.raises(BackendTimeout, match="deadline of 1 s"):
            await client.generate(chat())
        await client.aclose()


async def test_a_huge_retry_after_fails_at_once_with_the_servers_message() -> None:
    server = MisbehavingServer("retry_after", wait=100_000)
    with server as url:
        client = backend(url, timeout=30, max_retries=5, max_retry_wait=10)
        with pytest.raises(BackendHTTPError, match="slow down") as caught:
            await client.generate(chat())
        await client.aclose()
    assert caught.value.retry_after == 100_000 and caught.value.status == 429
    assert any("retry after 100000 s" in note for note in caught.value.__notes__)
    assert server.requests == 1  # not retried


async def test_a_retry_after_within_the_cap_is_honoured_then_the_retries_end() -> None:
    server = MisbehavingServer("retry_after", wait=0.1)
    with server as url:
        client = backend(url, timeout=30, max_retries=2, max_retry_wait=10)
        with pytest.raises(BackendHTTPError, match="HTTP 429"):
            await client.generate(chat())
        await client.aclose()
    assert server.requests == 3


async def test_a_body_without_end_is_refused_at_the_cap() -> None:
    with MisbehavingServer("huge_body") as url:
        client = backend(url, timeout=30, max_retries=0, max_body_bytes=1 << 20)
        with pytest.raises(BackendProtocolError, match="max_body_bytes"):
            await client.generate(chat())
        await client.aclose()


async def test_a_stream_cut_mid_way_is_an_error() -> None:
    with MisbehavingServer("cut_stream") as url:
        client = backend(url, timeout=5)
        chunks = []
        with pytest.raises((BackendUnreachable, BackendProtocolError), match=url):
            async for chunk in client.stream(chat()):
                chunks.append(chunk.text)
        await client.aclose()
    assert chunks == ["Hel", "lo"]  # what came before the cut was delivered


async def test_a_stream_that_stalls_between_tokens_hits_the_idle_deadline() -> None:
    with MisbehavingServer("stall_stream") as url:
        client = backend(url, timeout=10, stream_idle_timeout=0.5)
        chunks = []
        with pytest.raises(BackendTimeout, match="no next event of its stream within 0.5 s"):
            async for chunk in client.stream(chat()):
                chunks.append(chunk.text)
        await client.aclose()
    assert chunks == ["Hel", "lo"]


async def test_a_stream_that_never_starts_hits_the_first_event_deadline() -> None:
    with MisbehavingServer("silent") as url:
        client = backend(url, timeout=0.5)
        with pytest.raises(BackendTimeout, match="no first event of its stream within 0.5 s"):
            async for _ in client.stream(chat()):
                pass
        await client.aclose()


async def test_the_reward_model_shares_the_deadline() -> None:
    from ponder.core.problem import Candidate, Problem
    from ponder.runtime import Context
    from ponder.scoring.scorers.reward_model import RewardModel
    from ponder.testing import FunctionBackend

    with MisbehavingServer("slow_loris") as url:
        scorer = RewardModel(url=url, timeout=1.0)
        ctx = Context(FunctionBackend(lambda r, i: "x"))
        [score] = await scorer.score(Problem("q"), [Candidate(0, "x", "1", 1, "stop")], ctx)
    assert score.value is None and "deadline of 1 s" in (score.error or "")
