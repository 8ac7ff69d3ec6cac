"""How close to its deadline each HTTP call ends, against servers that misbehave on purpose.

    .venv/bin/python benchmarks/bench_http_deadlines.py

For each misbehaviour (``ponder.testing.MisbehavingServer``): the configured deadline, the
wall time until the call raised, their ratio, and the error. The target is a ratio of at most
1.10 (no call outlives its deadline by more than 10%); a huge ``Retry-After`` should end at
once (ratio near 0), not after the wait the server asked for.
"""

from __future__ import annotations

import asyncio
import time

from ponder.backends.openai import OpenAIBackend
from ponder.core.types import GenerationRequest, Message, make_params
from ponder.errors import BackendError
from ponder.testing import MisbehavingServer

DEADLINE = 2.0
CASES = (
    ("silent", "generate", {"timeout": DEADLINE}),
    ("slow_loris", "generate", {"timeout": DEADLINE}),
    ("retry_after", "generate", {"timeout": DEADLINE, "max_retry_wait": 1.0}),
    ("silent", "stream (first event)", {"timeout": DEADLINE}),
    ("stall_stream", "stream (between events)", {"timeout": 30, "stream_idle_timeout": DEADLINE}),
)


async def one(behaviour: str, how: str, options: dict[str, float]) -> tuple[float, str]:
    request = GenerationRequest.chat([Message("user", "hi")], make_params(max_tokens=8))
    with MisbehavingServer(behaviour) as url:
        backend = OpenAIBackend(url, model="m", max_retries=3, **options)  # type: ignore[arg-type]
        start = time.perf_counter()
        try:
            if how == "generate":
                await backend.generate(request)
            else:
                async for _ in backend.stream(request):
                    pass
            error = "no error"
        except BackendError as exc:
            error = f"{type(exc).__name__}: {str(exc)[:70]}"
        elapsed = time.perf_counter() - start
        await backend.aclose()
    return elapsed, error


def main() -> None:
    print(f"{'server':14s} {'call':24s} {'deadline':>8s} {'ended':>7s} {'ratio':>6s}  error")
    for behaviour, how, options in CASES:
        elapsed, error = asyncio.run(one(behaviour, how, options))
        print(
            f"{behaviour:14s} {how:24s} {DEADLINE:8.2f} {elapsed:7.2f} "
            f"{elapsed / DEADLINE:6.2f}  {error}"
        )


if __name__ == "__main__":
    main()
