"""Drawing the next token of many samples at once, from one decode's logits, in numpy.

llama.cpp's native sampler (``llama_sampler_sample``) handles one sample per call: it copies
the whole vocabulary into a candidate array, scales it, exponentiates it and walks it (about
0.45 ms per sample for SmolLM2's 49,152 tokens on this project's 2-core machine, several
times that for Qwen's 151,936 or Gemma-3's 262,144, and with top-k or top-p a sort on top).
At 32 samples a step that is ~10% of an eval's time, spent while llama.cpp's threads wait.
Every sampler ponder offers (argmax, temperature, top-k, top-p, in vLLM's and the OpenAI
API's order) is drawn here instead, for all of a step's samples in a few array operations:

- argmax: the first index of the largest logit (llama.cpp's greedy sampler picks the same);
- temperature T: token i with probability exp((l_i - max) / T) / sum (the float32 terms
  llama.cpp's temperature and distribution samplers compute), drawn exactly without
  exponentiating the whole vocabulary. Only the *head*, the tokens within ``T ln V`` of the
  row's largest logit, is exponentiated (on real rows of the three local families at T =
  0.8, a few hundred tokens of 49k-262k); every other token's term is below the bound
  ``b = exp(-ln V) = 1/V``. Rejection against an envelope (von Neumann): with one uniform,
  the head's exact mass H is chosen with probability H / (H + V b), and then a token by
  inverse transform over the head; otherwise a token uniformly from the whole vocabulary,
  kept with probability term / b if it lies outside the head, and the draw starts again if
  not. Each token comes out with probability term / sum, exactly; since H >= 1 (the largest
  logit's term) and V b = 1, a round is accepted with probability at least 1/2, and
  further rounds take further uniforms from the sample's own generator. A row whose head
  is a large part of its vocabulary (a flat distribution, a high temperature) or that has
  non-finite logits is drawn the plain way: every term, the target found among cumulative
  block sums, then inside its block. A token whose term is 0 is never drawn.
- top-k (then top-p): the k largest logits found without sorting the vocabulary: a block
  of 256 tokens whose largest logit is below the k-th largest block maximum cannot hold
  one of them, so only the tokens at or above that bound (a few hundred, typically) are
  partitioned; the kept tokens are then drawn from in descending order, as llama.cpp's
  chain leaves them;
- top-p alone: the tempered softmax over the whole vocabulary, then the smallest set of
  the most likely tokens whose mass reaches p (llama.cpp's rule, at least one token kept),
  found by partitioning the 64, 512, 4,096, ... most likely until their mass reaches p,
  so only that set is sorted.

Each sample draws from its own ``numpy`` PCG64 generator seeded with the sample's seed, so a
seeded sample is reproducible whatever else shares its batch (the draws differ from
llama.cpp's own seeded stream). What is left is a pass or two over each row (its largest
logit, the head's positions): a ``Drawer`` with workers splits a step's rows between threads
(numpy releases the GIL inside its array operations, and llama.cpp's own threads are idle
while the next batch waits for its tokens) and keeps its scratch buffer between steps, so no
step pays for fresh pages.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: tokens per block of the two-level search and of the top-k bound
BLOCK = 256
#: at least this many logits (rows x vocabulary) before a step's rows are split among threads.
#: With the head draw a step is a pass or two over its rows plus Python per row, and on this
#: project's 2-core machine two threads gained little or lost at 32 rows (bench_draw.py,
#: two threads against one: real Gemma-3 rows 7.3 against 6.4 ms a step, made-up ones 6.7
#: against 4.5, real Qwen2.5 rows 1.8 against 2.0); wider steps (64 x 262k and up) are still
#: split, unmeasured
SPLIT_MIN = 1 << 24
#: logits per chunk of rows taken through all the passes at once, a job for a worker (4 MB:
#: chunks of 1 MB cost more in per-job overhead than they saved in cache misses)
CHUNK = 1 << 20
#: a row whose head (tokens within T ln V of its largest logit) exceeds 1/HEAD_SHARE of the
#: vocabulary is drawn from every term: past that, gathering the head costs more than it saves
HEAD_SHARE = 4


@dataclasses.dataclass(slots=True)
class Draw:
    """How one sample draws its tokens: argmax (``rng`` None), or temperature sampling,
    with top-k (None: off) and top-p (1: off) applied to the tempered distribution."""

    temperature: float
    rng: np.random.Generator | None
    top_k: int | None = None
    top_p: float = 1.0

    @classmethod
    def make(
        cls, temperature: float, seed: int, top_k: int | None = None, top_p: float = 1.0
    ) -> Draw:
        if temperature <= 0.0:
            return cls(0.0, None)
        return cls(
            temperature,
            np.random.Generator(np.random.PCG64(seed)),
            top_k if top_k is not None and top_k > 0 else None,
            top_p,
        )


def draw_tokens(
    logits: npt.NDArray[np.float32],
    temperatures: npt.NDArray[np.float32],
    uniforms: npt.NDArray[np.float64],
    top_k: npt.NDArray[np.int64] | None = None,
    top_p: npt.NDArray[np.float64] | None = None,
    rngs: Sequence[np.random.Generator | None] | None = None,
) -> list[int]:
    """One token per row of ``logits`` (rows x vocabulary): argmax where the temperature is
    0, else a draw from softmax(logits / temperature), cut to the row's ``top_k`` largest
    (0: no cut) and then its ``top_p`` nucleus (1: none), from the row's uniform in
    ``uniforms`` (in [0, 1)) and, where a plain draw's first round is rejected, more from
    the row's generator in ``rngs`` (one seeded by the row's uniform where none is given).
    On the calling thread; ``Drawer`` splits a step among threads."""
    return Drawer().draw(logits, temperatures, uniforms, top_k, top_p, rngs)


class Drawer:
    """``draw_tokens`` with a scratch buffer kept between steps and ``workers`` threads that
    share a step's rows (one: all on the calling thread)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._scratch = np.empty(0, dtype=np.float32)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def draw(
        self,
        logits: npt.NDArray[np.float32],
        temperatures: npt.NDArray[np.float32],
        uniforms: npt.NDArray[np.float64],
        top_k: npt.NDArray[np.int64] | None = None,
        top_p: npt.NDArray[np.float64] | None = None,
        rngs: Sequence[np.random.Generator | None] | None = None,
    ) -> list[int]:
        n, vocab = logits.shape
        tokens = [0] * n
        for row in np.flatnonzero(temperatures <= 0):
            tokens[row] = int(np.argmax(logits[row]))
        k = np.zeros(n, np.int64) if top_k is None else np.asarray(top_k, np.int64)
        p = np.ones(n) if top_p is None else np.asarray(top_p, np.float64)
        hot = temperatures > 0
        cut = hot & (((k > 0) & (k < vocab)) | (p < 1.0))
        plain = np.flatnonzero(hot & ~cut)
        if not plain.size and not cut.any():
            return tokens
        if self._scratch.size < plain.size * vocab:
            self._scratch = np.empty(plain.size * vocab, dtype=np.float32)
        scratch = self._scratch[: plain.size * vocab].reshape(plain.size, vocab)
        size = max(1, CHUNK // vocab)  # rows a chunk: it stays in cache through every pass
        chunks = [np.arange(a, min(a + size, plain.size)) for a in range(0, plain.size, size)]

        def run(chunk: npt.NDArray[np.intp]) -> None:
            rows = plain[chunk]
            x = scratch[chunk[0] : chunk[-1] + 1]
            chosen = _draw_plain(logits, rows, temperatures, uniforms, rngs, x)
            for at, token in zip(rows.tolist(), chosen, strict=True):
                tokens[at] = token

        threaded = self.workers > 1 and len(chunks) > 1 and plain.size * vocab >= SPLIT_MIN
        if threaded:  # the chunks to the workers, the cut rows here meanwhile
            if self._pool is None or self._pool_size < self.workers:
                self.close()
                self._pool_size = self.workers
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.workers, thread_name_prefix="ponder-draw"
                )
            pending = [self._pool.submit(run, chunk) for chunk in chunks]
        else:
            for chunk in chunks:
                run(chunk)
        # rows cut to a top-k or nucleus: small arrays past one pass over the row, in Python
        # more than in numpy's loops, so threads would only contend for the GIL
        for row in np.flatnonzero(cut):
            tokens[row] = _draw_cut(
                logits[row], float(temperatures[row]), int(k[row]), float(p[row]), uniforms[row]
            )
        if threaded:
            for future in pending:
                future.result()
        return tokens


