"""The embedded engine's batched draw (``ponder.backends.llamacpp.draw``) on made-up logits:
the distribution it samples is softmax(logits / T), argmax is llama.cpp's, tokens of zero
probability never come out, and odd vocabulary sizes and edge uniforms are handled."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.backends.llamacpp.draw import BLOCK, Draw, draw_tokens


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
