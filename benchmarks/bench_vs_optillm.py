"""``ponder serve`` against optillm, as a user with one GGUF file would run them.

30 ``products`` problems (the development suite's: one-digit factors, seed 0), each sent as
one chat request, one after another, as a user's script or optillm's own eval scripts do:

- **ponder (embedded)**: ``ponder serve`` on its embedded engine, ``self_consistency:n=8``.
- **ponder -> llama-cpp-python server**: ``ponder serve`` in front of llama-cpp-python's own
  server with the same GGUF (that server runs one request at a time and ignores ``n``: ponder
  notices and sends the 8 samples as seeded single requests, so nothing can batch).
- **optillm -> llama-cpp-python server**: optillm's ``self_consistency`` (5 samples, not
  configurable) and its ``majority_voting`` plugin (k=8), run only when ``import optillm``
  works in the interpreter ``--optillm-python`` names (default: this one; optillm's
  dependencies, torch and transformers among them, are best kept in a virtual environment
  of their own). The script installs nothing and says so when optillm is missing. Written
  against optillm 0.4.0's command line (``--base-url``, ``--port``, the approach as a model
  name prefix).

Every request asks for at most 256 tokens a sample (optillm's plugins default to 4096).
For each: wall time, wall time per sample (samples the upstream really generated, counted by
the pass-through proxy below, for the upstream runs), accuracy (the task's scorer on the reply, the
answer read the same way for every side), the completion tokens the proxy reported, and the
tokens really generated: the embedded engine's own count of sampled tokens, or, for the
upstream runs, the sum of the usage the llama-cpp-python server reported, recorded by a
pass-through proxy between the two.

    .venv/bin/python benchmarks/bench_vs_optillm.py [--problems 30] [--optillm-python PY]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, os.path.dirname(__file__))
from bench_serve import _free_port, _llama_server  # noqa: E402
from ponder.backends.llamacpp import LlamaCppBackend  # noqa: E402
from ponder.backends.openai import OpenAIBackend  # noqa: E402
from ponder.scoring.extraction import read_answer  # noqa: E402
from ponder.server import Running, ServeConfig, Served  # noqa: E402
from ponder.tasks import make_task  # noqa: E402


class CountingProxy:
    """Passes requests to ``upstream`` and adds up the usage it reports."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.completion_tokens = 0
        self.prompt_tokens = 0
        self.requests = 0
        self.samples = 0  # choices the upstream returned
        self.client = httpx.AsyncClient(timeout=600)
        app = Starlette(routes=[Route("/v1/{path:path}", self.forward, methods=["GET", "POST"])])
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/v1"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )

    async def forward(self, request: Request) -> Response:
        path = request.path_params["path"]
        answer = await self.client.request(
            request.method,
            f"{self.upstream}/{path}",
            content=await request.body(),
            headers={"content-type": "application/json"},
        )
        if path.endswith("completions") and answer.status_code == 200:
            data = answer.json()
            usage = data.get("usage") or {}
            self.samples += len(data.get("choices") or [])
            self.completion_tokens += int(usage.get("completion_tokens") or 0)
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.requests += 1
        return Response(answer.content, answer.status_code, media_type="application/json")

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        thread = threading.Thread(target=self.server.run, daemon=True)
        thread.start()
        while not self.server.started:
            time.sleep(0.01)
        try:
            yield self.url
        finally:
            self.server.should_exit = True
            thread.join(10)


def ask_all(base: str, model: str, problems: list[Any], task: Any, **extra: Any) -> dict[str, Any]:
    """Every problem, one request after another; wall time, accuracy and reported usage."""
    correct = reported = 0
    start = time.perf_counter()
    with httpx.Client(timeout=900) as http:
        for i, problem in enumerate(problems):
            body = {
                "model": model,
                "messages": [{"role": "user", "content": problem.question}],
                "seed": i,
                "max_tokens": 256,
                **extra,
            }
            response = http.post(f"{base}/chat/completions", json=body)
            response.raise_for_status()
            data = response.json()
            text = data["choices"][0]["message"]["content"] or ""
            answer = read_answer(text, problem.answer).answer
            correct += task.score(problem, text, answer).correct
            reported += int((data.get("usage") or {}).get("completion_tokens") or 0)
    return {"wall": time.perf_counter() - start, "correct": correct, "reported": reported}


