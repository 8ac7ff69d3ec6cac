#!/usr/bin/env bash
# s_star and plan_search on HumanEval against self-consistency with behaviour votes (issue 34),
# on Qwen2.5-Coder-0.5B-Instruct (the coder of the three local families; SmolLM2-135M passes
# almost nothing). Every setting at temperature 0.4 and max_tokens 512 (HumanEval's programs
# run longer than the 256 default); self-consistency as one pool of 16 (n = 1..16), the curve
# at computed tokens.
#   QWEN=/path/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf bash benchmarks/results/fusion/run_humaneval.sh
# LIMIT problems (the first of HumanEval; 6 committed in humaneval/), or IDS: the problems
# named (humaneval's ids= argument), into OUT. The problems the coder fails greedily
# (humaneval-failing/, from humaneval-greedy.txt's list):
#   IDS=0,9,10,17,32,33,38,39,41,50,59,62 OUT=benchmarks/results/fusion/humaneval-failing \
#     QWEN=... bash benchmarks/results/fusion/run_humaneval.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${QWEN:?set QWEN to the assembled GGUF (benchmarks/results/answers/README.md says how)}"
OUT=${OUT:-benchmarks/results/fusion/humaneval}
if [ -n "${IDS:-}" ]; then
  SELECT=(-a "ids=$IDS")
else
  SELECT=(--limit "${LIMIT:-6}")
fi
.venv/bin/ponder eval --out "$OUT" -q --seed 0 -t humaneval "${SELECT[@]}" -m "$QWEN" \
  -s 'greedy:max_tokens=512' \
  -s 'self_consistency:n=1|2|4|8|16,max_tokens=512' \
  -s 's_star:max_tokens=512' \
  -s 'plan_search:max_tokens=512'
.venv/bin/python benchmarks/matched_tokens.py "$OUT"
