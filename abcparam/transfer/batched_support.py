"""Which sweep runs the batched trainer (:mod:`abcparam.transfer.batched`) can train, checked
before any training so ``run_sweep(..., batched=True)`` and ``abcparam sweep --batched`` refuse
an unsupported run with one line naming what is unsupported."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..engine.optimizers import get_optimizer
from .sweep import MODELS, RunConfig, is_user_model

#: the engine optimizers whose torch class the batched step reproduces (Adam, AdamW, AdamAtan2,
#: Lion, Muon: abcparam.transfer.batched.SUPPORTED; named here so the check does not import torch)
BATCHED_OPTIMIZERS = (
    "adam", "adamw", "adam-atan2", "lion", "sign", "muon", "muon-rms", "muon-none",
)  # fmt: skip


def optimizer_unsupported(optimizer: str) -> str | None:
    """Why the batched step cannot run ``optimizer`` (None: it can)."""
    spec = get_optimizer(optimizer)
    # a per-kind optimizer (Muon on matrices, AdamW elsewhere) steps with each of its parts
    parts = [m for _, m in getattr(spec, "models", ())] or [spec]
    bad = [c for c in sorted({m.name for m in parts}) if c not in BATCHED_OPTIMIZERS]
    if not bad:
        return None
    return f"optimizer {optimizer!r} ({', '.join(bad)}; batched: {', '.join(BATCHED_OPTIMIZERS)})"


def unsupported(cfg: RunConfig) -> list[str]:
    """What of one run the batched trainer does not support (empty: it can train it)."""
    why = []
    if is_user_model(cfg.model) or cfg.model not in MODELS:
        why.append(f"model {cfg.model!r} (batched: {', '.join(MODELS)})")
    bad_optimizer = optimizer_unsupported(cfg.optimizer)
    if bad_optimizer:
        why.append(bad_optimizer)
    if cfg.device != "cpu":
        why.append(f"device {cfg.device!r} (batched: cpu)")
    if cfg.z_loss:
        why.append(f"z_loss = {cfg.z_loss} (batched: 0)")
    if cfg.qk_layernorm:
        why.append("qk_layernorm (batched: off)")
    if cfg.trace_every:
        why.append(f"trace_every = {cfg.trace_every} (batched: 0)")
    if cfg.warmup:
        why.append(f"warmup = {cfg.warmup} (batched: 0)")
    if cfg.weight_decay:
        why.append(f"{cfg.decay_convention} weight_decay = {cfg.weight_decay} (batched: 0)")
    if cfg.eps != 1e-8 or not cfg.scale_eps:
        why.append(f"eps = {cfg.eps}, scale_eps = {cfg.scale_eps} (batched: 1e-8, scaled)")
    return why


def refuse_unsupported(
    configs: Iterable[Any], why: Callable[[Any], list[str]], trainer: str = "the batched trainer"
) -> None:
    """Raise ValueError naming every setting of ``configs`` that ``why`` finds unsupported
    (each named once)."""
    seen: list[str] = []
    for cfg in configs:
        seen += [w for w in why(cfg) if w not in seen]
    if seen:
        raise ValueError(f"{trainer} does not support {'; '.join(seen)}; run without batched")


def check_batched(configs: Iterable[RunConfig]) -> None:
    """Raise ValueError naming every unsupported setting of ``configs`` (each named once)."""
    refuse_unsupported(configs, unsupported)


__all__ = [
    "BATCHED_OPTIMIZERS",
    "check_batched",
    "optimizer_unsupported",
    "refuse_unsupported",
    "unsupported",
]
