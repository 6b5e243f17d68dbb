"""Bit-for-bit repeatable CPU runs: one fixed torch thread count and deterministic kernels."""

from __future__ import annotations


def reproducible(threads: int = 1) -> None:
    """Make a CPU experiment repeat bit for bit: a fixed torch thread count (a matmul's reduction
    order, hence its rounding, depends on how many threads split it) and deterministic kernels.
    Every draw is already seeded (torch generators, parametrize's seed)."""
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
