"""Optimizers torch lacks, and the per-layer param groups that carry the abc learning rates.

- :class:`AdamAtan2`: Everett et al. 2024, App. "Adam-atan2" (Table C4):
  ``theta <- theta - lr * a * atan2(m_hat, b * sqrt(v_hat))``, defaults a = 4/pi ~ 1.27, b = 1.
  Bounded, invariant to rescaling the gradient, no epsilon.
- Adafactor: ``torch.optim.Adafactor`` already implements parameter-scaled updates
  (step = max(eps2, RMS(theta)) * min(lr, 1/sqrt(t)) * normalised gradient), which is the engine's
  update model (k = a + b + c) as long as eps2 (1e-3) stays below the parameter's RMS and
  lr < 1/sqrt(t); it is reused rather than rewritten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class AdamAtan2(torch.optim.Optimizer):
    """Adam with ``atan2(m_hat, b sqrt(v_hat))`` in place of ``m_hat / (sqrt(v_hat) + eps)``."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        a: float = 4 / math.pi,
        b: float = 1.0,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or not 0 <= betas[0] < 1 or not 0 <= betas[1] < 1:
            raise ValueError(f"invalid lr {lr} or betas {betas}: need lr >= 0, 0 <= beta < 1")
        super().__init__(params, dict(lr=lr, betas=betas, a=a, b=b, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["m"], state["v"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(
                    torch.atan2(m_hat, group["b"] * v_hat.sqrt()), alpha=-group["lr"] * group["a"]
                )
        return loss


OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "adafactor", "adam-atan2")


def make_optimizer(
    name: str, groups: list[dict], lr: float, betas=(0.9, 0.999)
) -> torch.optim.Optimizer:
    """A torch optimizer for the engine's optimizer name, over prepared param groups."""
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas)
    if name == "adam-atan2":
        return AdamAtan2(groups, lr=lr, betas=betas)
    if name == "adafactor":
        return torch.optim.Adafactor(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; accepted: {', '.join(OPTIMIZER_NAMES)}")
