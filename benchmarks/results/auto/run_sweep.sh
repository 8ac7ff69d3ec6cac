#!/usr/bin/env bash
# The stores `ponder plan` reads: the development suite (3 reasoning-gym tasks x 20 problems)
# with greedy and self-consistency at five temperatures, n = 1, 2, 4, 8 from one pool of 8
# samples each, on the embedded SmolLM2-135M. SEED=0 builds the plan; SEED=1 is held out.
set -euo pipefail
cd "$(dirname "$0")/../../.."
SEED=${SEED:-0}
OUT=${1:-benchmarks/results/auto/sweep-seed$SEED}
.venv/bin/ponder eval --out "$OUT" -q --seed "$SEED" \
  -s greedy \
  -s "self_consistency:n=1|2|4|8,temperature=${TEMPERATURES:-0.2|0.4|0.6|0.8|1.0}"
