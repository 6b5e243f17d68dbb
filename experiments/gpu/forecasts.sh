#!/usr/bin/env bash
# Forecasts on a GPU (one H200-class GPU): the character-level GPT at widths 256..2048 (LR tuned
# at 256 over 9 log2 LRs, 2,000 steps, 3 seeds; width 2048 held out and predicted), and the LR
# sensitivity / attention-logit sweep at widths 256 and 512 over 11 LRs from 3e-4 to 3e-1,
# 1,000 steps, with and without qk-layernorm + z-loss (experiments.lab.forecasts --preset gpu).
# Usage: experiments/gpu/forecasts.sh OUT [DEVICE] [LIMIT_S] [--tiny]; OUT gets forecasts/, the
# log and results.tar.gz.  `OUT cpu 120 --tiny` is the CPU test (the quick preset).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?output folder}; DEVICE=${2:-cuda}; LIMIT=${3:-540}; TINY=${4:-}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -n "$TINY" ]; then ARGS=(--preset quick --workers 1); else ARGS=(--preset gpu --workers 6); fi
timeout "$LIMIT" python -m experiments.lab.forecasts "${ARGS[@]}" --device "$DEVICE" \
  --out "$OUT/forecasts" >"$OUT/forecasts.log" 2>&1
status=$?
# a timed-out sweep keeps its finished runs: analyse what there is
[ -f "$OUT/forecasts/summary.json" ] || python -m experiments.lab.forecasts "${ARGS[@]}" \
  --analyse --out "$OUT/forecasts" >>"$OUT/forecasts.log" 2>&1
# Adam's epsilon before it emerges (experiments.lab.forecasts_epsilon), same preset
timeout "$LIMIT" python -m experiments.lab.forecasts_epsilon "${ARGS[@]}" --device "$DEVICE" \
  --out "$OUT/forecasts/epsilon" >>"$OUT/forecasts.log" 2>&1 || status=$?
tar -czf "$OUT/results.tar.gz" -C "$OUT" forecasts forecasts.log
exit $status
