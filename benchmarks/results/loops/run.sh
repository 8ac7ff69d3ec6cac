#!/usr/bin/env bash
# The loop stop (loop_repeats) measured on the development suite (seed 0, 3 tasks x 20
# problems): greedy, self-consistency n=8 (n = 1, 2, 4 estimated from its pool) and
# adaptive_consistency at n=8, each with the stop off (0) and at 3, 4 and 6 repeats; the
# default temperature (0.4). Then the same at T=0.8, where loops are more frequent.
set -euo pipefail
cd "$(dirname "$0")/../../.."
.venv/bin/ponder eval --out benchmarks/results/loops/dev -q --seed 0 \
  -s 'greedy:loop_repeats=0|3|4|6' \
  -s 'self_consistency:n=1|2|4|8,loop_repeats=0|3|4|6' \
  -s 'adaptive_consistency:n=8,loop_repeats=0|3|4|6'
.venv/bin/ponder eval --out benchmarks/results/loops/dev-t08 -q --seed 0 \
  -s 'self_consistency:n=1|2|4|8,temperature=0.8,loop_repeats=0|4'
# The template rule (loop_template: number runs taken as one token), measured against the
# stop off with the batched numpy draw (a fresh store: the draw changed the seeded samples)
.venv/bin/ponder eval --out benchmarks/results/loops/template -q --seed 0 \
  -s 'greedy:loop_template=0|6' \
  -s 'self_consistency:n=1|2|4|8,loop_template=0|6' \
  -s 'adaptive_consistency:n=8,loop_template=0|6' \
  -s 'self_consistency:n=1|2|4|8,temperature=0.8,loop_template=0|6'
# ... and on three tasks it was not designed on (20 problems each)
.venv/bin/ponder eval --out benchmarks/results/loops/template-heldout -q --seed 0 \
  -t syllogism -t letter_counting -t gsm_symbolic --limit 20 \
  -s 'greedy:loop_template=0|6' -s 'self_consistency:n=1|2|4|8,loop_template=0|6'