def _draw_plain(
    logits: npt.NDArray[np.float32],
    rows: npt.NDArray[np.intp],
    temperatures: npt.NDArray[np.float32],
    uniforms: npt.NDArray[np.float64],
    rngs: Sequence[np.random.Generator | None] | None,
    x: npt.NDArray[np.float32],
) -> list[int]:
    """Temperature draws for ``rows`` of ``logits``: the head and the envelope where the head
    is small, every term (``x``, rows x vocabulary, as scratch) for the other rows."""
    vocab = logits.shape[1]
    if rows[-1] - rows[0] == len(rows) - 1:  # consecutive rows: a view, no copy
        peaks = logits[rows[0] : rows[-1] + 1].max(axis=1)
    else:
        peaks = np.array([logits[row].max() for row in rows], dtype=np.float32)
    chosen = [0] * len(rows)
    rest: list[int] = []
    for i, row in enumerate(rows.tolist()):
        rng = rngs[row] if rngs is not None else None
        token = _draw_head(logits[row], peaks[i], temperatures[row], uniforms[row], rng, vocab)
        if token is None:
            rest.append(i)
        else:
            chosen[i] = token
    if rest:
        at = np.array(rest)
        for i, token in zip(
            rest,
            _draw_every_term(logits, rows[at], temperatures, uniforms, x[: len(rest)]),
            strict=True,
        ):
            chosen[i] = token
    return chosen