def line(name: str, run: dict[str, Any], problems: int, samples: int, generated: int) -> float:
    """Prints a run; returns its wall time per sample (``samples``: all the run's)."""
    per_sample = run["wall"] / samples
    print(
        f"{name:<42} {run['wall']:7.1f} s  {per_sample:6.3f} s/sample  "
        f"accuracy {run['correct']}/{problems}  reported {run['reported']:6d}  "
        f"generated {generated:6d}  samples {samples}"
    )
    return per_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=30)
    parser.add_argument(
        "--optillm-python", default=sys.executable, help="An interpreter that can import optillm."
    )
    args = parser.parse_args()
    count, optillm_python = args.problems, args.optillm_python
    task = make_task("products", {"max_digits": 1}, seed=0)
    problems = list(task.problems(count))
    config = ServeConfig(timeout=None)
    print(f"{count} products problems, one request at a time\n")

    backend = LlamaCppBackend()
    with Running(Served("smollm2", {"smollm2": backend}), config) as base:
        before = backend.stats.tokens_sampled
        run = ask_all(base, "smollm2@self_consistency:n=8", problems, task)
        embedded = backend.stats.tokens_sampled - before
    asyncio.run(backend.aclose())
    ponder_per_sample = line(
        "ponder (embedded) self_consistency n=8", run, count, 8 * count, embedded
    )

    server, upstream = _llama_server()
    try:
        proxy = CountingProxy(upstream)
        with proxy.running() as counted:
            remote = OpenAIBackend.from_spec(f"{counted}#smollm2", max_retries=0, timeout=600)
            with Running(Served("smollm2", {"smollm2": remote}), config) as base:
                run = ask_all(base, "smollm2@self_consistency:n=8", problems, task)
            asyncio.run(remote.aclose())
            ponder_upstream = line(
                "ponder -> llama_cpp.server self_consistency n=8",
                run,
                count,
                proxy.samples,
                proxy.completion_tokens,
            )
            found = subprocess.run([optillm_python, "-c", "import optillm"], capture_output=True)
            if found.returncode:
                print(
                    f"\noptillm is not importable by {optillm_python}, so its side was not run "
                    "(this script installs nothing). With --optillm-python naming an "
                    "interpreter that has optillm, it runs optillm's self_consistency and "
                    "majority_voting (k=8) against this same server."
                )
                return
            _optillm(
                optillm_python, counted, proxy, problems, task, ponder_per_sample, ponder_upstream
            )
    finally:
        server.terminate()
        server.wait(10)


def _optillm(
    python: str,
    upstream: str,
    proxy: CountingProxy,
    problems: list[Any],
    task: Any,
    ponder: float,
    ponder_upstream: float,
) -> None:
    port = _free_port()
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "optillm-bench.log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        # optillm 0.4.0 has no __main__ module: its console script calls optillm.main()
        [
            python,
            "-c",
            "import optillm; optillm.main()",
            "--base-url",
            upstream,
            "--port",
            str(port),
        ],  # fmt: skip
        env={**os.environ, "OPENAI_API_KEY": "none"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/models", timeout=1).status_code < 500:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"optillm did not start (its output: {log.name})")
            time.sleep(0.5)
        for name, model in (
            ("optillm self_consistency (5 samples)", "self_consistency-smollm2"),
            ("optillm majority_voting k=8", "majority_voting-smollm2"),
        ):
            before, samples_before = proxy.completion_tokens, proxy.samples
            run = ask_all(base, model, problems, task)
            samples = proxy.samples - samples_before
            theirs = line(name, run, len(problems), samples, proxy.completion_tokens - before)
            print(
                f"  per sample: ponder (embedded) / this {ponder / theirs:.2f} (target <= 0.5); "
                f"ponder -> the same server / this {ponder_upstream / theirs:.2f}"
            )
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


if __name__ == "__main__":
    main()
