"""``ponder serve`` through the official OpenAI client and raw HTTP: answers, exact usage,
real streaming, errors in OpenAI's shape, limits, keys, and cancellation."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import httpx
import openai
import pytest

from ponder.core.types import Completion, GenerationRequest, GenerationResult, TokenLogprob
from ponder.errors import BackendHTTPError, BackendTimeout, ContextLengthError
from ponder.server import Running, ServeConfig, Served
from ponder.testing import FunctionBackend, Reply

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


def replies(*texts: str) -> FunctionBackend:
    return FunctionBackend(lambda request, i: texts[i % len(texts)])


def words(request: GenerationRequest) -> int:
    """The fake backends' prompt tokens: the words of the messages."""
    assert request.messages is not None
    return len(" ".join(m.content for m in request.messages).split())


@pytest.fixture
def backend() -> FunctionBackend:
    return replies("The answer is 4.", "It is 4.", "5")


@pytest.fixture
def url(backend: FunctionBackend) -> Iterator[str]:
    with Running(Served("m", {"m": backend})) as base:
        yield base


def client(base: str, key: str = "none") -> openai.OpenAI:
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0)


class Held(FunctionBackend):
    """Holds every call until ``release`` is set (from the test's thread)."""

    def __init__(self, fn: object = None) -> None:
        super().__init__(lambda request, i: "The answer is 4.")
        self.release = threading.Event()
        self.entered = threading.Event()
        self.cancelled = 0

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        self.entered.set()
        try:
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return await super().generate(request)


# -- answers and usage


def test_the_sync_client_gets_a_vote_and_exact_usage(url: str, backend: FunctionBackend) -> None:
    reply = client(url).chat.completions.create(
        model="m@self_consistency:n=3", messages=QUESTION, seed=1
    )
    assert reply.choices[0].message.content in ("The answer is 4.", "It is 4.")
    assert reply.choices[0].finish_reason == "stop"
    extension = reply.model_extra["ponder"]
    assert extension["runs"][0]["answer"] == "4"
    assert [v["votes"] for v in extension["runs"][0]["details"]["votes"]] == [2, 1]
    # usage is what the backend reported for every call the request caused
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == sum(words(r) for r in backend.history)
    assert reply.usage.completion_tokens == 4 + 3 + 1
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 8


async def test_the_async_client_chooses_the_strategy_in_extra_body(url: str) -> None:
    async with openai.AsyncOpenAI(base_url=url, api_key="-", max_retries=0) as aclient:
        reply = await aclient.chat.completions.create(
            model="m",
            messages=QUESTION,
            n=2,
            extra_body={"ponder": {"strategy": "self_consistency", "options": {"n": 3}}},
        )
    assert [c.index for c in reply.choices] == [0, 1]
    runs = reply.model_extra["ponder"]["runs"]
    assert len(runs) == 2 and all(len(r["candidates"]) == 3 for r in runs)
    assert reply.usage is not None
    assert reply.usage.completion_tokens == sum(r["ledger"]["completion_tokens"] for r in runs)
    async with openai.AsyncOpenAI(base_url=url, api_key="-", max_retries=0) as aclient:
        stream = await aclient.chat.completions.create(
            model="m@greedy", messages=QUESTION, stream=True
        )
        pieces = [c.choices[0].delta.content async for c in stream if c.choices]
    assert "".join(p for p in pieces if p) == "The answer is 4."


def test_verifier_calls_are_billed() -> None:
    def model(request: GenerationRequest, i: int) -> Reply:
        assert request.messages is not None
        asked = request.messages[-1].content
        return "Rating: 7" if "rating" in asked.lower() else "The answer is 4."

    with Running(Served("m", {"m": FunctionBackend(model)})) as base:
        reply = client(base).chat.completions.create(
            model="m@best_of_n:n=2,scorer=judge(mode=text)", messages=QUESTION
        )
    ledger = reply.model_extra["ponder"]["runs"][0]["ledger"]
    assert set(ledger["by_role"]) == {"generate", "verify"}
    assert reply.usage is not None
    assert reply.usage.completion_tokens == ledger["completion_tokens"]
    assert ledger["by_role"]["verify"]["completion_tokens"] > 0


def test_request_fields_become_strategy_options(url: str, backend: FunctionBackend) -> None:
    reply = client(url).chat.completions.create(
        model="m@self_consistency:n=2,temperature=0.3",
        messages=[{"role": "system", "content": "Be brief."}, *QUESTION],
        temperature=0.9,
        top_p=0.5,
        max_tokens=3,
        stop=["."],
        seed=11,
    )
    request = backend.history[-1]
    assert request.params.temperature == 0.3  # the spec's own option wins
    assert (request.params.top_p, request.params.max_tokens) == (0.5, 3)
    assert request.params.stop == (".",) and request.params.seed == 11
    assert request.messages is not None and request.messages[0].content == "Be brief."
    ignored = reply.model_extra["ponder"]["ignored"]
    assert "temperature" in ignored


def test_a_reply_cut_off_finishes_with_length(url: str) -> None:
    reply = client(url).chat.completions.create(model="m@greedy", messages=QUESTION, max_tokens=2)
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (
        "The answer",
        "length",
    )


