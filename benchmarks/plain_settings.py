"""Plain llama.cpp's same work (``bench_eval.same_work_ceiling``) at its own context settings
and at the engine's (32 samples and 8 prompt slots: 40 KV streams of 2048 cells, against
plain's 33 of 512), alternating, on the same made-up sample lengths (128 samples, half of
them 256 tokens long). Whether the engine's context layout alone costs decode time.

    .venv/bin/python benchmarks/plain_settings.py MODEL.gguf [ROUNDS]

Timings, not assertions; run it alone.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_eval  # noqa: E402

ENGINE_STREAMS_EXTRA = 8  # the engine's default prompt slots beside its 32 samples
ENGINE_CELLS = 2048  # the engine's default n_ctx per stream


def like_engine(self: Any, width: int, prompt: int, scratch: bool = False) -> None:
    """``PlainLlama.__init__`` with the engine's stream count and cells per stream."""
    import llama_cpp as ll

    self.ll, self.prompt, self.width = ll, prompt, width
    self.streams = width + ENGINE_STREAMS_EXTRA
    ll.llama_backend_init()
    ll.llama_log_set(bench_eval._QUIET, None)
    assert bench_eval.MODEL is not None
    self.model = ll.llama_model_load_from_file(
        bench_eval.MODEL.encode(), ll.llama_model_default_params()
    )
    params = ll.llama_context_default_params()
    params.n_batch, params.n_ubatch = 512, 512
    params.n_ctx, params.n_seq_max = ENGINE_CELLS * self.streams, self.streams
    params.kv_unified, params.flash_attn_type = False, 1
    params.no_perf = True
    params.n_threads = params.n_threads_batch = os.cpu_count() or 1
    self.ctx = ll.llama_init_from_model(self.model, params)
    self.mem = ll.llama_get_memory(self.ctx)
    self.batch = ll.llama_batch_init(512, 0, 1)


def main() -> None:
    bench_eval.MODEL = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rng = random.Random(0)
    lengths = [rng.choice([rng.randint(5, 60), 256]) for _ in range(128)]
    prompts = [13] * 16
    plain_init = bench_eval.PlainLlama.__init__
    for r in range(rounds):
        for name, init in (("plain settings", plain_init), ("engine settings", like_engine)):
            bench_eval.PlainLlama.__init__ = init  # type: ignore[method-assign]
            seconds = bench_eval.same_work_ceiling(lengths, prompts, 32, 20)
            print(f"round {r + 1} {name}: {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
