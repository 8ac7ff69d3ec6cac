"""``ponder serve`` under load, its overhead in front of a server, and its throughput.

Three measurements, each printed with the command's own numbers from one run:

- ``load``: 64 concurrent clients x 8 requests of ``self_consistency:n=4`` on a scripted
  backend (a FunctionBackend that answers after 10 ms): errors, and whether every response's
  usage is exactly what the backend reported for its samples.
- ``throughput``: the same kind of request (``self_consistency:n=4``, at most 128 tokens per
  sample) for 16 ``products`` problems on the embedded model, sent one at a time and then all
  at once (16 clients): wall times, tokens/s and the ratio.
- ``overhead``: greedy requests (32 tokens) to llama-cpp-python's own server, directly and
  through ``ponder serve`` in front of it, alternating, after a warm-up: the median wall time
  of each and the ratio (target <= 1.05).

    .venv/bin/python benchmarks/bench_serve.py load|throughput|overhead|all
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx

from ponder.backends.llamacpp import LlamaCppBackend, default_model_path
from ponder.backends.openai import OpenAIBackend
from ponder.core.types import GenerationRequest
from ponder.server import Running, ServeConfig, Served
from ponder.tasks import make_task
from ponder.testing import FunctionBackend


def _reply(request: GenerationRequest, index: int) -> str:
    assert request.messages is not None
    words = len(request.messages[-1].content.split())
    return " ".join(["step"] * (index + 2)) + f" so the answer is {words}."


def _prompt_words(question: str) -> int:
    return len(question.split())


async def load(clients: int = 64, per_client: int = 8) -> None:
    backend = FunctionBackend(_reply, delay=0.01)
    config = ServeConfig(max_concurrent=clients, max_queue=clients)
    errors: list[str] = []
    inexact = 0
    with Running(Served("m", {"m": backend}), config) as base:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:

            async def client(c: int) -> None:
                nonlocal inexact
                for r in range(per_client):
                    question = " ".join(["word"] * (1 + (c * per_client + r) % 13))
                    body = {
                        "model": "m@self_consistency:n=4",
                        "messages": [{"role": "user", "content": question}],
                    }
                    response = await http.post("/chat/completions", json=body)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                        continue
                    usage = response.json()["usage"]
                    # the scripted samples: index + 2 words, then "so the answer is N."
                    expected = sum(i + 2 + 5 for i in range(4))
                    if (usage["completion_tokens"], usage["prompt_tokens"]) != (
                        expected,
                        _prompt_words(question),
                    ):
                        inexact += 1

            start = time.perf_counter()
            await asyncio.gather(*(client(c) for c in range(clients)))
            wall = time.perf_counter() - start
    total = clients * per_client
    print(f"load: {clients} clients x {per_client} requests of self_consistency:n=4 (scripted)")
    print(f"  {total} requests in {wall:.2f} s ({total / wall:.0f} requests/s)")
    print(f"  errors: {len(errors)}; responses whose usage was not exact: {inexact}")
    for error in errors[:5]:
        print(f"    {error}")


async def throughput(problems: int = 16) -> None:
    task = make_task("products", {"max_digits": 1}, seed=0)
    questions = [p.question for p in task.problems(problems)]
    backend = LlamaCppBackend()
    try:
        with Running(Served("smollm2", {"smollm2": backend})) as base:
            async with httpx.AsyncClient(base_url=base, timeout=600) as http:

                async def ask(i: int, question: str) -> int:
                    body = {
                        "model": "smollm2@self_consistency:n=4,max_tokens=128",
                        "messages": [{"role": "user", "content": question}],
                        "seed": i,
                    }
                    response = await http.post("/chat/completions", json=body)
                    response.raise_for_status()
                    return int(response.json()["usage"]["completion_tokens"])

                await ask(0, "Say hi.")  # warm-up: the engine's first context
                start = time.perf_counter()
                one = [await ask(i, q) for i, q in enumerate(questions)]
                alone = time.perf_counter() - start
                start = time.perf_counter()
                together = await asyncio.gather(*(ask(i, q) for i, q in enumerate(questions)))
                concurrent = time.perf_counter() - start
    finally:
        await backend.aclose()
    print(f"throughput: {problems} products problems, self_consistency:n=4, embedded model")
    print(f"  one at a time: {alone:.1f} s, {sum(one) / alone:.0f} tokens/s ({sum(one)} tokens)")
    print(
        f"  all at once:   {concurrent:.1f} s, {sum(together) / concurrent:.0f} tokens/s "
        f"({sum(together)} tokens)"
    )
    print(f"  wall ratio all at once / one at a time: {concurrent / alone:.2f}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _llama_server() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path())]
        + ["--model_alias", "smollm2", "--port", str(port), "--n_ctx", "2048"]
        + ["--verbose", "False", "--interrupt_requests", "False"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("llama_cpp.server did not come up")
        time.sleep(0.2)


def overhead(rounds: int = 20) -> None:
    proc, upstream = _llama_server()
    backend = OpenAIBackend.from_spec(f"{upstream}#smollm2", max_retries=0)
    messages = [{"role": "user", "content": "Name three rivers of Europe."}]
    direct_body = {"model": "smollm2", "messages": messages, "max_tokens": 32, "temperature": 0}
    front_body = {**direct_body, "model": "front@greedy"}
    try:
        with (
            Running(Served("front", {"front": backend})) as base,
            httpx.Client(timeout=120) as http,
        ):

            def timed(url: str, body: dict[str, object]) -> float:
                start = time.perf_counter()
                response = http.post(f"{url}/chat/completions", json=body)
                response.raise_for_status()
                return time.perf_counter() - start

            for _ in range(3):
                timed(upstream, direct_body)
                timed(base, front_body)
            direct, front = [], []
            for _ in range(rounds):
                direct.append(timed(upstream, direct_body))
                front.append(timed(base, front_body))
    finally:
        asyncio.run(backend.aclose())
        proc.terminate()
        proc.wait(10)
    d, f = statistics.median(direct), statistics.median(front)
    print(f"overhead: greedy, 32 tokens, {rounds} requests each, alternating, after a warm-up")
    print(f"  llama_cpp.server directly: median {d * 1000:.1f} ms")
    print(f"  through ponder serve:      median {f * 1000:.1f} ms")
    print(f"  ratio through ponder / direct: {f / d:.3f} (target <= 1.05)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["load", "throughput", "overhead", "all"])
    what = parser.parse_args().what
    if what in ("load", "all"):
        asyncio.run(load())
    if what in ("throughput", "all"):
        asyncio.run(throughput())
    if what in ("overhead", "all"):
        overhead()


if __name__ == "__main__":
    main()
