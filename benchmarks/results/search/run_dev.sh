#!/usr/bin/env bash
# Step-level search against best_of_n and self_consistency on the development suite
# (3 reasoning-gym tasks x 20 problems), embedded SmolLM2-135M, T=0.8 for every strategy.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-benchmarks/results/search/dev-suite}
S='scorer=arithmetic,delimiter=\n,max_steps=4,step_tokens=64,max_tokens=256'
.venv/bin/ponder eval --out "$OUT" -q \
  -s 'self_consistency:n=4|8|16' \
  -s 'best_of_n:n=8|16,scorer=arithmetic' \
  -s 'best_of_n:n=8,scorer=judge' \
  -s "beam_search:n=8,beam_width=4,$S" \
  -s "dvts:n=8,beam_width=4,$S" \
  -s "particle_filter:n=8,$S" \
  -s "mcts:iterations=8,width=3,$S" \
  -s "best_first:width=3,max_expansions=8,$S" \
  -s "beam_search:n=8,beam_width=4,${S/arithmetic/judge}"
