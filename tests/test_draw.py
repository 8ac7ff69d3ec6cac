"""The embedded engine's batched draw (``ponder.backends.llamacpp.draw``) on made-up logits:
the distribution it samples is softmax(logits / T), cut to the top k and the top-p nucleus as
llama.cpp's sampler chain cuts it, argmax is llama.cpp's, tokens of zero probability never
come out, odd vocabulary sizes and edge uniforms are handled, and splitting a step's rows
among threads changes no token."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.backends.llamacpp.draw import BLOCK, SPLIT_MIN, Draw, Drawer, draw_tokens


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    return p / p.sum()


@pytest.mark.parametrize("vocab", [7, BLOCK, 3 * BLOCK + 5])
def test_draws_follow_the_tempered_softmax(vocab: int) -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, vocab).astype(np.float32)
    temperature = 0.7
    # inverse transform sampling is exact: a grid of uniforms gives each token a share of
    # the grid equal to its probability, to within one grid step
    grid = (np.arange(20_000) + 0.5) / 20_000
    rows = np.repeat(logits[None, :], len(grid), axis=0)
    tokens = draw_tokens(rows, np.full(len(grid), temperature, np.float32), grid)
    counts = np.bincount(tokens, minlength=vocab) / len(grid)
    assert np.abs(counts - softmax(logits, temperature)).max() <= 1.5 / len(grid)


def test_each_draw_is_the_inverse_cdf() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 3, (64, 2 * BLOCK + 9)).astype(np.float32)
    temperatures = rng.uniform(0.2, 1.5, 64).astype(np.float32)
    uniforms = rng.random(64)
    got = draw_tokens(logits, temperatures, uniforms)
    for row in range(64):
        cdf = np.cumsum(softmax(logits[row], float(temperatures[row])))
        want = int(np.searchsorted(cdf, uniforms[row], side="right"))
        near_a_boundary = np.abs(cdf - uniforms[row]).min() < 1e-6  # float32 terms differ
        assert got[row] == want or near_a_boundary


def test_argmax_rows_take_the_first_largest_logit() -> None:
    logits = np.array([[0.0, 3.0, 3.0, 1.0], [5.0, -1.0, 5.0, 0.0]], dtype=np.float32)
    assert draw_tokens(logits, np.zeros(2, np.float32), np.zeros(2)) == [1, 0]


def test_mixed_rows_and_tokens_without_mass() -> None:
    vocab = 2 * BLOCK + 3
    logits = np.full((3, vocab), -np.inf, dtype=np.float32)
    logits[:, 5] = logits[:, BLOCK + 7] = 0.0  # two tokens, equally likely
    logits[2, 9] = 1.0
    temperatures = np.array([1.0, 1.0, 0.0], dtype=np.float32)
    for u in (0.0, 0.25, 0.4999, 0.5, 0.75, np.nextafter(1.0, 0.0)):
        tokens = draw_tokens(logits, temperatures, np.array([u, 1 - u if u else u, 0.0]))
        assert set(tokens[:2]) <= {5, BLOCK + 7}
        assert tokens[2] == 9
    assert draw_tokens(logits[:1], temperatures[:1], np.array([0.2]))[0] == 5
    assert draw_tokens(logits[:1], temperatures[:1], np.array([0.7]))[0] == BLOCK + 7


def test_nan_logits_do_not_crash() -> None:
    logits = np.full((1, 10), np.nan, dtype=np.float32)
    logits[0, 3] = 1.0
    assert draw_tokens(logits, np.ones(1, np.float32), np.array([0.5])) == [3]


def test_a_seeded_draw_is_reproducible() -> None:
    a, b = Draw.make(0.8, 11), Draw.make(0.8, 11)
    assert a.rng is not None and b.rng is not None
    assert [a.rng.random() for _ in range(3)] == [b.rng.random() for _ in range(3)]
    assert Draw.make(0.0, 11).rng is None


def truncated(logits: np.ndarray, temperature: float, k: int, p: float) -> np.ndarray:
    """llama.cpp's chain, temperature -> top_k -> top_p (min_keep 1) -> dist, written out
    plainly: the probability of every token, a full sort, no shortcut."""
    probs = softmax(logits, temperature)
    order = np.argsort(-probs, kind="stable")
    if 0 < k < len(order):
        order = order[:k]
    kept = probs[order] / probs[order].sum()
    if p < 1.0:
        cumulative = np.cumsum(kept)
        keep = int(np.flatnonzero(cumulative >= p)[0]) + 1 if (cumulative >= p).any() else len(kept)
        order = order[:keep]
    out = np.zeros_like(probs)
    out[order] = probs[order] / probs[order].sum()
    return out


@pytest.mark.parametrize(
    ("vocab", "k", "p"),
    [
        (3 * BLOCK + 5, 5, 1.0),  # top-k alone, through the block-maximum bound
        (3 * BLOCK + 5, 40, 0.9),  # top-k then top-p
        (3 * BLOCK + 5, 0, 0.8),  # top-p alone, widening past 64 tokens
        (300, 2 * BLOCK, 1.0),  # k past the number of blocks: a partition of the whole row
        (9, 4, 0.5),  # a vocabulary smaller than a block
    ],
)
def test_top_k_and_top_p_follow_llama_cpps_chain(vocab: int, k: int, p: float) -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 1.0, vocab).astype(np.float32)
    temperature = 0.9
    grid = (np.arange(20_000) + 0.5) / 20_000
    rows = np.repeat(logits[None, :], len(grid), axis=0)
    tokens = draw_tokens(
        rows,
        np.full(len(grid), temperature, np.float32),
        grid,
        np.full(len(grid), k),
        np.full(len(grid), p),
    )
    counts = np.bincount(tokens, minlength=vocab) / len(grid)
    want = truncated(logits, temperature, k, p)
    assert np.abs(counts - want).max() <= 1.5 / len(grid)
    assert set(np.flatnonzero(counts)) <= set(np.flatnonzero(want))


def test_top_k_keeps_exactly_the_k_largest_through_ties_and_blocks() -> None:
    vocab = 4 * BLOCK
    logits = np.full((1, vocab), -5.0, dtype=np.float32)
    best = [3, 10, BLOCK + 1, 3 * BLOCK + 9]  # two in one block, none in another
    logits[0, best] = [4.0, 4.0, 3.0, 2.0]
    grid = (np.arange(2_000) + 0.5) / 2_000
    rows = np.repeat(logits, len(grid), axis=0)
    ones = np.ones(len(grid), np.float32)
    tokens = draw_tokens(rows, ones, grid, np.full(len(grid), 4), None)
    assert set(tokens) == set(best)
    tokens = draw_tokens(rows, ones, grid, np.full(len(grid), 2), None)
    assert set(tokens) == {3, 10}


def test_top_p_keeps_at_least_one_token_and_a_near_certain_one_alone() -> None:
    logits = np.array([[0.0, 30.0, 1.0, -2.0]], dtype=np.float32)
    for u in (0.0, 0.5, np.nextafter(1.0, 0.0)):
        got = draw_tokens(logits, np.ones(1, np.float32), np.array([u]), None, np.array([0.5]))
        assert got == [1]


def test_rows_split_among_threads_draw_the_same_tokens() -> None:
    rng = np.random.default_rng(4)
    n, vocab = 24, 200_000
    assert n * vocab >= SPLIT_MIN  # past the size at which a step is split
    logits = rng.normal(0, 3, (n, vocab)).astype(np.float32)
    temperatures = rng.uniform(0.0, 1.2, n).astype(np.float32)
    temperatures[:3] = 0.0  # argmax rows among them
    uniforms = rng.random(n)
    top_k = np.where(np.arange(n) % 5 == 0, 20, 0)
    top_p = np.where(np.arange(n) % 7 == 0, 0.9, 1.0)
    one = Drawer(1).draw(logits, temperatures, uniforms, top_k, top_p)
    threaded = Drawer(3)
    try:
        assert threaded.draw(logits, temperatures, uniforms, top_k, top_p) == one
        assert threaded.draw(logits[:5], temperatures[:5], uniforms[:5]) == draw_tokens(
            logits[:5], temperatures[:5], uniforms[:5]
        )
    finally:
        threaded.close()
