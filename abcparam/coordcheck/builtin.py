"""The built-in models (the MLP, the GPT) as a coordinate check's factories and batches, and
``run_coord_check``, their door into the one pipeline (:func:`abcparam.coordcheck.check`).

The data are a fixed, seeded stream independent of width: Gaussian inputs with random labels
for the MLP, random token sequences (next-token targets) for the GPT; controls, not real data
(the model shortcuts of the command line train on real text and digits, batches.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

import abcparam
from abcparam.engine.rules import Rules, rules_for_exponents

from ..torch import build_model
from ..torch.models import MODELS
from .check import check
from .inputs import check_arguments
from .options import AUTOCAST, CheckOptions
from .result import CoordCheckConfig, CoordCheckResult

#: the built-in MLP's input size and classes; the GPT's vocabulary and context
MLP_INPUTS, MLP_CLASSES, VOCAB, CONTEXT = 32, 10, 65, 32


@dataclass(frozen=True)
class BuiltinFactory:
    """``factory(width)``: the built-in ``model`` with ``depth`` hidden layers (MLP) or blocks
    (GPT, context 32)."""

    model: str = "mlp"
    depth: int = 2
    #: the built-in models' construction errors are the check's, not the user's (resources.py)
    builtin: ClassVar[bool] = True

    def __call__(self, width: int) -> nn.Module:
        if self.model == "transformer":
            return build_model("transformer", width, n_layers=self.depth, context=CONTEXT)
        return build_model(self.model, width, depth=self.depth)


@dataclass(frozen=True)
class BuiltinBatch:
    """``batch(seed)``: the probe batch of the built-in ``model``; ``stream(seed)``: the seeded
    stream it opens, one batch per step as it is needed (never all at once)."""

    model: str = "mlp"
    batch: int = 64

    def __call__(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return next(self.stream(seed))

    def stream(self, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(10_000 + seed)
        while True:
            if self.model == "mlp":
                yield (
                    torch.randn(self.batch, MLP_INPUTS, generator=g),
                    torch.randint(0, MLP_CLASSES, (self.batch,), generator=g),
                )
            else:
                tokens = torch.randint(
                    0, VOCAB, (max(self.batch // 8, 1), CONTEXT + 1), generator=g
                )
                yield tokens[:, :-1], tokens[:, 1:]


def builtin_factory(model: str = "mlp", depth: int = 2) -> BuiltinFactory:
    """The built-in ``model`` ("mlp" or "transformer") as a factory width -> nn.Module."""
    return BuiltinFactory(model, depth)


def builtin_batch(model: str = "mlp", batch: int = 64) -> BuiltinBatch:
    """The built-in ``model``'s seeded batches (``batch`` rows; the GPT takes batch // 8
    sequences of 32 tokens)."""
    return BuiltinBatch(model, batch)


def builtin_rules(config: CoordCheckConfig) -> Rules:
    """The rules a built-in check trains with: the scheme's, derived for its optimizer and
    alignment, with per-layer or constant LR exponents."""
    assert config.optimizer is not None, "check_arguments resolves the optimizer first"
    rules = abcparam.rules(config.scheme, optimizer=config.optimizer, alignment=config.alignment)
    return rules_for_exponents(rules, config.lr_exponents)


def run_coord_check(
    model: str = "mlp",
    scheme: str = "mup",
    optimizer: str | None = None,
    alignment: Any = "full",
    lr_exponents: str = "derived",
    widths: Sequence[int] = (128, 256, 512, 1024, 2048),
    steps: int = 3,
    seeds: int = 2,
    lr: float | None = None,
    base_width: int | None = None,
    batch: int = 64,
    depth: int = 2,
    tolerance: float = 0.15,
    out: str | Path | None = None,
    rules: Rules | None = None,
    progress: bool = True,
    alignment_measured: bool = True,
    fixed_batch: bool = True,
    device: str = "cpu",
    autocast: str | None = None,
    overwrite: bool = False,
) -> CoordCheckResult:
    """A coordinate check of a built-in model: ``check(builtin_factory(model, depth), rules,
    builtin_batch(model, batch), options)``; writes results.json and plots to ``out`` if given.

    ``rules`` overrides the scheme's derived rules (e.g. a deliberately wrong table); the
    optimizer defaults to the rules' (else Adam) and must match them.  ``fixed_batch``: train on
    the probe batch every step (mup's check); else on the seeded stream.  ``autocast=
    "bfloat16"`` runs the forward in mixed precision.  Every argument is checked before
    training; resuming, ``overwrite`` and the lock on ``out`` are :func:`check`'s."""
    config = CoordCheckConfig(
        model,
        scheme,
        optimizer,
        alignment,
        lr_exponents,
        widths,
        steps,
        seeds,
        lr,
        base_width,
        batch,
        depth,
        tolerance,
        alignment_measured,
        fixed_batch,
        device=device,
        autocast=autocast,
    )
    if autocast not in AUTOCAST:
        raise ValueError(f"autocast = {autocast!r}; accepted: None, bfloat16, float16")
    rules = check_arguments(config, rules, out, MODELS)  # everything, before any training
    rules = rules if rules is not None else builtin_rules(config)
    options = CheckOptions(
        widths=config.widths,
        steps=config.steps,
        seeds=config.seeds,
        lr=config.lr,
        base_width=config.base_width,
        tolerance=config.tolerance,
        alignment_measured=alignment_measured,
        fresh_batches=not fixed_batch,
        device=device,
        autocast=autocast,
    )
    described = ("model", "scheme", "optimizer", "alignment", "lr_exponents", "batch", "depth")
    return check(
        builtin_factory(config.model, config.depth),
        rules,
        builtin_batch(config.model, config.batch),
        options,
        out=out,
        progress=progress,
        name=config.model,
        overwrite=overwrite,
        describe={k: getattr(config, k) for k in described},
    )
