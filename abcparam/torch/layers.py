"""Torch layers that carry an abc forward multiplier ``n^-a`` (Everett et al. 2024's W = n^-a w).

The multiplier is a plain float attribute set by :func:`abcparam.torch.parametrize`; at the base
width every multiplier is 1, so the model is exactly the one the user tuned (TP-V, muTransfer).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn


@runtime_checkable
class ResidualBranch(Protocol):
    """A residual block: a module whose branch output is scaled by ``branch_multiplier``
    (L^-alpha, set by parametrize(); TP-VI Sec. 6.3, CompleteP Sec. 3)."""

    branch_multiplier: float


class ScaledLinear(nn.Linear):
    """``y = multiplier * (x @ W^T) + bias_multiplier * b``; ``abc_kind`` names its layer kind."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = False, kind: str | None = None
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.multiplier = 1.0
        self.bias_multiplier = 1.0
        self.abc_kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight) * self.multiplier
        if self.bias is not None:
            y = y + self.bias * self.bias_multiplier
        return y


class ScaledEmbedding(nn.Embedding):
    """Token embedding with a forward multiplier (fan-in fixed: an "embedding" kind)."""

    def __init__(self, num_embeddings: int, dim: int, kind: str = "embedding") -> None:
        super().__init__(num_embeddings, dim)
        self.multiplier = 1.0
        self.abc_kind = kind

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return super().forward(idx) * self.multiplier


class ScaledLayerNorm(nn.Module):
    """LayerNorm whose gain ("norm" kind) and bias ("bias" kind) carry multipliers."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.multiplier = 1.0
        self.bias_multiplier = 1.0
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return y * (self.weight * self.multiplier) + self.bias * self.bias_multiplier


class WeightMultiplier(nn.Module):
    """weight -> m * weight (torch parametrize), for modules that are not abcparam's own; with
    ``rows``/``factor`` the first ``rows`` rows get ``m * factor`` (MultiheadAttention's query)."""

    def __init__(self, m: float, rows: int = 0, factor: float = 1.0) -> None:
        super().__init__()
        self.m, self.rows, self.factor = m, rows, factor

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not self.rows or self.factor == 1.0:
            return w * self.m
        return torch.cat([w[: self.rows] * (self.m * self.factor), w[self.rows :] * self.m])
