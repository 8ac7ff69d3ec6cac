#!/usr/bin/env bash
# A 70-token greedy solve with n_threads 0 (one per core) and 1, idle and with every core busy.
set -euo pipefail
q="Write a short poem about the sea."
for t in 0 1; do /usr/bin/time -f "idle n_threads=$t %e s" .venv/bin/ponder solve "$q" -s greedy --max-tokens 70 -B n_threads=$t >/dev/null; done
for i in $(seq "$(nproc)"); do (timeout 60 sh -c 'while :; do :; done') & done
sleep 1
for t in 0 1; do /usr/bin/time -f "loaded n_threads=$t %e s" .venv/bin/ponder solve "$q" -s greedy --max-tokens 70 -B n_threads=$t >/dev/null; done
pkill -f "while :; do :; done"; wait