def _draw_head(
    row: npt.NDArray[np.float32],
    peak: np.float32,
    temperature: np.float32,
    u: float,
    rng: np.random.Generator | None,
    vocab: int,
) -> int | None:
    """One exact draw from softmax(row / temperature) that exponentiates only the head (the
    module's docstring); None where the row is better drawn from every term."""
    if not np.isfinite(peak):
        return None
    scale = np.float32(1.0) / temperature
    cut = np.float32(-math.log(vocab)) if vocab > 1 else np.float32(-1.0)
    floor = peak + cut / scale  # at or above it: the head
    head = np.flatnonzero(row >= floor)
    if head.size * HEAD_SHARE > vocab:
        return None
    terms = np.exp((row[head] - peak) * scale, dtype=np.float32)
    cumulative = np.cumsum(terms, dtype=np.float64)
    mass = float(cumulative[-1])
    # every token outside the head has a term at most ``bound``: its logit is below the floor
    bound = float(np.exp(np.float32((floor - peak) * scale)))
    envelope = vocab * bound
    if not (math.isfinite(mass) and mass > 0):
        return None
    while True:
        target = u * (mass + envelope)
        if target < mass:
            at = int(np.searchsorted(cumulative, target, side="right"))
            if at >= head.size:  # rounding at u close to 1: the last token with mass
                at = int(np.flatnonzero(terms > 0)[-1])
            return int(head[at])
        if rng is None:  # made from the row's own uniform: draws stay a function of the input
            rng = np.random.Generator(np.random.PCG64(int(u * (1 << 53))))
        token = min(int((target - mass) / bound), vocab - 1)
        value = row[token]
        term = float(np.exp(np.float32((value - peak) * scale)))
        if value < floor and rng.random() * bound < term:
            return token
        u = rng.random()


def _draw_every_term(
    logits: npt.NDArray[np.float32],
    rows: npt.NDArray[np.intp],
    temperatures: npt.NDArray[np.float32],
    uniforms: npt.NDArray[np.float64],
    x: npt.NDArray[np.float32],
) -> list[int]:
    """Temperature draws for ``rows`` of ``logits`` by inverse transform over every term,
    ``x`` (rows x vocabulary) as scratch."""
    n, vocab = x.shape
    np.take(logits, rows, axis=0, out=x)
    x -= x.max(axis=1, keepdims=True)
    x *= (1.0 / temperatures[rows]).astype(np.float32)[:, None]
    np.exp(x, out=x)
    starts = np.arange(0, vocab, BLOCK)
    # block sums in float32 (256 terms of at most 1 each), their running total in float64
    cumulative = np.cumsum(np.add.reduceat(x, starts, axis=1), axis=1, dtype=np.float64)
    total = cumulative[:, -1]
    sound = np.isfinite(total) & (total > 0)  # NaN or infinite logits: nothing sound to draw
    target = np.where(sound, total, 0.0) * uniforms[rows]
    # the block: the first whose cumulative sum exceeds the target
    block = (cumulative <= target[:, None]).sum(axis=1)
    for k in np.flatnonzero(sound & (block >= len(starts))):  # rounding at u close to 1
        block[k] = np.flatnonzero(np.diff(cumulative[k], prepend=0.0) > 0)[-1]
    before = np.where(block > 0, cumulative[np.arange(n), block - 1], 0.0)
    # inside it: the first token whose running sum exceeds what is left of the target
    columns = starts[block][:, None] + np.arange(BLOCK)
    inside = columns < vocab
    terms = np.where(inside, x[np.arange(n)[:, None], np.minimum(columns, vocab - 1)], 0.0)
    j = (np.cumsum(terms, axis=1, dtype=np.float64) <= (target - before)[:, None]).sum(axis=1)
    for k in np.flatnonzero(sound & (j >= BLOCK)):  # block sums and running sums round differently
        j[k] = np.flatnonzero(terms[k] > 0)[-1]
    chosen = starts[block] + j
    return [
        int(chosen[i]) if sound[i] else _argmax_of_numbers(logits[row])
        for i, row in enumerate(rows)
    ]


