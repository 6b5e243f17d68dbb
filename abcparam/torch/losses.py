"""Output-logit regularisation: z-loss, the fix for output-logit divergence (Wortsman et al. 2023,
Sec. 3.2, following PaLM): add ``coefficient * log^2 Z`` with ``Z = sum_j exp(y_j)``, which keeps the
softmax normaliser near 1 so the logits cannot drift together towards large negative values.

``with_z_loss(loss, 1e-4)`` wraps any ``loss(outputs, targets)`` (the coordinate check's and the
sweeps' loss) so every model gets it, not only the built-in GPT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .. import validate

LossFn = Callable[[Any, torch.Tensor], torch.Tensor]


def log_partition(logits: torch.Tensor) -> torch.Tensor:
    """log Z = logsumexp of the output logits over the last (vocabulary) dimension."""
    return torch.logsumexp(logits.float(), dim=-1)


def z_loss(logits: torch.Tensor, coefficient: float = 1e-4) -> torch.Tensor:
    """``coefficient * mean(log^2 Z)`` over all positions (Wortsman et al. 2023, Sec. 3.2)."""
    return coefficient * log_partition(logits).pow(2).mean()


def with_z_loss(loss: LossFn | None = None, coefficient: float = 1e-4) -> LossFn:
    """``loss`` (default: token cross-entropy over the last dimension) plus the z-loss of its
    outputs; a coefficient of 0 returns ``loss`` itself."""
    coefficient = validate.positive_float(coefficient, "z_loss", allow_zero=True)
    base = loss or cross_entropy
    if coefficient == 0:
        return base

    def total(outputs, targets: torch.Tensor) -> torch.Tensor:
        logits = getattr(outputs, "logits", outputs)  # Hugging Face outputs carry .logits
        return base(outputs, targets) + z_loss(logits, coefficient)

    return total


def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the last dimension for any leading shape (tokens or classes)."""
    return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))
