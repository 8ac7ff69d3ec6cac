#!/usr/bin/env bash
# `ponder tune` held out, on a model ponder was not tuned for (issue 33):
# Qwen2.5-Coder-0.5B-Instruct Q4_K_M (assemble it: see README.md here), path in $QWEN.
# 1. tune on seed 0 of four reasoning-gym tasks (20 problems each): the store, the plan;
# 2. seed 1 (30 problems a task, tasks with signal): greedy, self-consistency n=1..8 from one
#    pool at the plan's probe temperature, and auto at two budgets, the plan found by the
#    model's identity under $PONDER_PLANS (nothing names the plan file);
# 3. the paired comparisons (`ponder report --compare`) in compare.txt.
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${QWEN:?set QWEN to the assembled Qwen2.5-Coder-0.5B-Instruct GGUF}"
export PONDER_PLANS=benchmarks/results/tune/plans
.venv/bin/ponder tune -m "$QWEN" -t products -t letter_counting -t chain_sum \
  -t basic_arithmetic --limit 20 --seed 0 --out benchmarks/results/tune/qwen-seed0 \
  --plan-out benchmarks/results/tune/qwen-plan.json -q | tee benchmarks/results/tune/tune.txt
# -a seed=1: the dataset seed the committed store was made with (a run's --seed is now
# strided; reasoning-gym's seed 1 shares 19 of its first 20 problems with seed 0: see README)
.venv/bin/ponder eval -m "$QWEN" --out benchmarks/results/tune/qwen-seed1 -q --seed 1 \
  -a seed=1 --limit 30 -t letter_counting -t chain_sum -t basic_arithmetic \
  -s greedy:max_tokens=512 \
  -s 'self_consistency:n=1|2|3|4|5|6|7|8,temperature=0.4,max_tokens=512' \
  -s "auto:budget=${BUDGETS:-450|850}"
