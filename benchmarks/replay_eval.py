"""Is the engine's eval slower than its own llama.cpp work? bench_eval.py's eval, its calls
into llama.cpp recorded, then replayed alone, beside plain llama.cpp's same work, in rounds.

    .venv/bin/python benchmarks/replay_eval.py [--problems 32] [--rounds 3] [--model PATH.gguf]
        [-B KEY=VALUE]

Each round runs, one after the other in one process: the eval (``bench_eval.concurrent``:
self-consistency n=8 at T=0.8 on ``products``, the engine at 32 samples), timing every
``llama_decode``; the eval's first round's calls (every decode's batch, KV copy, clear and
resize, in order) replayed on a fresh ``LlamaModel`` in the main thread, with no engine, no
event loop and no draw; and ``bench_eval.same_work_ceiling`` on the eval's own sample lengths.
It prints the seconds inside ``llama_decode`` of each and their ratios. The replay does the
eval's exact llama.cpp work; where the eval's decodes take longer, the difference is the
engine's surroundings (its other threads, the interpreter between decodes), not its layout;
where the same work takes longer than the replay, plain llama.cpp's replay of the lengths does
more work than the engine (its prompts are 100 tokens, its prefill goes next to the samples).
Timings, not assertions: run it alone; on a VM whose speed drifts, compare within a round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_eval  # noqa: E402
from backend_options import add_model_arguments  # noqa: E402
from ponder.backends.llamacpp import model  # noqa: E402

CALLS = ("decode", "copy", "clear", "resize")


class Recorder:
    """Wraps ``LlamaModel``'s calls into llama.cpp: records them (until ``recording`` is
    off), times the decodes, and keeps the arguments the model was made with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.decode_seconds = 0.0
        self.recording = True
        self.made_with: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self.original = {name: getattr(model.LlamaModel, name) for name in CALLS}
        self.original_init = model.LlamaModel.__init__

    def install(self) -> None:
        recorder = self
        for name in CALLS:
            call = self.original[name]

            def wrapped(self: Any, *args: Any, _call: Any = call, _name: str = name) -> Any:
                if recorder.recording:
                    if _name == "decode":
                        args = ([tuple(entry) for entry in args[0]],)
                    recorder.calls.append((_name, args))
                if _name != "decode":
                    return _call(self, *args)
                start = time.perf_counter()
                try:
                    return _call(self, *args)
                finally:
                    recorder.decode_seconds += time.perf_counter() - start

            setattr(model.LlamaModel, name, wrapped)

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            recorder.made_with = (args, kwargs)
            recorder.original_init(self, *args, **kwargs)

        model.LlamaModel.__init__ = init  # type: ignore[method-assign]

    def replay(self) -> float:
        """Seconds inside ``llama_decode`` replaying the recorded calls on a fresh model."""
        assert self.made_with is not None
        args, kwargs = self.made_with
        fresh = model.LlamaModel.__new__(model.LlamaModel)
        self.original_init(fresh, *args, **kwargs)
        spent = 0.0
        try:
            for name, call_args in self.calls:
                if name == "decode":
                    start = time.perf_counter()
                    rc = self.original[name](fresh, *call_args)
                    spent += time.perf_counter() - start
                    if rc != 0:
                        raise RuntimeError(f"llama_decode failed in the replay (code {rc})")
                else:
                    self.original[name](fresh, *call_args)
        finally:
            fresh.close()
        return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    add_model_arguments(parser)
    args = parser.parse_args()
    task = bench_eval.configure(args)
    recorder = Recorder()
    recorder.install()
    print(
        f"{args.problems} problems x {bench_eval.SETTING}, engine n_parallel 32; "
        "seconds inside llama_decode"
    )
    eval_vs_replay, same_vs_replay = [], []
    for k in range(args.rounds):
        recorder.decode_seconds = 0.0
        run = asyncio.run(bench_eval.concurrent(task, args.problems, None, 32))
        recorder.recording = False
        inside = recorder.decode_seconds
        replayed = recorder.replay()
        prompts = bench_eval.scaled([1] * args.problems, run.prompts)
        same = bench_eval.same_work_ceiling(run.lengths, prompts, 32, 100)
        eval_vs_replay.append(inside / replayed)
        same_vs_replay.append(same / replayed)
        print(
            f"round {k + 1}: eval {run.seconds:.1f} s, {inside:.1f} s inside llama_decode; "
            f"its calls replayed alone {replayed:.1f} s; plain llama.cpp's same work "
            f"{same:.1f} s; eval / replay {inside / replayed:.3f}, same work / replay "
            f"{same / replayed:.3f}",
            flush=True,
        )
    print(
        f"median over {args.rounds} rounds: the eval's decodes / the same calls alone "
        f"{statistics.median(eval_vs_replay):.3f}; plain same work / the engine's calls alone "
        f"{statistics.median(same_vs_replay):.3f}"
    )


if __name__ == "__main__":
    main()
