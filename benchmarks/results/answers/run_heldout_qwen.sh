#!/usr/bin/env bash
# Issue 32's abstention check on a model and tasks the reader was not written on:
# Qwen2.5-Coder-0.5B-Instruct (Q4_K_M; assemble it as benchmarks/results/tune/README.md says,
# path in $QWEN) on two reasoning-gym tasks in no corpus (count_bits, decimal_chain_sum), seed
# 3, 30 problems each: greedy and self-consistency n=4 at T=0.7 (300 samples). Then every
# sample is read again with the current reader, and a seeded random 100 of the samples that
# ended but gave no answer are printed for a person to judge (abstain-qwen.txt).
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${QWEN:?set QWEN to the assembled Qwen2.5-Coder-0.5B-Instruct GGUF}"
.venv/bin/ponder eval -m "$QWEN" --out benchmarks/results/answers/qwen-heldout -q --seed 3 \
  -a seed=3 \
  --limit 30 -t count_bits -t decimal_chain_sum \
  -s greedy:max_tokens=512 -s 'self_consistency:n=4,temperature=0.7,max_tokens=512'
.venv/bin/python benchmarks/answers_abstain.py benchmarks/results/answers/qwen-heldout \
  --reread --show 100 --seed 2 > benchmarks/results/answers/abstain-qwen.txt
