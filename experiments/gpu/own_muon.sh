#!/usr/bin/env bash
# Second GPU run (one H200-class GPU, about 8 minutes): the issue-sized grids that a 2-core CPU
# cannot carry, each in its own process so that they share the GPU and one failure stops nothing:
#   - own models (Hugging Face GPT-2/Llama, CNN, nn.MultiheadAttention transformer) at widths
#     128-1024, 3 seeds, SP/muP/u-muP x Adam/AdamW          -> own_models/
#   - Muon and Lion coordinate checks at MLP widths 128-2048, GPT 128-1024, 3 seeds    -> muon_lion/
#   - the GPT LR sweep with Adam, Muon (both scalings, both tables) and Lion, 200 steps -> muon_lion_transfer/
#   - the transformer coordinate check at widths 128-8192 (bf16 autocast)              -> gpu/
# Usage: experiments/gpu/own_muon.sh OUT [DEVICE] [LIMIT_S]; OUT gets every result folder, the
# logs and results.tar.gz (what the device tool brings back).  `OUT cpu 60 --tiny` is the CPU test.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?output folder}; DEVICE=${2:-cuda}; LIMIT=${3:-420}; TINY=${4:-}
mkdir -p "$OUT/logs"
export PYTHONUNBUFFERED=1
py() { timeout "$LIMIT" python -m "$@"; }
if [ -n "$TINY" ]; then
  OWN=(--quick); MUON=(--size cpu --seeds 1 --only mlp_muon_lowrank); SWEEP=(--models mlp --seeds 1 --workers 1)
  GPUALL=(--tiny --skip-sweep); OWN_GROUPS=("cnn"); MERGE=(--size cpu --seeds 1)
else
  OWN=(--widths 128,256,512,1024 --seeds 3 --steps 3); MUON=(--size issue --seeds 3)
  SWEEP=(--models transformer --gpu-size --seeds 2 --workers 6); GPUALL=(--skip-sweep)
  OWN_GROUPS=("hf:gpt2,hf:gpt2-untied" "hf:llama" "hf:llama-tied" "cnn,mha"); MERGE=(--size issue --seeds 3)
fi
for g in "${OWN_GROUPS[@]}"; do
  py experiments.lab.own_models "${OWN[@]}" --models "$g" --no-mup --device "$DEVICE" \
    --out "$OUT/own_models" >"$OUT/logs/own_${g//[:,]/_}.log" 2>&1 &
done
if [ -n "$TINY" ]; then
  py experiments.lab.muon_lion_coordcheck "${MUON[@]}" --device "$DEVICE" \
    --out "$OUT/muon_lion" >"$OUT/logs/muon.log" 2>&1 &
else
  for pair in "mlp_muon_fullrank mlp_muon_lowrank" "mlp_muon_rms_fullrank mlp_lion" "gpt_muon" \
      "gpt_lion" "mlp_muon_fresh100" "mlp_lion_fresh100" "gpt_muon_fresh100" "gpt_lion_fresh100"; do
    # shellcheck disable=SC2086
    py experiments.lab.muon_lion_coordcheck "${MUON[@]}" --only $pair --device "$DEVICE" \
      --out "$OUT/muon_lion" >"$OUT/logs/muon_${pair// /_}.log" 2>&1 &
  done
fi
py experiments.lab.muon_lion_transfer "${SWEEP[@]}" --device "$DEVICE" \
  --out "$OUT/muon_lion_transfer" >"$OUT/logs/sweep.log" 2>&1 &
py experiments.lab.gpu_all "${GPUALL[@]}" --device "$DEVICE" --out "$OUT/gpu" \
  >"$OUT/logs/gpu_all.log" 2>&1 &
wait
python -m experiments.lab.own_models "${OWN[@]}" --merge-only --device "$DEVICE" \
  --out "$OUT/own_models" >>"$OUT/logs/merge.log" 2>&1
python -m experiments.lab.muon_lion_coordcheck --merge-only --device "$DEVICE" \
  "${MERGE[@]}" --out "$OUT/muon_lion" >>"$OUT/logs/merge.log" 2>&1
(command -v nvidia-smi >/dev/null && nvidia-smi) >"$OUT/logs/device.txt" 2>&1
python -c "import sys, torch; print(sys.version); print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())" >>"$OUT/logs/device.txt" 2>&1
tail -n 3 "$OUT"/logs/*.log
tar -czf "$OUT.tar.gz" -C "$(dirname "$OUT")" "$(basename "$OUT")"
echo "wrote $OUT.tar.gz"
