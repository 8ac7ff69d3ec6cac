#!/usr/bin/env bash
# Step-level search against best_of_n and self_consistency on two held-out reasoning-gym
# tasks (not used to tune anything): leg_counting (1-2 kinds of animal, at most 3 each: the
# sums and products the arithmetic checker can check) and gcd (numbers up to 40), 20 problems
# each, embedded SmolLM2-135M, T=0.8 for every strategy.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-benchmarks/results/search/heldout}
S='scorer=arithmetic,delimiter=\n,max_steps=4,step_tokens=64,max_tokens=256'
.venv/bin/ponder eval --out "$OUT" -q --limit 20 \
  -t leg_counting -a leg_counting.min_animals=1 -a leg_counting.max_animals=2 \
  -a leg_counting.max_instances=3 \
  -t gcd -a gcd.max_value=40 \
  -s 'self_consistency:n=4|8|16' \
  -s 'best_of_n:n=8,scorer=arithmetic' \
  -s "beam_search:n=8,beam_width=4,$S" \
  -s "beam_search:n=8,beam_width=4,final=vote,$S" \
  -s "particle_filter:n=8,$S" \
  -s "particle_filter:n=8,final=vote,$S" \
  -s "mcts:iterations=8,width=3,$S" \
  -s "beam_search:n=8,beam_width=4,${S/arithmetic/judge}"
