"""llama.cpp threads on shared cores: the load-following default against a thread per core
(llama.cpp's own default, ponder's before) and one thread, idle and with other processes
keeping cores busy. Whole-process `ponder solve` wall times, median of --repeats, all in one
run; ratios against a thread per core. Run it alone (it makes its own load).

    .venv/bin/python benchmarks/bench_threads.py [--repeats 3] [--model PATH.gguf] [-B KEY=VALUE]

Scenarios: a 70-token greedy solve (one sequence); self-consistency with 32 samples of 48
tokens (a wide batch, compute-bound); and the 32 samples with busy loops that start 1.5 s
into the run (the load arrives mid-run: only a revised count can follow it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from backend_options import add_model_arguments

PONDER = str(Path(sys.executable).with_name("ponder"))
CORES = len(os.sched_getaffinity(0))
GREEDY = ["solve", "Write a short poem about the sea.", "-s", "greedy", "--max-tokens", "70"]
WIDE = [
    "solve", "What is 17 * 23?", "-s", "self_consistency", "-n", "32",
    "--max-tokens", "48", "--temperature", "0.8", "--seed", "1",
]  # fmt: skip
#: ``--model PATH`` and ``-B KEY=VALUE`` for every run (empty: the embedded model)
MODEL: list[str] = []
SETTINGS = {"follows load (default)": "0", f"{CORES} threads (one a core)": str(CORES), "1": "1"}


def busy_loops(k: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]


def stop(loops: list[subprocess.Popen[bytes]]) -> None:
    for p in loops:
        p.kill()
        p.wait()


def wall(args: list[str], threads: str, load_after: float | None = None, load: int = 0) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [PONDER, *args, *MODEL, "-B", f"n_threads={threads}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    loops: list[subprocess.Popen[bytes]] = []
    if load_after is not None:
        time.sleep(load_after)
        loops = busy_loops(load)
    _, err = proc.communicate()
    took = time.perf_counter() - start
    stop(loops)
    if proc.returncode:
        raise SystemExit(f"ponder failed: {err.decode()[-2000:]}")
    return took


def scenario(title: str, args: list[str], repeats: int, busy: int, mid_run: bool = False) -> None:
    print(f"{title}")
    medians = {}
    for name, threads in SETTINGS.items():
        times = []
        for _ in range(repeats):
            if mid_run:
                times.append(wall(args, threads, load_after=1.5, load=busy))
            else:
                loops = busy_loops(busy)
                time.sleep(0.5)
                try:
                    times.append(wall(args, threads))
                finally:
                    stop(loops)
        medians[name] = statistics.median(times)
        print(
            f"  {name:<26} "
            + " ".join(f"{t:6.2f}" for t in times)
            + f"  median {medians[name]:6.2f} s"
        )
    base = medians[f"{CORES} threads (one a core)"]
    for name, value in medians.items():
        print(f"  ratio {name:<20} / one a core: {value / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    add_model_arguments(parser)
    parsed = parser.parse_args()
    repeats = parsed.repeats
    if parsed.model:
        MODEL.extend(["--model", parsed.model])
    for option in parsed.options:
        MODEL.extend(["-B", option])
    print(f"{CORES} usable cores; {repeats} runs each, whole process\n")
    scenario("greedy, 70 tokens, idle", GREEDY, repeats, 0)
    scenario(f"greedy, 70 tokens, {CORES} busy loops", GREEDY, repeats, CORES)
    scenario("greedy, 70 tokens, 1 busy loop", GREEDY, repeats, 1)
    scenario("32 samples x 48 tokens, idle", WIDE, repeats, 0)
    scenario(f"32 samples x 48 tokens, {CORES} busy loops", WIDE, repeats, CORES)
    scenario(
        f"32 samples x 48 tokens, {CORES} busy loops from 1.5 s in", WIDE, repeats, CORES, True
    )


if __name__ == "__main__":
    main()
