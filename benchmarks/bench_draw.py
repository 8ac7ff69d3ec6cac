"""The embedded engine's draw over the three local families' vocabularies (issue 35): how
long one step's tokens take to draw, ponder's numpy draw against llama.cpp's native sampler
chain, side by side in one run.

For each vocabulary (SmolLM2 49,152; Qwen2.5 151,936; Gemma-3 262,144) and step width (8,
32 samples), on made-up logits (a peaked head of 50 tokens over a broad Gaussian tail), the
median over ``--repeats`` of:

- ``native``: llama.cpp's chain per sample (what ``llama_sampler_sample`` does: the row
  copied into a candidate array, here by numpy, then the chain applied: temperature and a
  seeded draw; with ``--top-k``/``--top-p`` those samplers between them);
- ``numpy, 1 thread``: ``draw.Drawer(1)``, the whole step at once;
- ``numpy, N threads``: ``draw.Drawer(N)`` (N = the usable cores), the step's rows in chunks
  shared among threads, as the engine runs it.

    .venv/bin/python benchmarks/bench_draw.py [--repeats 15] [--top-k 40 --top-p 0.95]

Timings, not assertions; run it alone.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time
from collections.abc import Callable

import numpy as np

from ponder.backends.llamacpp.draw import Drawer
from ponder.backends.llamacpp.threads import usable_cores

VOCABULARIES = {"SmolLM2-135M": 49_152, "Qwen2.5-0.5B": 151_936, "Gemma-3-270M": 262_144}
TEMPERATURE = 0.8


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def native_step(logits: np.ndarray, top_k: int, top_p: float, seed: int) -> Callable[[], list[int]]:
    """llama.cpp's chain on each row, through ``llama_sampler_apply`` on a candidate array
    filled from the row (``llama_sampler_sample``'s own steps, without a context)."""
    import llama_cpp as ll

    n, vocab = logits.shape
    chains = []
    for k in range(n):
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(TEMPERATURE))
        if top_k:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_k(top_k))
        if top_p < 1.0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(top_p, 1))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed + k))
        chains.append(chain)
    data = np.zeros(vocab, dtype=[("id", np.int32), ("logit", np.float32), ("p", np.float32)])
    ids = np.arange(vocab, dtype=np.int32)
    array = ll.llama_token_data_array(
        data=ctypes.cast(data.ctypes.data, ctypes.POINTER(ll.llama_token_data)),
        size=vocab,
        selected=-1,
        sorted=False,
    )

    def step() -> list[int]:
        tokens = []
        for k in range(n):
            data["id"] = ids
            data["logit"] = logits[k]
            data["p"] = 0.0
            array.size, array.selected, array.sorted = vocab, -1, False
            ll.llama_sampler_apply(chains[k], ctypes.byref(array))
            tokens.append(int(data["id"][array.selected]))
        return tokens

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--top-p", type=float, default=1.0)
    args = parser.parse_args()
    workers = usable_cores()
    rng = np.random.default_rng(0)
    print(
        f"temperature {TEMPERATURE}, top_k {args.top_k or 'off'}, top_p {args.top_p}; "
        f"median of {args.repeats} steps, ms a step; {workers} usable cores"
    )
    print(f"{'vocabulary':24s} {'width':>5s} {'native':>8s} {'numpy 1':>8s} {'numpy N':>8s}")
    for name, vocab in VOCABULARIES.items():
        for width in (8, 32):
            # a peaked head over a broad tail, as real logits are
            logits = rng.normal(-2.0, 3.0, (width, vocab)).astype(np.float32)
            logits[:, :50] += rng.normal(12.0, 3.0, (width, 50)).astype(np.float32)
            temperatures = np.full(width, TEMPERATURE, np.float32)
            uniforms = rng.random(width)
            top_k = np.full(width, args.top_k)
            top_p = np.full(width, args.top_p)
            one, many = Drawer(1), Drawer(workers)
            step = (logits, temperatures, uniforms, top_k, top_p)
            try:
                times = [
                    median_ms(native_step(logits, args.top_k, args.top_p, 1), args.repeats),
                    median_ms(lambda d=one, s=step: d.draw(*s), args.repeats),
                    median_ms(lambda d=many, s=step: d.draw(*s), args.repeats),
                ]
            finally:
                many.close()
            print(
                f"{name + f' ({vocab})':24s} {width:5d} "
                + " ".join(f"{t:8.1f}" for t in times)
                + f"   native / numpy N {times[0] / times[2]:.1f}x"
            )


if __name__ == "__main__":
    main()
