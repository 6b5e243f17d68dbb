#!/usr/bin/env bash
# The horizon x batch x width grid on one GPU: the character-level GPT (pydoc text), muP, AdamW,
# widths 256..2048, batches 16..128 sequences, warmup-stable-decay runs with decay branches at
# horizons 1250..20000 steps, log2 LR -11..-5, 3 seeds (624 runs; hours, not minutes: run it
# where a GPU is lent for long), then the late-training check at widths 32..512 over 2000 steps,
# then the weight-decay timescale sweep at width 256 (batches 16/64, horizons 2.5k..20k, log2 λ
# -8..2; weight_decay_timescale_gpu; it takes only --workers/--device, not the extra arguments).
# Resumable: rerun to continue.  Results: experiments/results/horizon_grid_gpu, horizon_late_gpu.
# Extra arguments go to both, e.g. --workers 8 --device cuda:0 ; tiny CPU version:
#   python experiments/horizon_grid.py --quick
set -euo pipefail
cd "$(dirname "$0")/../.."
python experiments/horizon_grid.py --size gpu --device cuda --workers 8 "$@"
python experiments/horizon_grid.py --late --size gpu --device cuda --workers 8 "$@"
python experiments/weight_decay_timescale.py --size gpu --device cuda --workers 8
