"""The embedded engine's batched draw (``ponder.backends.llamacpp.draw``) on made-up logits:
the distribution it samples is softmax(logits / T), cut to the top k and the top-p nucleus as
llama.cpp's sampler chain cuts it, argmax is llama.cpp's, tokens of zero probability never
come out, odd vocabulary sizes and edge uniforms are handled, and splitting a step's rows
among threads changes no token."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.backends.llamacpp import draw
from ponder.backends.llamacpp.draw import BLOCK, Draw, Drawer, draw_tokens


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    return p / p.sum()


def frequencies(logits: np.ndarray, temperature: float, n: int, seed: int) -> np.ndarray:
    """How often each token comes out of ``n`` draws from one row, each with a uniform and a
    generator of its own."""
    rng = np.random.default_rng(seed)
    batch = 500  # rows a call (a step is at most a few hundred wide)
    rows = np.repeat(logits[None, :], batch, axis=0)
    temperatures = np.full(batch, temperature, np.float32)
    tokens: list[int] = []
    for _ in range(n // batch):
        rngs = [np.random.default_rng(int(s)) for s in rng.integers(0, 2**63, batch)]
        tokens += draw_tokens(rows, temperatures, rng.random(batch), rngs=rngs)
    return np.bincount(tokens, minlength=len(logits)) / len(tokens)


def assert_follows(counts: np.ndarray, want: np.ndarray, n: int) -> None:
    """Every token's share within five standard errors of its probability (fixed seeds: the
    draws are the same on every run), and none drawn that has no probability."""
    assert np.all(np.abs(counts - want) <= 5 * np.sqrt(want * (1 - want) / n) + 1 / n)
    assert set(np.flatnonzero(counts)) <= set(np.flatnonzero(want))


@pytest.mark.parametrize(
    ("vocab", "spread"),
    [
        (7, 2.0),
        (BLOCK, 2.0),
        (3 * BLOCK + 5, 2.0),  # a head of a few dozen tokens, the rest from the envelope
        (3 * BLOCK + 5, 0.1),  # flat: every token in the head, drawn from every term
    ],
)
def test_draws_follow_the_tempered_softmax(vocab: int, spread: float) -> None:
    logits = np.random.default_rng(1).normal(0, spread, vocab).astype(np.float32)
    n = 20_000
    assert_follows(frequencies(logits, 0.7, n, seed=vocab), softmax(logits, 0.7), n)


def test_the_envelope_draws_tokens_outside_the_head_exactly() -> None:
    # 3 likely tokens and 20,000 unlikely ones holding about a quarter of the mass: the head
    # (within T ln V = 9.9 of the peak) is the 3, the rest come from the envelope's rounds
    vocab = 20_003
    logits = np.empty(vocab, np.float32)
    logits[:3] = [0.0, -0.5, -1.0]
    logits[3:] = np.random.default_rng(5).uniform(-10.6, -9.95, vocab - 3)
    want = softmax(logits, 1.0)
    assert 0.2 < want[3:].sum() < 0.5
    n = 20_000
    counts = frequencies(logits, 1.0, n, seed=6)
    assert_follows(counts[:3], want[:3], n)
    tail, p_tail = counts[3:].sum(), want[3:].sum()
    assert abs(tail - p_tail) <= 5 * np.sqrt(p_tail * (1 - p_tail) / n)
    # the tail's draws are spread as its terms are: its upper half by value against the rest
    upper = logits[3:] > -10.3
    share, p_share = counts[3:][upper].sum() / tail, want[3:][upper].sum() / p_tail
    assert abs(share - p_share) <= 5 * np.sqrt(p_share * (1 - p_share) / (n * p_tail))


def test_a_draw_is_a_function_of_its_inputs() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 3, (64, 2 * BLOCK + 9)).astype(np.float32)
    temperatures = rng.uniform(0.2, 1.5, 64).astype(np.float32)
    uniforms = rng.random(64)
    first = draw_tokens(logits, temperatures, uniforms)
    assert draw_tokens(logits, temperatures, uniforms) == first
    seeded = [np.random.default_rng(row) for row in range(64)]
    again = [np.random.default_rng(row) for row in range(64)]
    assert draw_tokens(logits, temperatures, uniforms, rngs=seeded) == draw_tokens(
        logits, temperatures, uniforms, rngs=again
    )


def test_the_first_round_inverts_the_uniform_over_the_head() -> None:
    # three tokens hold nearly all the mass; the envelope over the rest weighs V / V = 1, so a
    # uniform below H / (H + 1) (H: the head's mass, the largest term 1) picks from the head
    # by inverse transform, token order kept
    logits = np.full((1, 4 * BLOCK), -40.0, dtype=np.float32)
    head = [7, BLOCK + 1, 3 * BLOCK]
    logits[0, head] = [1.0, 2.0, 0.0]
    terms = np.exp(logits[0, head].astype(np.float64) - 2.0)
    mass = terms.sum()
    cdf = np.cumsum(terms)
    for u in (0.0, 0.1, 0.3, 0.45, 0.55):
        assert u < mass / (mass + 1)
        want = head[int(np.searchsorted(cdf, u * (mass + 1), side="right"))]
        assert draw_tokens(logits, np.ones(1, np.float32), np.array([u]))[0] == want


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
        (300, 200, 1.0),  # k past the number of blocks: a partition of the whole row
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


def test_rows_split_among_threads_draw_the_same_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    n, vocab = 24, 200_000
    monkeypatch.setattr(draw, "SPLIT_MIN", n * vocab // 2)  # past the size a step is split at
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
