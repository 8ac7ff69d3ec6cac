"""The embedded engine's draw over the three local families' vocabularies (issue 35): how
long one step's tokens take to draw, ponder's numpy draw against llama.cpp's native sampler
chain, side by side in one run.

For each vocabulary (SmolLM2 49,152; Qwen2.5 151,936; Gemma-3 262,144) and step width (8,
32 samples), on made-up logits (a peaked head of 50 tokens over a broad Gaussian tail) or,
with ``--model``, on real ones (the rows a model gives while it samples five fixed prompts at
T = 0.8, a step made of 8 or 32 of them), the median over ``--repeats`` of:

- ``native``: llama.cpp's chain per sample (what ``llama_sampler_sample`` does: the row
  copied into a candidate array, here by numpy, then the chain applied: temperature and a
  seeded draw; with ``--top-k``/``--top-p`` those samplers between them);
- ``every term`` (temperature sampling only): the draw that exponentiates every token of
  every row (``draw._draw_every_term``, what plain temperature draws did before the head and
  envelope draw, and what it falls back to for flat rows), one thread;
- ``numpy, 1 thread``: ``draw.Drawer(1)``, the whole step at once;
- ``numpy, N threads``: ``draw.Drawer(N)`` (N = the usable cores), the step's rows in chunks
  shared among threads, as the engine runs it.

    .venv/bin/python benchmarks/bench_draw.py [--repeats 15] [--top-k 40 --top-p 0.95]
        [--model PATH.gguf]

Timings, not assertions; run it alone.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time
from collections.abc import Callable

import numpy as np

from ponder.backends.llamacpp import draw
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


PROMPTS = [
    "What is 7 * 8? Answer:",
    "Question: Janet has 3 apples and buys 5 more. How many apples does she have?\nAnswer:",
    "def fib(n):\n",
    "The capital of France is",
    "Compute 17 + 25 - 9 + 14 step by step.",
]


def real_rows(path: str, steps: int = 60) -> np.ndarray:
    """The logits rows a model gives while sampling each of ``PROMPTS`` at T = 0.8 for up to
    ``steps`` tokens (one sequence at a time, the prompt's raw text, no chat template)."""
    from ponder.backends.llamacpp.config import EngineConfig
    from ponder.backends.llamacpp.loading import llama
    from ponder.backends.llamacpp.model import LlamaModel

    model = LlamaModel(path, EngineConfig(n_ctx=512))
    rng = np.random.default_rng(0)
    rows = []
    try:
        for prompt in PROMPTS:
            tokens = model.tokenize(prompt, add_special=True, parse_special=False)
            model.clear(0)
            model.decode([(t, i, 0, i == len(tokens) - 1) for i, t in enumerate(tokens)])
            for pos in range(len(tokens), len(tokens) + steps):
                ptr = llama().llama_get_logits_ith(model._ctx, -1)
                row = np.ctypeslib.as_array(ptr, shape=(model.n_vocab,)).copy()
                rows.append(row)
                p = np.exp((row.astype(np.float64) - row.max()) / TEMPERATURE)
                token = int(rng.choice(len(p), p=p / p.sum()))
                if model.is_end(token):
                    break
                model.decode([(token, pos, 0, True)])
    finally:
        model.close()
    return np.array(rows, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--model", default=None, help="real logits from this GGUF's sampling")
    args = parser.parse_args()
    workers = usable_cores()
    rng = np.random.default_rng(0)
    print(
        f"temperature {TEMPERATURE}, top_k {args.top_k or 'off'}, top_p {args.top_p}; "
        f"median of {args.repeats} steps, ms a step; {workers} usable cores"
    )
    plain = not args.top_k and args.top_p >= 1.0
    print(
        f"{'vocabulary':24s} {'width':>5s} {'native':>8s} {'every':>8s} {'numpy 1':>8s} "
        f"{'numpy N':>8s}"
    )
    real = real_rows(args.model) if args.model else None
    sources = (
        {f"{args.model.rsplit('/', 1)[-1][:16]} real": real.shape[1]}
        if real is not None
        else VOCABULARIES
    )
    for name, vocab in sources.items():
        for width in (8, 32):
            if real is not None:  # steps of `width` rows, taken across the collected rows
                pick = rng.choice(len(real), width, replace=False)
                logits = np.ascontiguousarray(real[pick])
            else:  # a peaked head over a broad tail, as real logits are
                logits = rng.normal(-2.0, 3.0, (width, vocab)).astype(np.float32)
                logits[:, :50] += rng.normal(12.0, 3.0, (width, 50)).astype(np.float32)
            temperatures = np.full(width, TEMPERATURE, np.float32)
            uniforms = rng.random(width)
            top_k = np.full(width, args.top_k)
            top_p = np.full(width, args.top_p)
            one, many = Drawer(1), Drawer(workers)
            step = (logits, temperatures, uniforms, top_k, top_p)
            scratch = np.empty_like(logits)
            every = np.arange(width)
            try:
                times = [
                    median_ms(native_step(logits, args.top_k, args.top_p, 1), args.repeats),
                    median_ms(
                        lambda s=step, e=every, x=scratch: draw._draw_every_term(
                            s[0], e, s[1], s[2], x
                        ),
                        args.repeats,
                    )
                    if plain
                    else float("nan"),
                    median_ms(lambda d=one, s=step: d.draw(*s), args.repeats),
                    median_ms(lambda d=many, s=step: d.draw(*s), args.repeats),
                ]
            finally:
                many.close()
            print(
                f"{name + f' ({vocab})':24s} {width:5d} "
                + " ".join(f"{t:8.1f}" for t in times)
                + f"   native / numpy N {times[0] / times[3]:.1f}x"
                + (f", every term / numpy N {times[1] / times[3]:.1f}x" if plain else "")
            )


if __name__ == "__main__":
    main()
