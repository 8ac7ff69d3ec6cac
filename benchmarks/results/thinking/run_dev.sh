#!/usr/bin/env bash
# Sequential scaling on the development suite (3 reasoning-gym tasks x 20 problems) with the
# embedded SmolLM2-135M (scaffolded: it does not think by itself), T=0.8 for every strategy,
# next to self-consistency at matched tokens.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-benchmarks/results/thinking/dev-suite}
.venv/bin/ponder eval --out "$OUT" -q \
  -s 'self_consistency:n=1|2|4|8' \
  -s 'budget_forcing:max_thinking=32|64|128|256,answer_tokens=64' \
  -s 'budget_forcing:max_thinking=128,extend=2,answer_tokens=64' \
  -s 'budget_forcing:max_thinking=128,wrap_up=true,answer_tokens=64' \
  -s 'no_thinking:n=1|8,answer_tokens=64' \
  -s 'think_twice:rounds=2|4' \
  -s 'self_refine:rounds=2' \
  -s 'self_refine:rounds=2,scorer=arithmetic' \
  -s 'self_consistency:n=4,sampler=budget_forcing(max_thinking=64,answer_tokens=64)'
