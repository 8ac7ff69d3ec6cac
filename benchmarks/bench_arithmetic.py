"""The arithmetic checker (and the answer reader) on replies built to make a regex backtrack:
the checker's time against the issue's limit (4,096 characters in under 50 ms), next to the
old pattern's on the same text, and ``read_answer``'s on each (it runs on the server's event
loop for every sample).

The old claim pattern (``[class]*\\d[class]*(?:=[class]*\\d[class]*)+``) backtracked
cubically on a run of digits with no "=" (0.12 / 1.05 / 8.7 s on 250 / 500 / 1,000
characters); the checker now reads runs of arithmetic characters in one regex pass and
splits them, each side cut to its 80 characters nearest an "=". The old pattern is timed only
up to 500 characters (past that it takes seconds).

    .venv/bin/python benchmarks/bench_arithmetic.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable

from ponder.core.problem import AnswerSpec, Candidate
from ponder.scoring.extraction import read_answer
from ponder.scoring.scorers.arithmetic import ArithmeticChecker

OLD_SIDE = r"[\d.+\-*/^()\[\] ]*\d[\d.+\-*/^()\[\] ]*"
OLD_CHAIN = re.compile(rf"{OLD_SIDE}(?:={OLD_SIDE})+")


def replies(size: int) -> dict[str, str]:
    return {
        "digits": "7" * size,
        "spaced digits": ("1 " * size)[:size],
        "digits, then one claim": ("9" * (size - 10)) + " 3 + 4 = 7",
        "a chain of equals": ("1=" * size)[:size],
        "claims": ("12 + 7 = 19. " * size)[:size],
        "an unclosed bracket run": ("(" * (size // 2)) + ("1+" * (size // 4)),
        "unclosed boxes": ("\\boxed{" * size)[:size],
    }


def timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    checker = ArithmeticChecker()
    worst = 0.0
    print(f"{'reply':26} {'chars':>6} {'checker ms':>11} {'old regex ms':>13} {'reader ms':>10}")
    number = AnswerSpec("number")
    for size in (250, 500, 1000, 4096, 16384):
        for name, text in replies(size).items():
            candidate = Candidate(0, text, None, len(text), "stop")
            ms = 1000 * timed(lambda c=candidate: checker.check_all([c]), args.repeats)
            old = "-"
            if size <= 500:
                old_s = timed(lambda t=text: list(OLD_CHAIN.finditer(t)), 1)
                old = f"{1000 * old_s:.1f}"
            if size == 4096:
                worst = max(worst, ms)
            reading = 1000 * timed(lambda t=text: read_answer(t, number), args.repeats)
            print(f"{name:26} {len(text):>6} {ms:>11.2f} {old:>13} {reading:>10.2f}")
    print(f"slowest 4,096-character reply: {worst:.2f} ms (limit 50 ms): {worst / 50:.3f} of it")


if __name__ == "__main__":
    main()
