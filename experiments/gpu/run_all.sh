#!/usr/bin/env bash
# One GPU run (about 10 minutes on one H200-class GPU): transformer coordinate checks at widths
# 128..8192 (SP, muP, u-muP; bf16 autocast) and the LR-transfer sweep at widths 256..4096.
# Results and plots: experiments/results/gpu/.  Extra arguments go to the Python module, e.g.
#   experiments/gpu/run_all.sh --device cuda:1      or      experiments/gpu/run_all.sh --tiny --device cpu
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m experiments.lab.gpu_all "$@"
