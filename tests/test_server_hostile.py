"""The hostile request corpus, against a live ``ponder serve`` (the command, in a process of
its own, over a scripted upstream model): every case is answered with a 4xx in OpenAI's error
shape (or the 200 it is owed), no file content or upstream body is echoed, no local connection
is made (a listener records none), no module the operator did not name is imported (a canary
module records its import), no process is left behind, and ``/health`` answers within 1 s
after every case. ``PONDER_HOSTILE_REPORT=FILE`` writes each outcome to FILE."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ponder.testing import ScriptedServer

KEY = "hostile-test-key"
SECRET = "S3CRET-client-secret-value"
INTERNAL = "INTERNAL-ONLY text: db_password=hunter2"
#: the server's cap on one sample's tokens
MAX_TOKENS = 64


def upstream_reply(question: str, index: int, seed: int | None) -> str:
    """The scripted upstream model: 'DIGITS' in a question gets 4,096 digits back, anything
    else 'The answer is 4.'."""
    return "7" * 4096 if "DIGITS" in question else "The answer is 4.\nAnswer: 4"


class Listener:
    """A local TCP service that must never be contacted: it records every connection and
    answers with something internal."""

    def __init__(self) -> None:
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                body = INTERNAL.encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )

    def close(self) -> None:
        self.closed.set()
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A live ``ponder serve`` (its own process, the README's flags), its upstream, a
    listener, a canary module, a credentials file and a directory it must leave alone."""
    home = tmp_path_factory.mktemp("hostile")
    (home / "credentials.json").write_text(json.dumps({"client_secret": SECRET}))
    (home / "notaplan.txt").write_text(SECRET)
    canary = home / "canary"
    canary.mkdir()
    (canary / "ponder_canary.py").write_text(
        f"open({str(home / 'imported')!r}, 'w').write('imported')\ndef f(*a): return 1.0\n"
    )
    upstream, listener = ScriptedServer(upstream_reply), Listener()
    port = _free_port()
    env = {**os.environ, "PONDER_API_KEYS": KEY, "PYTHONPATH": str(canary)}
    command = [sys.executable, "-m", "ponder.cli", "serve", "--model", f"{upstream.url}#fake"]
    command += ["--name", "m", "--port", str(port), "--max-tokens", str(MAX_TOKENS)]
    command += ["--deny", "mcts", "--timeout", "60", "--max-body-bytes", "200000"]
    server = subprocess.Popen(
        command, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise RuntimeError(server.stderr.read().decode()[-3000:] if server.stderr else "")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("ponder serve did not come up within 60 s")
        time.sleep(0.2)
    outcomes: list[dict[str, Any]] = []
    yield {
        "base": base,
        "home": home,
        "server": server,
        "upstream": upstream,
        "listener": listener,
        "outcomes": outcomes,
    }
    server.terminate()
    server.wait(timeout=20)
    if server.stderr:
        server.stderr.close()
    upstream.close()
    listener.close()
    report = os.environ.get("PONDER_HOSTILE_REPORT")
    if report:
        Path(report).with_suffix(".serve.json").write_text(json.dumps(outcomes, indent=1))


def chat(model: str, question: str = "What is 2 + 2?", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": question}], **fields}


def with_options(strategy: str, options: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return chat("m", ponder={"strategy": strategy, "options": options}, **fields)


#: name -> (body, statuses allowed, whether the upstream may be called)
def corpus(home: Path, listener_port: int) -> dict[str, tuple[Any, set[int], bool]]:
    local = f"http://127.0.0.1:{listener_port}/"
    big = "{question:>50000000}"
    cases: dict[str, tuple[Any, set[int], bool]] = {
        "auto plan: a credentials file": (
            chat(f"m@auto:budget=100,plan={home}/credentials.json"),
            {400},
            False,
        ),
        "auto plan: a missing file": (
            chat("m@auto:budget=100,plan=/nonexistent.json"),
            {400},
            False,
        ),
        "auto plan: a text file": (
            chat(f"m@auto:budget=100,plan={home}/notaplan.txt"),
            {400},
            False,
        ),
        "auto plan: /dev/stdin": (chat("m@auto:budget=100,plan=/dev/stdin"), {400}, False),
        "auto plan: /dev/zero": (chat("m@auto:budget=100,plan=/dev/zero"), {400}, False),
        "auto plan: a directory": (chat(f"m@auto:budget=100,plan={home}"), {400}, False),
        "auto plan in ponder.options": (
            with_options("auto", {"budget": 100, "plan": f"{home}/credentials.json"}),
            {400},
            False,
        ),
        "python scorer: venv.__main__": (
            chat("m@best_of_n:n=2,scorer=python(function=venv.__main__:main)"),
            {400},
            False,
        ),
        "python scorer: pty.spawn": (
            chat("m@best_of_n:n=2,scorer=python(function=pty:spawn)"),
            {400},
            False,
        ),
        "python scorer: this": (
            chat("m@best_of_n:n=2,scorer=python(function=this:s)"),
            {400},
            False,
        ),
        "python scorer: a canary module": (
            with_options(
                "best_of_n", {"n": 2, "scorer": {"name": "python", "function": "ponder_canary:f"}}
            ),
            {400},
            False,
        ),
        "python scorer as a weighted vote's": (
            chat("m@weighted_self_consistency:n=2,scorer=python(function=pty:spawn)"),
            {400},
            False,
        ),
        "reward model at a local port": (
            chat(f"m@best_of_n:n=2,scorer=reward_model(url={local})"),
            {400},
            False,
        ),
        "reward model inside a sampler's scorer": (
            with_options(
                "self_consistency",
                {
                    "n": 2,
                    "sampler": {
                        "name": "self_refine",
                        "scorer": {"name": "reward_model", "url": local},
                    },
                },
            ),
            {400},
            False,
        ),
        "judge template with a huge format spec": (
            with_options(
                "best_of_n", {"n": 2, "scorer": {"name": "judge", "pointwise_prompt": big}}
            ),
            {400},
            False,
        ),
        "judge template {x}": (
            chat("m@knockout:n=2,scorer=judge(pairwise_prompt={x})"),
            {400},
            False,
        ),
        "judge template {": (
            with_options("knockout", {"n": 2, "scorer": {"name": "judge", "pairwise_prompt": "{"}}),
            {400},
            False,
        ),
        "self_refine critique template": (
            with_options("self_refine", {"critique_prompt": big}),
            {400},
            False,
        ),
        "think_twice template": (
            with_options("think_twice", {"re_answer_prompt": big}),
            {400},
            False,
        ),
        "multi_verifier aspect with a format spec (data, escaped)": (
            with_options("multi_verifier", {"n": 2, "aspects": [big + "?"], "mode": "text"}),
            {200},
            True,
        ),
        "sampler over the token cap": (
            chat("m@self_consistency:n=2,sampler=think_twice(max_tokens=150)"),
            {400},
            False,
        ),
        "answer_tokens over the token cap": (
            chat("m@budget_forcing:answer_tokens=150"),
            {400},
            False,
        ),
        "a nested default over the token cap": (
            chat("m@self_consistency:n=2,sampler=think_twice"),
            {400},
            False,
        ),
        "100 stop strings in options": (
            with_options("greedy", {"stop": ["x"] * 100}),
            {400},
            False,
        ),
        "a 10,000-character stop string": (
            with_options("greedy", {"stop": ["x" * 10000]}),
            {400},
            False,
        ),
        "a 10,000-character option": (
            with_options("budget_forcing", {"wait_word": "w" * 10000}),
            {400},
            False,
        ),
        "an object as an option value": (with_options("greedy", {"seed": {"a": 1}}), {400}, False),
        "scorer: 5": (with_options("best_of_n", {"n": 2, "scorer": 5}), {400}, False),
        "a scorer not offered (tests)": (chat("m@best_of_n:n=2,scorer=tests"), {400}, False),
        "a strategy the operator denied": (chat("m@mcts"), {400}, False),
        "an unknown strategy": (chat("m@nope"), {400}, False),
        "judge of a model not served": (
            chat("m@best_of_n:n=2,scorer=judge(model=nope)"),
            {400},
            False,
        ),
        "model_switch with a model not served": (
            with_options("model_switch", {"models": ["default", "nope"]}),
            {400},
            False,
        ),
        "model_switch's default models": (chat("m@model_switch"), {400}, False),
        "a lone surrogate": (
            '{"model": "m@greedy", "messages": [{"role": "user", "content": "hi \\ud800"}]}',
            {400},
            False,
        ),
        "a body over the limit": (chat("m@greedy", "x" * 300_000), {413}, False),
        "components nested without end": (
            with_options(
                "self_consistency",
                {
                    "sampler": {
                        "name": "self_refine",
                        "scorer": {"name": "judge", "model": {"name": "x"}},
                    }
                },
            ),
            {400},
            False,
        ),
        "the arithmetic checker on 4,096 digits": (
            chat("m@best_of_n:n=4,scorer=arithmetic", "DIGITS: count to a thousand"),
            {200},
            True,
        ),
    }
    return cases


#: the error code a case must be refused with (the rule that refused it)
CODES = {
    "a nested default over the token cap": "limit_exceeded",
    "auto plan: a credentials file": "not_allowed",
    "auto plan: /dev/zero": "not_allowed",
    "python scorer: pty.spawn": "not_allowed",
    "reward model at a local port": "not_allowed",
    "reward model inside a sampler's scorer": "not_allowed",
    "judge template with a huge format spec": "not_allowed",
    "sampler over the token cap": "not_allowed",
    "scorer: 5": "not_allowed",
    "judge of a model not served": "not_allowed",
    "model_switch's default models": "model_not_found",
}


def _call(base: str, body: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx.post(f"{base}/v1/chat/completions", content=data, headers=headers, timeout=120)


def _children(pid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


class HealthProbe:
    """Asks /health every 50 ms on a thread of its own; the slowest answer."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.slowest = 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.05):
            self.slowest = max(self.slowest, _health_seconds(self.base))

    def stop(self) -> float:
        self.done.set()
        self.thread.join(10)
        return self.slowest


def _health_seconds(base: str) -> float:
    start = time.perf_counter()
    assert httpx.get(f"{base}/health", timeout=5).status_code == 200
    return time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(corpus(Path("/h"), 1)))
def test_hostile_request(world: dict[str, Any], name: str) -> None:
    body, statuses, works = corpus(world["home"], world["listener"].port)[name]
    upstream = world["upstream"]
    before = upstream.requests
    children = set(_children(world["server"].pid))
    probe = HealthProbe(world["base"])  # /health answers while the server works on the case
    start = time.perf_counter()
    try:
        response = _call(world["base"], body)
    finally:
        seconds = time.perf_counter() - start
        during = probe.stop()
    health = max(_health_seconds(world["base"]), during)
    text = response.text
    outcome = {
        "case": name,
        "status": response.status_code,
        "seconds": round(seconds, 3),
        "health_seconds": round(health, 3),
        "upstream_calls": upstream.requests - before,
    }
    if response.status_code >= 400:
        error = response.json()["error"]
        if name in CODES:
            assert error["code"] == CODES[name], error
        assert set(error) >= {"message", "type", "param", "code"}, error
        outcome["error"] = {
            "type": error["type"],
            "code": error["code"],
            "message": error["message"][:240],
        }
    world["outcomes"].append(outcome)
    assert response.status_code in statuses, (name, text[:2000])
    for leaked in (SECRET, INTERNAL, "db_password"):
        assert leaked not in text, name
    assert health < 1.0, outcome
    if not works:
        assert upstream.requests == before, f"{name}: work was done before the refusal"
    assert world["listener"].connections == 0
    assert not (world["home"] / "imported").exists(), "a module the operator did not name"
    assert not (world["home"] / "main").exists() and not (world["home"] / "pyvenv.cfg").exists()
    assert world["server"].poll() is None, "the server died"
    deadline = time.monotonic() + 5
    while set(_children(world["server"].pid)) - children and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(_children(world["server"].pid)) - children, "a process was left behind"


def test_health_tells_load_only_to_a_key_holder(world: dict[str, Any]) -> None:
    base = world["base"]
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    authorised = httpx.get(f"{base}/health", headers={"authorization": f"Bearer {KEY}"}).json()
    assert authorised["status"] == "ok" and "requests" in authorised


def test_a_stream_that_fails_after_its_first_chunk_ends_with_an_error_event(
    world: dict[str, Any],
) -> None:
    """A nested default over the cap (think_twice's max_tokens of 256) is refused by the
    runtime when the call is made, after the role chunk went out: the stream ends with an
    error event in OpenAI's shape, not a cut connection."""
    body = chat("m@self_consistency:n=2,sampler=think_twice", stream=True)
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx.stream(
        "POST", f"{world['base']}/v1/chat/completions", json=body, headers=headers, timeout=60
    ) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert response.status_code == 200
    assert json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"
    error = json.loads(events[-1])["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "limit_exceeded", error


def test_hostile_cases_are_refused_by_type_not_by_luck(world: dict[str, Any]) -> None:
    """The corpus's refusals name the rule: operator-only options say so."""
    response = _call(world["base"], chat("m@best_of_n:n=2,scorer=judge(pointwise_prompt=x)"))
    message = response.json()["error"]["message"]
    assert (
        "only the server's operator" in message
        and response.json()["error"]["code"] == "not_allowed"
    )


def test_the_operator_offers_by_name_what_requests_may_not_name(tmp_path: Path) -> None:
    """The operator's route: a named scorer (a python function, a reward model's URL) and a
    named plan are reached by name; the same request naming the function, the URL or the
    path is refused; and ``--allow`` widens the scorers but never the operator-only options."""
    import asyncio

    from ponder.server import ServeConfig, Served, create_app
    from ponder.server.policy import Policy
    from ponder.strategies.auto import SHIPPED_PLAN
    from ponder.testing import FunctionBackend

    backend = FunctionBackend(lambda request, i: f"The answer is {4 + i % 2}.")
    plan = json.loads(
        (Path(__import__("ponder").strategies.__file__).parent / "plans" / SHIPPED_PLAN).read_text()
    )
    plan["model"] = asyncio.run(backend.identity())
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    policy = Policy.default(
        named_scorers={"answer4": {"name": "python", "function": "test_server_hostile:is_four"}},
        plans={"mine": str(tmp_path / "plan.json")},
    ).widened(["python"], [])
    app = create_app(Served("m", {"m": backend}), ServeConfig(max_tokens=512, policy=policy))

    async def ask(spec: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/v1/chat/completions", json=chat(spec))

    named = asyncio.run(ask("m@best_of_n:n=2,scorer=answer4"))
    assert named.status_code == 200, named.text
    assert named.json()["choices"][0]["message"]["content"] == "The answer is 4."
    direct = asyncio.run(ask("m@best_of_n:n=2,scorer=python(function=test_server_hostile:is_four)"))
    assert direct.status_code == 400 and "only the server's operator" in direct.text
    planned = asyncio.run(ask("m@auto:budget=150,plan=mine"))
    assert planned.status_code == 200, planned.text
    assert planned.json()["ponder"]["runs"][0]["details"]["plan"] == str(tmp_path / "plan.json")
    path = asyncio.run(ask(f"m@auto:budget=150,plan={tmp_path / 'plan.json'}"))
    assert path.status_code == 400 and "mine" in path.json()["error"]["message"]


def is_four(problem: Any, candidate: Any) -> float:
    return float(candidate.answer == "4")
