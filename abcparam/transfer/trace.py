"""What a sweep run records over training (``RunConfig.trace_every``): the training loss, the
largest attention logit and the output's log Z, the quantities of Wortsman et al. 2023 (Figs. 1, 4)
and the loss curve that loss-curve collapse compares across widths (Qiu et al. 2025)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from ..torch.gradient_rms import lookup_tables, seen_entries
from ..torch.losses import log_partition


@runtime_checkable
class LogitTracking(Protocol):
    """An attention module that stores its largest logit in ``max_logit`` when ``track_logits``
    (abcparam's :class:`~abcparam.torch.models.Attention`)."""

    track_logits: bool
    max_logit: float


class Trace:
    """Records every ``every`` steps (0: never): the mean training objective since the last record,
    the largest |attention logit| over the model's attention modules (those with
    ``track_logits``), and the mean and largest log Z of the outputs."""

    def __init__(self, model: nn.Module, every: int) -> None:
        self.every = every
        self.model = model
        self.attention: list[LogitTracking] = [
            m for m in model.modules() if isinstance(m, LogitTracking)
        ]
        self.rows: dict[str, list[float]] = {
            "step": [],
            "loss": [],
            "max_attention_logit": [],
            "log_z": [],
            "max_log_z": [],
        }
        self._losses: list[float] = []

    def _due(self, step: int) -> bool:
        return self.every > 0 and (step + 1) % self.every == 0

    @contextlib.contextmanager
    def watch(self, step: int) -> Iterator[None]:
        """Around the training forward: attention modules store their largest logit when due."""
        due = self._due(step)
        for module in self.attention:
            module.track_logits = due
        try:
            yield
        finally:
            for module in self.attention:
                module.track_logits = False

    def record(self, step: int, outputs: torch.Tensor, loss: torch.Tensor) -> None:
        if self.every <= 0:
            return
        self._losses.append(float(loss.detach()))
        if not self._due(step):
            return
        with torch.no_grad():
            log_z = log_partition(outputs.detach())
        logits = [float(m.max_logit) for m in self.attention]
        self.rows["step"].append(step + 1)
        self.rows["loss"].append(sum(self._losses) / len(self._losses))
        self.rows["max_attention_logit"].append(max(logits) if logits else math.nan)
        self.rows["log_z"].append(float(log_z.mean()))
        self.rows["max_log_z"].append(float(log_z.abs().max()))
        self._losses = []

    def record_gradients(self, step: int, spec) -> None:
        """After the backward of a due step: the RMS per layer kind of the raw gradient Adam
        normalises (``grad_rms_<kind>``; lookup tables over the rows in the batch), the quantity
        whose fall to Adam's eps :mod:`abcparam.engine.epsilon` forecasts."""
        if not self._due(step) or spec is None:
            return

        lookups = lookup_tables(self.model)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for p in spec.params:
            grad = spec.tensors[p.name].grad
            if grad is None:
                continue
            g = seen_entries(p.name, grad.detach(), lookups).double()
            sums[p.kind] = sums.get(p.kind, 0.0) + float(g.pow(2).sum())
            counts[p.kind] = counts.get(p.kind, 0) + g.numel()
        for kind in sorted(sums):
            if counts[kind]:
                key = f"grad_rms_{kind}"
                self.rows.setdefault(key, []).append(math.sqrt(sums[kind] / counts[kind]))

    def row(self) -> dict:
        """``{"trace": {...}}`` for a run's result row, or nothing without a trace."""
        return {"trace": self.rows} if self.every > 0 else {}
