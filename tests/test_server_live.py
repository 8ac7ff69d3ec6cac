"""``ponder serve`` over real engines: the embedded model (its own counters show that a client
that goes away stops the decoding), the command line, and an upstream server that dies
mid-request and comes back."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from ponder.backends.llamacpp import LlamaCppBackend
from ponder.backends.openai import OpenAIBackend
from ponder.server import Running, ServeConfig, Served
from ponder.testing import MisbehavingServer

QUESTION = [{"role": "user", "content": "Write a very long story about the sea."}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(condition: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.02)


@pytest.mark.live
def test_the_embedded_engine_answers_and_stops_for_a_client_that_left(
    embedded: LlamaCppBackend,
) -> None:
    with Running(Served("smollm2", {"smollm2": embedded})) as base:
        client = openai.OpenAI(base_url=base, api_key="-", max_retries=0)
        sampled = embedded.stats.tokens_sampled
        reply = client.chat.completions.create(
            model="smollm2@self_consistency:n=2",
            messages=[{"role": "user", "content": "What is 3 + 4?"}],
            max_tokens=24,
            seed=1,
        )
        ledger = reply.model_extra["ponder"]["runs"][0]["ledger"]
        assert reply.usage is not None
        assert reply.usage.completion_tokens == ledger["completion_tokens"] > 0
        assert reply.usage.prompt_tokens == ledger["prompt_tokens"] > 0
        # exact: every token the engine sampled for the request, as the engine counts them
        assert reply.usage.completion_tokens == embedded.stats.tokens_sampled - sampled

        before = embedded.stats.samples_cancelled
        body = {
            "model": "smollm2@self_consistency:n=4,max_tokens=1500",
            "messages": QUESTION,
            "stream": True,
        }
        with httpx.stream("POST", f"{base}/chat/completions", json=body, timeout=60) as r:
            lines = r.iter_lines()
            next(lines)
            _until(lambda: embedded.stats.tokens_decoded > 0 and embedded._engine.scheduler.samples)
        # the client is gone: the four samples are cancelled, and decoding stops
        _until(lambda: embedded.stats.samples_cancelled - before == 4)
        settled = embedded.stats.tokens_decoded
        time.sleep(0.5)
        assert embedded.stats.tokens_decoded == settled
        assert embedded._engine.scheduler.samples == []


@pytest.mark.live
def test_the_command_line_serves(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ponder.cli", "serve", "--port", str(port), "--name", "smol"]
        + ["--api-key", "secret", "--preset", "greedy", "-B", "n_ctx=512"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _health(base) or proc.poll() is not None, 120)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="secret", max_retries=0)
        assert [m.id for m in client.models.list()] == ["smol", "smol@greedy"]
        reply = client.chat.completions.create(
            model="smol@greedy", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
        )
        assert reply.choices[0].message.content
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()


def _health(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


UPSTREAM = textwrap.dedent(
    """
    import sys, time
    import uvicorn
    from ponder.server import Served, create_app
    from ponder.testing import FunctionBackend

    def reply(request, index):
        if "hold" in request.messages[-1].content:
            time.sleep(60)  # holds the whole server: as good as dead
        return "The answer is 4."

    app = create_app(Served("up", {"up": FunctionBackend(reply)}))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


@pytest.fixture
def upstream_port() -> int:
    return _free_port()


@pytest.fixture
def start_upstream(tmp_path: Path, upstream_port: int) -> Iterator[object]:
    script = tmp_path / "upstream.py"
    script.write_text(UPSTREAM)
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(upstream_port)],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        _until(lambda: _health(f"http://127.0.0.1:{upstream_port}"), 60)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(10)


def test_an_upstream_killed_mid_request_is_a_502_and_serving_goes_on(
    start_upstream: object, upstream_port: int
) -> None:
    proc = start_upstream()  # type: ignore[operator]
    backend = OpenAIBackend.from_spec(
        f"http://127.0.0.1:{upstream_port}/v1#up", timeout=20, max_retries=0
    )
    ask = {"model": "front@greedy", "messages": [{"role": "user", "content": "2 + 2?"}]}
    hold = {**ask, "messages": [{"role": "user", "content": "hold 2 + 2?"}]}
    with Running(Served("front", {"front": backend}), ServeConfig(timeout=30)) as base:
        assert httpx.post(f"{base}/chat/completions", json=ask, timeout=30).status_code == 200
        answers: list[httpx.Response] = []
        held = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{base}/chat/completions", json=hold, timeout=60)
            )
        )
        held.start()
        front = base.removesuffix("/v1")
        _until(lambda: httpx.get(f"{front}/health").json()["requests"] == 1)
        proc.kill()  # whether the request has reached it yet or not, it is in flight
        held.join(60)
        assert answers and answers[0].status_code in (502, 504), answers[0].text
        assert "upstream" in answers[0].json()["error"]["message"]
        # the front still serves: a clear error while the upstream is away...
        away = httpx.post(f"{base}/chat/completions", json=ask, timeout=30)
        assert away.status_code == 502
        assert httpx.get(f"{base.removesuffix('/v1')}/health").status_code == 200
        # ...and answers again once it is back
        start_upstream()  # type: ignore[operator]
        back = httpx.post(f"{base}/chat/completions", json=ask, timeout=30)
        assert back.status_code == 200, back.text
    asyncio.run(backend.aclose())


@pytest.mark.parametrize(("behaviour", "status"), [("garbage", 502), ("silent", 504)])
def test_an_upstream_that_answers_garbage_or_nothing(behaviour: str, status: int) -> None:
    with MisbehavingServer(behaviour, lifetime=10) as upstream:
        backend = OpenAIBackend.from_spec(f"{upstream}#up", max_retries=0, timeout=1)
        with Running(Served("front", {"front": backend})) as base:
            response = httpx.post(
                f"{base}/chat/completions",
                json={"model": "front@greedy", "messages": [{"role": "user", "content": "hi"}]},
                timeout=30,
            )
        assert response.status_code == status, response.text
        assert "upstream" in response.json()["error"]["message"]
        asyncio.run(backend.aclose())
