#!/usr/bin/env bash
# One call on one H200-class GPU, sized to a 15-minute device budget (about 8 minutes of work):
# three resumable sweeps side by side, each its own process group sharing the GPU, each stopped
# at LIMIT_S with its finished runs kept (every run is one line of runs.jsonl):
#   - forecasts item 1: LR tuned at width 64, muP and SP trained at widths 64..1024 for 1,000
#     steps, 3 seeds (widths 64..512 predict 1024)           -> forecasts_gpu_scale/
#   - forecasts item 3: LR sensitivity at width 256, SP/muP/u-muP, 21 LRs 3e-4..3e-1, 1,000 steps,
#     3 seeds, the plain recipe then qk-layernorm + z-loss   -> forecasts_gpu_sensitivity/
#   - horizon item 4: the late-training check at widths 32..512, 2,000 steps, coupled and
#     independent decay, 3 seeds                            -> horizon_late_gpu/
# The analyses run afterwards from the saved runs (no GPU needed).
# Usage: experiments/gpu/h200_slice.sh OUT [DEVICE] [LIMIT_S] [--tiny]; OUT gets the folders,
# the logs and results.tar.gz (what the device tool brings back).  `OUT cpu 300 --tiny` is the
# CPU test (quick presets, one worker each).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?output folder}; DEVICE=${2:-cuda}; LIMIT=${3:-480}; TINY=${4:-}
mkdir -p "$OUT/logs"
export PYTHONUNBUFFERED=1
if [ -n "$TINY" ]; then
  SCALE=(--preset quick --workers 1); SENS=(--preset quick --workers 1)
  LATE=(--size quick --workers 1)
else
  SCALE=(--preset gpu-scale --workers 4); SENS=(--preset gpu-sensitivity --workers 8)
  LATE=(--size gpu --workers 3)
fi
{ git rev-parse HEAD; git status --porcelain --untracked-files=no; } >"$OUT/logs/code.txt" 2>&1
timeout "$LIMIT" python -m experiments.lab.forecasts "${SCALE[@]}" --phase tune,scale \
  --device "$DEVICE" --out "$OUT/forecasts_gpu_scale" >"$OUT/logs/scale.log" 2>&1 &
timeout "$LIMIT" python -m experiments.lab.forecasts "${SENS[@]}" --phase sensitivity \
  --device "$DEVICE" --out "$OUT/forecasts_gpu_sensitivity" >"$OUT/logs/sensitivity.log" 2>&1 &
timeout "$LIMIT" python experiments/horizon_grid.py --late "${LATE[@]}" --device "$DEVICE" \
  --out "$OUT/horizon_late_gpu" >"$OUT/logs/late.log" 2>&1 &
wait
(command -v nvidia-smi >/dev/null && nvidia-smi) >"$OUT/logs/device.txt" 2>&1
python -c "import sys, torch; print(sys.version); print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())" >>"$OUT/logs/device.txt" 2>&1
wc -l "$OUT"/*/runs.jsonl "$OUT"/*/*/runs.jsonl 2>/dev/null
tail -n 2 "$OUT"/logs/*.log
tar -czf "$OUT/results.tar.gz" -C "$OUT" --exclude results.tar.gz .
echo "wrote $OUT/results.tar.gz"
