#!/usr/bin/env bash
# Each strategy against the self-consistency setting whose pooled computed tokens per problem
# are nearest at or above its own (the largest pool where it spends more), on every problem of
# a store's tasks together: `ponder report DIR --compare A B`, the "all tasks" row of each.
# Usage: bash benchmarks/results/fusion/pooled.sh DIR 'A=B' ...
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir=$1
shift
for pair in "$@"; do
  a=${pair%%=>*}
  b=${pair##*=>}
  .venv/bin/ponder report "$dir" --compare "$a" "$b" | grep -E "^all tasks" || true
done
