#!/usr/bin/env bash
# Aggregation strategies against self-consistency at matched computed tokens (issue 34), on
# the embedded model (SmolLM2-135M-Instruct): the development suite (seed 0, DEV_LIMIT problems
# a task) and two tasks none of these strategies was written on (gcd, leg_counting; seed 0,
# HELDOUT_LIMIT problems). The committed results: DEV_LIMIT=8 HELDOUT_LIMIT=6 (what this
# 2-core machine could run in one session; a store resumes, so larger limits add to it). Every setting at the default temperature (0.4) and max_tokens (256).
# debate's rows were run again alone after its fix (stop 42): its rows deleted from both stores,
# `ponder eval` with `-s debate` only, then `ponder report DIR --run 6` (dev-suite) and
# `--run 1` (heldout) to redraw the reports of the full runs.
# Self-consistency runs one pool of 32 (n = 1..32 estimated from it) as the curve the others
# are matched against. Then: benchmarks/matched_tokens.py DIR --pairs, and
# `ponder report DIR --compare A B` for each pair it prints.
set -euo pipefail
cd "$(dirname "$0")/../../.."
SETTINGS=(
  -s greedy
  -s 'self_consistency:n=1|2|4|8|16|32'
  -s 'fuse:n=8'
  -s moa
  -s debate
  -s 'self_verify:n=8'
  -s 'best_of_n:n=4,scorer=gen_verify(m=2)'
  -s 'best_of_n:n=4,scorer=tool_verify'
  -s 'plan_search:plans=6'
)
.venv/bin/ponder eval --out benchmarks/results/fusion/dev-suite -q --seed 0 \
  --limit "${DEV_LIMIT:-8}" "${SETTINGS[@]}"
if [ -z "${DEV_ONLY:-}" ]; then
  .venv/bin/ponder eval --out benchmarks/results/fusion/heldout -q --seed 0 \
    -t gcd -t leg_counting --limit "${HELDOUT_LIMIT:-6}" "${SETTINGS[@]}"
fi
.venv/bin/python benchmarks/matched_tokens.py benchmarks/results/fusion/dev-suite --pooled
.venv/bin/python benchmarks/matched_tokens.py benchmarks/results/fusion/heldout --pooled