def test_history_reaches_the_model(url: str, backend: FunctionBackend) -> None:
    conversation = [
        {"role": "user", "content": "Hi."},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "What is 2 + 2?"}]},
    ]
    client(url).chat.completions.create(model="m@greedy", messages=conversation)
    request = backend.history[-1]
    assert request.messages is not None
    assert [(m.role, m.content) for m in request.messages] == [
        ("user", "Hi."),
        ("assistant", "Hello!"),
        ("user", "What is 2 + 2?"),
    ]


def test_greedy_returns_logprobs() -> None:
    tokens = (TokenLogprob("4", -0.1, (("4", -0.1), ("5", -2.5))),)
    backend = FunctionBackend(lambda request, i: Completion("4", "stop", 1, logprobs=tokens))
    with Running(Served("m", {"m": backend})) as base:
        reply = client(base).chat.completions.create(
            model="m@greedy", messages=QUESTION, logprobs=True, top_logprobs=2
        )
    assert backend.history[0].params.top_logprobs == 2
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert [(t.token, t.logprob) for t in logprobs.content] == [("4", -0.1)]
    assert [a.token for a in logprobs.content[0].top_logprobs] == ["4", "5"]


def test_legacy_completions_with_several_prompts(url: str) -> None:
    reply = client(url).completions.create(
        model="m@self_consistency:n=3", prompt=["2 + 2?", "3 + 1?"], n=2
    )
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    assert reply.usage is not None and reply.usage.completion_tokens == 4 * 8


def test_models_lists_presets() -> None:
    config = ServeConfig(presets=("self_consistency:n=8", "greedy"))
    with Running(Served("m", {"m": replies("4"), "judge": replies("4")}), config) as base:
        ids = [m.id for m in client(base).models.list()]
    assert ids == [
        "m",
        "m@self_consistency:n=8",
        "m@greedy",
        "judge",
        "judge@self_consistency:n=8",
        "judge@greedy",
    ]


# -- streaming


