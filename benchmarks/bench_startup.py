"""Start-up: one greedy one-token ``ponder solve``, whole process, against plain
llama-cpp-python doing the same in a fresh process (``Llama(...).create_chat_completion``
with the same model and n_ctx=2048, the engine's default context).

Runs the two commands alternately (``--pairs`` times, default 3) and prints each pair's wall
time and peak RSS (from ``wait4``), then the medians' ratios, ponder / plain. Targets
(issue 35): wall at most 1.2x, peak RSS at most 1.3x.

Then the same for eight samples, whole process: ``ponder solve -s self_consistency -n 8``
(128 tokens at T=0.8) against one process making 8 sequential plain calls with the same
settings (target: at most 0.45x wall; ``--eight-pairs``, default ``--pairs``).

Last, ``ponder --help``: the median of 11 runs (target under 0.15 s), beside the
interpreter's own start (``python -c pass``).

    .venv/bin/python benchmarks/bench_startup.py [--pairs 3] [--model PATH.gguf] [-B KEY=VALUE]

``--model`` measures both sides on another GGUF (default: the embedded SmolLM2-135M); ``-B``
passes a backend option to ``ponder solve`` (``-B chat_template=completion`` for a base model
without a chat template; plain llama-cpp-python falls back to its own default format).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

LOAD = """
import sys
from llama_cpp import Llama
from ponder.backends.llamacpp.backend import default_model_path
path = sys.argv[1] if len(sys.argv) > 1 else str(default_model_path())
llm = Llama(path, n_ctx=2048, flash_attn=True, verbose=False)
"""
PLAIN = (
    LOAD
    + """
llm.create_chat_completion(
    messages=[{"role": "user", "content": "hi"}], temperature=0, max_tokens=1
)
"""
)
PLAIN_8 = (
    LOAD
    + """
for seed in range(8):
    llm.create_chat_completion(
        messages=[{"role": "user", "content": "Write a long story about a dragon."}],
        temperature=0.8, top_k=0, top_p=1.0, min_p=0.0, repeat_penalty=1.0,
        max_tokens=128, seed=seed,
    )
"""
)


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--eight-pairs", type=int, default=None)
    parser.add_argument("--model", default=None, help="a GGUF (default: the embedded model)")
    parser.add_argument("-B", dest="options", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    ponder = str(Path(sys.executable).with_name("ponder"))
    model = ["--model", args.model] if args.model else []
    model += [arg for option in args.options for arg in ("-B", option)]
    path = [args.model] if args.model else []
    solve = [ponder, "solve", "hi", "-s", "greedy", "--max-tokens", "1", *model]
    plain = [sys.executable, "-c", PLAIN, *path]
    eight = [
        ponder,
        "solve",
        "Write a long story about a dragon.",
        "-s",
        "self_consistency",
        "-n",
        "8",
        "--max-tokens",
        "128",
        "--temperature",
        "0.8",
        *model,
    ]
    measure(plain)  # warm the page cache for both
    eight_plain = [sys.executable, "-c", PLAIN_8, *path]
    for title, pair, wall_target, pairs in (
        ("one-token greedy solve", (solve, plain), 1.2, args.pairs),
        ("8 samples x 128 tokens at T=0.8", (eight, eight_plain), 0.45, args.eight_pairs),
    ):
        print(title)
        runs: dict[str, list[tuple[float, float]]] = {"ponder": [], "plain": []}
        for i in range(args.pairs if pairs is None else pairs):
            for name, argv in zip(("ponder", "plain"), pair, strict=True):
                wall, rss = measure(argv)
                runs[name].append((wall, rss))
                print(f"  pair {i + 1} {name:6s} wall {wall:5.2f} s  peak RSS {rss:7.0f} MiB")
        wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
        rss = {k: statistics.median(r for _, r in v) for k, v in runs.items()}
        print(f"  median wall: ponder {wall['ponder']:.2f} s, plain {wall['plain']:.2f} s")
        print(f"  median peak RSS: ponder {rss['ponder']:.0f} MiB, plain {rss['plain']:.0f} MiB")
        print(f"  ratio wall {wall['ponder'] / wall['plain']:.2f} (target <= {wall_target})")
        if wall_target > 1:
            print(f"  ratio peak RSS {rss['ponder'] / rss['plain']:.2f} (target <= 1.3)")
    print("ponder --help (11 runs)")
    for name, argv in (
        ("ponder --help", [ponder, "--help"]),
        ("python -c pass", [sys.executable, "-c", "pass"]),
    ):
        walls = sorted(measure(argv)[0] for _ in range(11))
        print(f"  {name:15s} median {walls[5]:.3f} s (min {walls[0]:.3f}, max {walls[-1]:.3f})")
    print("  target: ponder --help under 0.15 s")


if __name__ == "__main__":
    main()
