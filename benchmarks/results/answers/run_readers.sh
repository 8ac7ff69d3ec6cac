#!/usr/bin/env bash
# The three readers (reader=rules|model|hybrid: ponder.runtime.reader) on the development
# suite (embedded SmolLM2-135M-Instruct, seed 0, 20 problems a task) and on two tasks the
# rules were not written on (gcd, leg_counting: seed 0, 20 problems): accuracy, SC@8's vote
# counts, the read role's tokens per sample, and how each sample was read (report section
# "How answers were read"). Same seeds, so each reader reads the same samples.
set -euo pipefail
cd "$(dirname "$0")/../../.."
SETTINGS=(-s 'greedy:reader=rules|model|hybrid' -s 'self_consistency:n=8,reader=rules|model|hybrid')
.venv/bin/ponder eval --out benchmarks/results/answers/readers-dev -q --seed 0 "${SETTINGS[@]}"
.venv/bin/ponder eval --out benchmarks/results/answers/readers-heldout -q --seed 0 \
  -t gcd -t leg_counting --limit 20 "${SETTINGS[@]}"
