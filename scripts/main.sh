#!/usr/bin/env bash
# Set up, then run the main job on the embedded model (no network, no GPU): `ponder eval` on
# the development suite (3 reasoning-gym tasks x 20 problems; greedy, self-consistency with
# n = 1, 2, 4, 8 from one pool of 8 samples, adaptive_consistency, best_of_n with the
# arithmetic verifier, and auto at two budgets). Prints the table; writes results/eval/
# report.md, report.html, summary.json and the plots. Re-running resumes from
# results/eval/results.sqlite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ponder eval --out results/eval "$@"
