#!/usr/bin/env bash
# Set up, then run the main job on the embedded model (no network, no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ponder solve "What is 7 * 8? Give the final answer as a number." \
    --strategy self_consistency -n 8 --max-tokens 128 --seed 0 "$@"
