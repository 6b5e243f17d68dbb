#!/usr/bin/env bash
# One call on one H200-class GPU (about 8 minutes of work), the two GPU gaps left after the CPU
# runs, side by side, each stopped at LIMIT_S with its finished runs kept (resumable):
#   - horizon: the batch-8 width series carried past 256 (preset gpu-width: widths 512, then 2048,
#     and 1024 in parallel; mu-P base width 64, log2 LR -9..-6, 3 seeds, horizons 250..2000), a
#     folder per width -> horizon_grid_gpu_w512/, _w1024/, _w2048/.  TOPICS (optional) names the
#     pydoc_data/topics.py of the CPU runs' Python, so the GPU trains on the same text.
#   - forecasts item 3: the width-256 LR sensitivity resumed from OUT/forecasts_gpu_sensitivity
#     (copy the saved runs there first; it keeps the device Python's own text, as before).
# Usage: experiments/gpu/h200_width_slice.sh OUT [DEVICE] [LIMIT_S] [TOPICS] [--tiny]
# With the device tool, keep OUT outside its $OUT and set PACK=$OUT/results.tar.gz: the tool
# brings back only a limited number of files, so everything travels as that one archive (a first
# call that left its files loose lost all but one folder).  Each sweep runs in its own session and
# whatever is left of it at the deadline is killed, so the archive is written in time.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?output folder}; DEVICE=${2:-cuda}; LIMIT=${3:-450}; TOPICS=${4:-}; TINY=${5:-}
mkdir -p "$OUT/logs"
export PYTHONUNBUFFERED=1
deadline=$((SECONDS + LIMIT))
export ABCPARAM_SLICE="$OUT:$$"; SLICE=$ABCPARAM_SLICE  # marks this call's processes
if [ -n "$TINY" ]; then
  GRID=(--size quick --base-width 16 --workers 1); SENS=(--preset quick --workers 1)
  WIDTHS=(16 32 24)
else
  GRID=(--size gpu-width --workers 4); SENS=(--preset gpu-sensitivity --workers 3)
  WIDTHS=(512 1024 2048)
fi
{ git rev-parse HEAD; git status --porcelain --untracked-files=no; } >"$OUT/logs/code.txt" 2>&1
width() {  # one width's folder, stopped at the deadline
  local w=$1 left=$((deadline - SECONDS))
  [ "$left" -gt 20 ] || return 0
  ABCPARAM_PYDOC_TOPICS=$TOPICS setsid timeout "$left" python experiments/horizon_grid.py "${GRID[@]}" \
    --widths "$w" --device "$DEVICE" --out "$OUT/horizon_grid_gpu_w$w" >"$OUT/logs/w$w.log" 2>&1
}
{ width "${WIDTHS[0]}"; width "${WIDTHS[2]}"; } &
width "${WIDTHS[1]}" &
setsid timeout "$LIMIT" python -m experiments.lab.forecasts "${SENS[@]}" --phase sensitivity \
  --device "$DEVICE" --out "$OUT/forecasts_gpu_sensitivity" >"$OUT/logs/sensitivity.log" 2>&1 &
while [ -n "$(jobs -rp)" ] && [ "$SECONDS" -lt "$((deadline + 15))" ]; do sleep 2; done
# anything still alive (a pool worker its killed driver left behind) goes with its session
for pid in $(pgrep -f "experiments[/.]lab[.]forecasts|horizon_grid[.]py" || true); do
  grep -qzx "ABCPARAM_SLICE=$SLICE" "/proc/$pid/environ" 2>/dev/null || continue  # not ours
  kill -9 -- "-$(ps -o sid= -p "$pid" | tr -d ' ')" 2>/dev/null
done
wait
(command -v nvidia-smi >/dev/null && nvidia-smi) >"$OUT/logs/device.txt" 2>&1
python -c "import sys, torch; print(sys.version); print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())" >>"$OUT/logs/device.txt" 2>&1
wc -l "$OUT"/*/runs.jsonl "$OUT"/*/*/runs.jsonl 2>/dev/null
tail -n 2 "$OUT"/logs/*.log
PACK=${PACK:-$OUT/results.tar.gz}
tar -czf "$PACK" -C "$OUT" --exclude results.tar.gz .
echo "wrote $PACK"
