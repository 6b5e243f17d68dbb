"""Experiment logic, importable: each module has ``main(argv=None)``; experiments/ holds thin scripts.

Every experiment writes to :func:`experiments.lab.paths.results_dir` (the committed
``experiments/results/`` unless ``$ABCPARAM_RESULTS`` points elsewhere; the main job points it at
the ignored ``experiments/results/_latest``) and calls :func:`reproducible` first.
"""

from __future__ import annotations


def reproducible(threads: int = 1) -> None:
    """Make a CPU experiment repeat bit for bit: a fixed torch thread count (a matmul's reduction
    order, hence its rounding, depends on how many threads split it) and deterministic kernels.
    Every draw is already seeded (torch generators, parametrize's seed)."""
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