def test_streaming_sends_progress_then_the_answer_then_usage(url: str) -> None:
    stream = client(url).chat.completions.create(
        model="m@self_consistency:n=3",
        messages=QUESTION,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    progress = [
        c.choices[0].delta.model_extra.get("reasoning_content")
        for c in chunks
        if c.choices and c.choices[0].delta.model_extra.get("reasoning_content")
    ]
    assert any("3/3 finished" in line for line in progress)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content in ("The answer is 4.", "It is 4.")
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8


def test_a_greedy_answer_streams_token_by_token(url: str) -> None:
    stream = client(url).chat.completions.create(model="m@greedy", messages=QUESTION, stream=True)
    pieces = [c.choices[0].delta.content for c in stream if c.choices]
    tokens = [p for p in pieces if p]
    assert tokens == ["The", " answer", " is", " 4."]


def test_the_first_chunk_leaves_before_the_work_is_done() -> None:
    held = Held()
    with Running(Served("m", {"m": held})) as base:
        body = {"model": "m@self_consistency:n=2", "messages": QUESTION, "stream": True}
        with httpx.stream("POST", f"{base}/chat/completions", json=body, timeout=30) as r:
            lines = r.iter_lines()
            first = next(line for line in lines if line.startswith("data:"))
            assert json.loads(first[5:])["choices"][0]["delta"]["role"] == "assistant"
            assert not held.release.is_set() and held.entered.wait(10)
            held.release.set()
            rest = [line for line in lines if line.startswith("data:")]
    assert rest[-1] == "data: [DONE]"


def test_completions_stream(url: str) -> None:
    stream = client(url).completions.create(model="m@greedy", prompt="2 + 2?", stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == "The answer is 4."


# -- cancellation


def test_a_client_that_goes_away_cancels_its_work() -> None:
    held = Held()
    with Running(Served("m", {"m": held})) as base:
        body = {"model": "m@self_consistency:n=2", "messages": QUESTION}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{base}/chat/completions", json=body, timeout=0.5)
        for _ in range(500):
            if held.cancelled:
                break
            threading.Event().wait(0.01)
    assert held.cancelled == 1


def test_a_dropped_stream_cancels_its_work() -> None:
    held = Held()
    with Running(Served("m", {"m": held})) as base:
        body = {"model": "m@self_consistency:n=2", "messages": QUESTION, "stream": True}
        with httpx.stream("POST", f"{base}/chat/completions", json=body, timeout=30) as r:
            next(r.iter_lines())
            assert held.entered.wait(10)
        for _ in range(500):
            if held.cancelled:
                break
            threading.Event().wait(0.01)
    assert held.cancelled == 1


# -- errors and limits


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"model": "nope", "messages": QUESTION}, 404, "does not exist"),
        ({"model": "m@nope", "messages": QUESTION}, 400, "does not exist"),
        ({"model": "m@self_consistency:n=zero", "messages": QUESTION}, 400, "n"),
        ({"model": "m@", "messages": QUESTION}, 400, "nothing follows"),
        ({"model": "m", "messages": []}, 400, "messages"),
        ({"model": "m", "messages": "hi"}, 400, "messages"),
        ({"model": "m", "messages": QUESTION, "n": 99}, 400, "limit of 8"),
        ({"model": "m", "messages": QUESTION, "max_tokens": 10**6}, 400, "limit of 4096"),
        ({"model": "m", "messages": QUESTION, "temperature": "hot"}, 400, "temperature"),
        ({"model": "m", "messages": QUESTION, "frobnicate": 1}, 400, "frobnicate"),
        ({"model": "m", "messages": QUESTION, "presence_penalty": 1}, 400, "presence_penalty"),
        ({"model": "m", "messages": QUESTION, "logprobs": True}, 400, "greedy"),
        ({"model": "m", "messages": QUESTION, "tools": [{"type": "function"}]}, 400, "tools"),
        (
            {"model": "m", "messages": [*QUESTION, {"role": "assistant", "content": "4"}]},
            400,
            "last message",
        ),
        (
            {"model": "m@greedy", "messages": QUESTION, "ponder": {"strategy": "best_of_n"}},
            400,
            "two strategies",
        ),
        (
            {"model": "m@self_consistency:n=1000,max_tokens=4096", "messages": QUESTION},
            400,
            "compute limit",
        ),
    ],
)
def test_bad_requests_get_openai_errors(url: str, body: dict, status: int, says: str) -> None:
    response = httpx.post(f"{url}/chat/completions", json=body, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert says in error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_malformed_json_is_a_400(url: str) -> None:
    response = httpx.post(
        f"{url}/chat/completions",
        content=b'{"model": "m", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


def test_a_body_over_the_limit_is_a_413(backend: FunctionBackend) -> None:
    config = ServeConfig(max_body_bytes=1000)
    with Running(Served("m", {"m": backend}), config) as base:
        big = [{"role": "user", "content": "x" * 2000}]
        response = httpx.post(f"{base}/chat/completions", json={"model": "m", "messages": big})
        assert response.status_code == 413
        chunked = httpx.post(
            f"{base}/chat/completions",
            content=iter([b'{"model": "m", "messages": [', b" " * 2000, b"]}"]),
        )
        assert chunked.status_code == 413


def test_api_keys(backend: FunctionBackend) -> None:
    config = ServeConfig(api_keys=frozenset({"k1", "k2"}))
    with Running(Served("m", {"m": backend}), config) as base:
        with pytest.raises(openai.AuthenticationError):
            client(base, "wrong").chat.completions.create(model="m@greedy", messages=QUESTION)
        assert httpx.get(f"{base}/models").status_code == 401
        reply = client(base, "k2").chat.completions.create(model="m@greedy", messages=QUESTION)
        assert reply.choices[0].message.content == "The answer is 4."
        assert httpx.get(base.removesuffix("/v1") + "/health").status_code == 200


def test_a_full_queue_answers_429_with_retry_after() -> None:
    held = Held()
    config = ServeConfig(max_concurrent=1, max_queue=0)
    with Running(Served("m", {"m": held}), config) as base:
        body = {"model": "m@greedy", "messages": QUESTION}
        first = threading.Thread(
            target=httpx.post, args=(f"{base}/chat/completions",), kwargs={"json": body}
        )
        first.start()
        assert held.entered.wait(10)
        refused = httpx.post(f"{base}/chat/completions", json=body)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        held.release.set()
        first.join(10)
        again = httpx.post(f"{base}/chat/completions", json=body)
        assert again.status_code == 200


def test_context_overflow_is_a_400_naming_it() -> None:
    def too_long(request: GenerationRequest, i: int) -> Reply:
        raise ContextLengthError("the prompt (3000 tokens) does not fit n_ctx=2048")

    with (
        Running(Served("m", {"m": FunctionBackend(too_long)})) as base,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        client(base).chat.completions.create(model="m@greedy", messages=QUESTION)
    assert caught.value.code == "context_length_exceeded"
    assert "2048" in caught.value.message


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BackendTimeout("no answer in 5 s"), 504),
        (BackendHTTPError("upstream said 500: boom", status=500), 502),
    ],
)
def test_upstream_failures_are_502_or_504(error: Exception, status: int) -> None:
    def failing(request: GenerationRequest, i: int) -> Reply:
        raise error

    with Running(Served("m", {"m": FunctionBackend(failing)})) as base:
        response = httpx.post(
            f"{base}/chat/completions", json={"model": "m@greedy", "messages": QUESTION}
        )
        assert response.status_code == status
        assert str(error) in response.json()["error"]["message"]
        stream = httpx.post(
            f"{base}/chat/completions",
            json={"model": "m@greedy", "messages": QUESTION, "stream": True},
        )
        assert '"error"' in stream.text  # the stream ends with the error, in OpenAI's shape


def test_a_request_past_the_deadline_is_a_504() -> None:
    held = Held()
    with Running(Served("m", {"m": held}), ServeConfig(timeout=0.3)) as base:
        response = httpx.post(
            f"{base}/chat/completions", json={"model": "m@greedy", "messages": QUESTION}
        )
    assert response.status_code == 504
    assert held.cancelled == 1
