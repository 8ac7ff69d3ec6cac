from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from ponder.backends.llamacpp import LlamaCppBackend, default_model_path
from ponder.backends.llamacpp.model import LlamaModel

#: fixtures that load the real model (in this process or in a server process)
MODEL_FIXTURES = ("embedded", "llama_server")


@pytest.fixture(autouse=True)
def _live_only_loads_the_model(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that loads the real model must be marked ``live``: an unmarked one fails at the
    load, naming the mark, so ``-m "not live"`` really runs without a model."""
    if request.node.get_closest_marker("live") is not None:
        return
    used = [name for name in MODEL_FIXTURES if name in request.fixturenames]
    if used:
        pytest.fail(f"this test uses {used[0]!r}, which loads the model: mark it @pytest.mark.live")

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("this test loads the real model: mark it @pytest.mark.live")

    monkeypatch.setattr(LlamaModel, "__init__", refuse)


@pytest.fixture(scope="session")
def embedded() -> Iterator[LlamaCppBackend]:
    """The real embedded model, loaded once for the whole suite. ``PONDER_TEST_LOGIT_JITTER``
    perturbs its logits (``logit_jitter``): another machine's numerics, simulated, under which
    every live test must still pass (``test_portability.py``)."""
    jitter = float(os.environ.get("PONDER_TEST_LOGIT_JITTER") or 0)
    backend = LlamaCppBackend(n_ctx=2048, n_parallel=8, n_prompt_slots=4, logit_jitter=jitter)
    yield backend
    backend.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server with the embedded model."""
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_model_path()),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--verbose",
        "False",
        "--interrupt_requests",  # by default it cuts off running requests when one arrives
        "False",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ}
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"llama_cpp.server exited early: {err[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not come up within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
