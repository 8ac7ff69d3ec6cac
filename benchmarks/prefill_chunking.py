"""Does llama.cpp give the same logits for a prompt however its prefill is split?

A prefix-cache hit prefills only the part of a prompt after the cached prefix, so the same
prompt reaches the model in one ``llama_decode`` call or in several, depending on what was
cached. This decodes one 65-token judge-style prompt on the embedded model (a KV stream per
sequence, as the engine runs it) in several splits and prints the largest difference of the
last position's logits from the one-call decode, with flash attention on (the engine's default)
and off. No ponder code is involved.

Found on the 2-core machine: llama.cpp's CPU kernels are not invariant to the split.
- With flash attention on, every split into chunks under 64 tokens agrees bit for bit, and the
  one call of 65 and the split 64 + 1 differ from them by up to 0.6 in the logits.
- With flash attention off, the splits 30 + rest and rest + 5 agree with the one call, but one
  token at a time and 64 + 1 differ by up to 0.7.
So for a prompt long enough to be split differently, the same seed can give other tokens
depending on what the prefix cache held. Sampled tokens decode one per step either way.

    .venv/bin/python benchmarks/prefill_chunking.py
"""

from __future__ import annotations

import os
from typing import Any

import llama_cpp as ll
import numpy as np

from ponder.backends.llamacpp import default_model_path

PROMPT = (
    "You are checking a proposed solution to a problem.\n\nProblem:\nWhat is 12 times 7?\n\n"
    "Proposed solution:\n12 times 7 is 84. The answer is 84.\n\n"
    "Is the proposed solution correct? Answer with one word: Yes or No."
)


def decode(ctx: Any, batch: Any, tokens: list[int], chunks: list[int], seq: int) -> np.ndarray:
    """Decode ``tokens`` into sequence ``seq``, one ``llama_decode`` per chunk; the logits of
    the last position."""
    pos, n = 0, len(tokens)
    for size in chunks:
        for i in range(size):
            batch.token[i], batch.pos[i] = tokens[pos + i], pos + i
            batch.n_seq_id[i], batch.seq_id[i][0] = 1, seq
            batch.logits[i] = pos + i == n - 1
        batch.n_tokens = size
        if ll.llama_decode(ctx, batch) != 0:
            raise SystemExit("llama_decode failed")
        pos += size
    n_vocab = ll.llama_vocab_n_tokens(ll.llama_model_get_vocab(ll.llama_get_model(ctx)))
    return np.ctypeslib.as_array(ll.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).copy()


def main() -> None:
    ll.llama_backend_init()
    model = ll.llama_model_load_from_file(
        str(default_model_path()).encode(), ll.llama_model_default_params()
    )
    vocab = ll.llama_model_get_vocab(model)
    text = PROMPT.encode()
    buffer = (ll.llama_token * 512)()
    n = ll.llama_tokenize(vocab, text, len(text), buffer, 512, True, True)
    tokens = list(buffer[:n])
    splits = [
        ("one call again", [n]),
        ("30 + rest", [30, n - 30]),
        ("rest + 5", [n - 5, 5]),
        ("one at a time", [1] * n),
        ("64 + 1", [64, 1]),
    ]
    print(f"prompt: {n} tokens; largest logit difference from the one-call decode")
    for flash in (1, 0):
        params = ll.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = 512 * 8, 512, 512
        params.n_seq_max, params.kv_unified, params.flash_attn_type = 8, False, flash
        params.n_threads = params.n_threads_batch = os.cpu_count() or 1
        ctx = ll.llama_init_from_model(model, params)
        batch = ll.llama_batch_init(512, 0, 1)

        try:
            whole = decode(ctx, batch, tokens, [n], 0)
            print(f"flash attention {'on' if flash else 'off'}:")
            for seq, (label, chunks) in enumerate(splits, start=1):
                diff = float(np.abs(decode(ctx, batch, tokens, chunks, seq) - whole).max())
                print(f"  {label:15s} {diff:.4f}")
        finally:
            ll.llama_batch_free(batch)
            ll.llama_free(ctx)
    ll.llama_model_free(model)


if __name__ == "__main__":
    main()
