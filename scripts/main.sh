#!/usr/bin/env bash
# Set up, then run the main job on the embedded model (no network, no GPU): `ponder eval` on
# the development suite (3 reasoning-gym tasks x 20 problems; greedy and self-consistency with
# n = 1, 2, 4, 8 from one pool of 8 samples). Prints the table; writes results/eval/report.md,
# summary.json and the plots. Re-running resumes from results/eval/results.sqlite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ponder eval --out results/eval "$@"