def _draw_cut(
    logits: npt.NDArray[np.float32], temperature: float, top_k: int, top_p: float, u: float
) -> int:
    """One draw from a row's tempered distribution cut to its ``top_k`` largest logits (0:
    all) and then to its ``top_p`` nucleus, the kept tokens in descending order."""
    vocab = len(logits)
    peak = float(logits.max())
    if not math.isfinite(peak):
        return _argmax_of_numbers(logits)
    if 0 < top_k < vocab:
        kept = _top_k(logits, top_k)
        values = logits[kept]
        order = np.lexsort((kept, -values))  # descending, ties by token id
        kept, values = kept[order], values[order]
        terms = np.exp((values - peak) * np.float32(1.0 / temperature), dtype=np.float32)
        terms = terms.astype(np.float64)
        if top_p < 1.0:
            keep = _nucleus_size(terms, top_p * terms.sum())
            kept, terms = kept[:keep], terms[:keep]
    else:  # top-p over the whole vocabulary
        x = np.exp((logits - peak) * np.float32(1.0 / temperature), dtype=np.float32)
        mass = top_p * float(x.sum(dtype=np.float64))
        width = 64
        while True:  # the nucleus lies inside the `width` most likely once they reach p
            kept = np.arange(vocab) if width >= vocab else np.argpartition(-x, width)[:width]
            if width >= vocab or float(x[kept].sum(dtype=np.float64)) >= mass:
                break
            width *= 8
        order = np.lexsort((kept, -x[kept]))
        kept = kept[order]
        terms = x[kept].astype(np.float64)
        keep = _nucleus_size(terms, mass)
        kept, terms = kept[:keep], terms[:keep]
    cumulative = np.cumsum(terms)
    total = cumulative[-1]
    if not total > 0:
        return int(kept[0])
    at = int(np.searchsorted(cumulative, u * total, side="right"))
    if at >= len(kept):  # rounding at u close to 1: the last token with mass
        at = int(np.flatnonzero(terms > 0)[-1])
    return int(kept[at])


def _top_k(logits: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """The indices of the ``k`` largest logits, unordered, partitioning only the tokens at or
    above the k-th largest block maximum (k blocks each hold a token that large, so every
    one of the k largest is at least that large)."""
    vocab = len(logits)
    starts = np.arange(0, vocab, BLOCK)
    if k < len(starts):
        maxima = np.maximum.reduceat(logits, starts)
        bound = np.partition(maxima, len(maxima) - k)[len(maxima) - k]
        pool = np.flatnonzero(logits >= bound)
    else:
        pool = np.arange(vocab)
    if len(pool) <= k:
        return pool
    return pool[np.argpartition(-logits[pool], k - 1)[:k]]


def _nucleus_size(terms: npt.NDArray[np.float64], mass: float) -> int:
    """How many of ``terms`` (descending) llama.cpp's top-p keeps: up to and including the
    first whose running sum reaches ``mass``, at least one."""
    reached = np.flatnonzero(np.cumsum(terms) >= mass)
    return int(reached[0]) + 1 if reached.size else len(terms)


def _argmax_of_numbers(logits: npt.NDArray[np.float32]) -> int:
    """The largest logit that is a number (NaN rows)."""
    return int(np.argmax(np.nan_to_num(logits, nan=-np.inf)))


__all__ = ["BLOCK", "Draw", "Drawer", "draw_tokens"]
