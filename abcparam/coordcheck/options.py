"""What a coordinate check measures and how it trains, in one validated object.

:class:`CheckOptions` groups the options of :func:`abcparam.coordcheck.check` (widths, steps,
seeds, learning rate, judging tolerance, training variants); every value is checked when the
object is made, with the one-line errors of :mod:`abcparam.validate`, so a typo fails before
any model is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from .. import validate

#: base LR of a check: SGD's step is the raw gradient; every normalised optimizer (the engine's
#: other OPTIMIZERS) takes steps of about the LR itself
DEFAULT_LR = {"sgd": 0.1}
NORMALISED_LR = 1e-2
#: mixed-precision dtypes a check's forward may run under
AUTOCAST = (None, "bfloat16", "float16")
#: the size a check varies: the width n, or the number of residual blocks L
VARY = ("width", "depth")


@dataclass(frozen=True)
class CheckOptions:
    """How a coordinate check runs: ``widths`` trained ``steps`` steps for ``seeds`` seeds at
    base LR ``lr`` (None: 0.1 for SGD, 1e-2 for normalised optimizers), the rules' multipliers
    relative to ``base_width`` (None: the smallest width); a slope passes within ``tolerance``.

    ``alignment_measured``: also record the alignment terms (Everett et al. 2024, Sec. 3).
    ``fresh_batches``: step t trains on a new batch (the probe batch is still the first);
    ``zero_readout``: start the readout at zero (TP-V's suggestion); ``z_loss``: add
    ``z_loss * log^2 Z`` of the logits (Wortsman et al. 2023); ``autocast``: the training
    forward in mixed precision ("bfloat16" or "float16"), the loss in float32.

    ``vary="depth"``: the depth check, ``depths`` (at least two) at each of ``widths`` (one is
    enough), the rules' depth factors relative to ``base_depth`` (None: the smallest depth)."""

    widths: Sequence[int] = (128, 256, 512)
    steps: int = 3
    seeds: int = 2
    lr: float | None = None
    base_width: int | None = None
    tolerance: float = 0.15
    alignment_measured: bool = True
    weight_decay: float = 0.0
    fresh_batches: bool = False
    zero_readout: bool = False
    z_loss: float = 0.0
    device: str = "cpu"
    autocast: str | None = None
    vary: str = "width"
    depths: Sequence[int] | None = None
    base_depth: int | None = None

    def __post_init__(self) -> None:
        if self.vary not in VARY:
            raise ValueError(f"vary = {self.vary!r}; accepted: {', '.join(VARY)}")
        checked: dict[str, Any] = {
            "widths": self._widths(),
            "steps": validate.positive_int(self.steps, "steps"),
            "seeds": validate.positive_int(self.seeds, "seeds"),
            "tolerance": validate.positive_float(self.tolerance, "tolerance"),
            "weight_decay": validate.positive_float(
                self.weight_decay, "weight_decay", allow_zero=True
            ),
            "z_loss": validate.positive_float(self.z_loss, "z_loss", allow_zero=True),
        }
        if self.lr is not None:
            checked["lr"] = validate.positive_float(self.lr, "lr")
        if self.vary == "depth" and not self.depths:
            raise ValueError(
                f"vary = 'depth' with depths = {self.depths!r}; accepted: at least two distinct "
                f"numbers of residual blocks (e.g. 2,4,8)"
            )
        if self.depths is not None:
            checked["depths"] = validate.widths(self.depths or (), "depths")
        if self.base_depth is not None:
            checked["base_depth"] = validate.positive_int(self.base_depth, "base_depth")
        if self.base_width is not None:
            checked["base_width"] = validate.positive_int(self.base_width, "base_width")
        for flag in ("alignment_measured", "fresh_batches", "zero_readout"):
            validate.boolean(getattr(self, flag), flag)
        if self.autocast not in AUTOCAST:
            raise ValueError(f"autocast = {self.autocast!r}; accepted: None, bfloat16, float16")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def _widths(self) -> tuple[int, ...]:
        """At least two widths for a width check; one is enough for a depth check."""
        if self.vary == "depth" and not isinstance(self.widths, str) and len(self.widths) == 1:
            return (validate.positive_int(next(iter(self.widths)), "widths"),)
        return validate.widths(self.widths)

    @property
    def depth0(self) -> int:
        """The depth the rules' depth factors are relative to."""
        return self.base_depth or min(self.depths or (1,))

    @property
    def base(self) -> int:
        """The width the rules' multipliers are relative to."""
        return self.base_width or min(self.widths)

    def base_lr(self, optimizer: str) -> float:
        """The LR given, else the default for ``optimizer`` (see DEFAULT_LR)."""
        return self.lr if self.lr is not None else DEFAULT_LR.get(optimizer, NORMALISED_LR)

    @classmethod
    def of(cls, options: CheckOptions | None = None, **overrides: Any) -> CheckOptions:
        """``options`` (default: the defaults) with ``overrides`` (field names) replaced; an
        unknown name is refused with the accepted ones."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise TypeError(f"unknown check option {unknown[0]!r}; accepted: {', '.join(names)}")
        if options is None:
            return cls(**overrides)
        if not isinstance(options, cls):
            raise TypeError(
                f"options = {options!r}; accepted: a CheckOptions (or None for the defaults)"
            )
        return replace(options, **overrides) if overrides else options
