"""moa, debate and model_switch with three local model families as real proposers (issue 34):
single-model against cross-family, on one development task and one held-out task.

The default model is Qwen2.5-Coder-0.5B-Instruct (the strongest of the three here); the others
join as named models: ``smol`` (the embedded SmolLM2-135M-Instruct) and ``gemma`` (Gemma-3-270M,
a base model without a chat template: plain completion, stopped at a blank line). Every
setting at the defaults (temperature 0.4, max_tokens 256):

- greedy, and self-consistency on Qwen (one pool of 16: n = 1..16), the curve the others are
  matched against at computed tokens (``benchmarks/matched_tokens.py``);
- ``moa`` with three Qwen proposers (single model) and with one proposer of each family
  (cross-family), both aggregated by Qwen, two layers;
- ``debate`` with three Qwen agents and with one agent of each family, two rounds, a vote;
- ``model_switch`` over the three families in turn (Qwen first), 4 samples a model, against
  self-consistency on Qwen at the same tokens.
- ``--single smol``: the same single-model settings on SmolLM2 too (self-consistency as
  ``model_switch`` over SmolLM2 alone, n = 1..16; ``moa`` and ``debate`` of three SmolLM2s),
  for a task where SmolLM2, not Qwen, is the stronger single model (basic_arithmetic).

    QWEN=/path/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf GEMMA=/path/gemma-3-270m-q4_k_m.gguf \\
      .venv/bin/python benchmarks/results/fusion/cross_family.py [--limit 8]

The models are assembled from wheels (see benchmarks/results/answers/README.md); they are not
project dependencies. Writes ``benchmarks/results/fusion/cross-family/``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ponder.backends.llamacpp import LlamaCppBackend
from ponder.eval import evaluate
from ponder.tasks import make_task
from ponder.tasks.suite import DEV_SUITE

SETTINGS = [
    "greedy",
    "self_consistency:n=1|2|4|8|16",
    "moa",
    "moa:proposers=[default,smol,gemma]",
    "debate",
    "debate:agents=[default,smol,gemma]",
    "model_switch:n=4,models=[default,smol,gemma]",
]
#: the single-model settings on SmolLM2 (``--single smol``)
SINGLE_SMOL = [
    "model_switch:n=1|2|4|8|16,models=[smol]",
    "moa:proposers=[smol,smol,smol],aggregator=smol",
    "debate:agents=[smol,smol,smol]",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--tasks", default="chain_sum,gcd")
    parser.add_argument("--out", default="benchmarks/results/fusion/cross-family")
    parser.add_argument("--single", choices=["smol"], help="single-model settings on SmolLM2 too")
    parser.add_argument(
        "--suite-args",
        action="store_true",
        help="the development suite's arguments for the tasks it defines (basic_arithmetic: "
        "two one-digit terms, + and -), not reasoning-gym's defaults",
    )
    args = parser.parse_args()
    qwen, gemma = os.environ.get("QWEN"), os.environ.get("GEMMA")
    if not qwen or not gemma or not Path(qwen).is_file() or not Path(gemma).is_file():
        sys.exit("set QWEN and GEMMA to the assembled GGUF files (see the docstring)")
    default = LlamaCppBackend(qwen)
    named = {
        "smol": LlamaCppBackend(None),
        "gemma": LlamaCppBackend(gemma, chat_template="completion", stop=["\n\n"]),
    }
    suite = dict(DEV_SUITE) if args.suite_args else {}
    tasks = [make_task(name, suite.get(name, {})) for name in args.tasks.split(",")]
    outcome = evaluate(
        tasks,
        SETTINGS + (SINGLE_SMOL if args.single == "smol" else []),
        out=args.out,
        backend=default,
        named_models=named,
        seed=0,
        limit=args.limit,
        progress=sys.stderr,
        command=" ".join(sys.argv),
    )
    print(outcome.table)


if __name__ == "__main__":
    main()
