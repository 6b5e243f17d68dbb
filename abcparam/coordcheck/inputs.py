"""Checks a coordinate check makes before training, and the save that keeps finished runs.

Every argument of :func:`abcparam.coordcheck.run_coord_check` is checked before the first step
(a typo costs a second, not a run), and each finished (width, seed) run is written to
``partial.json`` in ``out`` at once, so an interrupted or failing check keeps what it measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import validate
from ..engine.optimizers import get_optimizer

PARTIAL = "partial.json"


def check_arguments(config: Any, rules: Any, out: str | Path | None, models: tuple[str, ...]):
    """Check (and normalise in place) a CoordCheckConfig; returns the rules to train with.

    Refuses inconsistent inputs: ``rules`` derived for one optimizer with training asked for
    another."""
    validate.choice(config.model, models, "model")
    config.widths = validate.widths(config.widths)
    for name in ("steps", "seeds", "batch", "depth"):
        setattr(config, name, validate.positive_int(getattr(config, name), name))
    if config.base_width is not None:
        config.base_width = validate.positive_int(config.base_width, "base_width")
    if config.lr is not None:
        config.lr = validate.positive_float(config.lr, "lr")
    config.tolerance = validate.positive_float(config.tolerance, "tolerance")
    if rules is not None:
        if not hasattr(rules, "optimizer") or not hasattr(rules, "layers"):
            raise TypeError(
                f"rules = {rules!r}: give an abcparam Rules object (abcparam.rules(...) or "
                f"abcparam.derive(...)), or leave it out to derive the scheme's"
            )
        if config.optimizer is None:
            config.optimizer = rules.optimizer
        elif get_optimizer(config.optimizer).name != rules.optimizer:
            raise ValueError(
                f"optimizer = {config.optimizer!r}, but the rules were derived for "
                f"{rules.optimizer!r}; train with optimizer={rules.optimizer!r} or derive the "
                f"rules for {config.optimizer!r}"
            )
    elif config.optimizer is None:
        config.optimizer = "adam"
    else:
        get_optimizer(config.optimizer)  # an unknown name fails here, naming the accepted ones
    if out is not None:
        validate.writable_dir(out, "out")
    return rules


def save_partial(
    out: str | Path,
    config: Any,
    records: list[dict],
    nonfinite: list[dict],
    finished: list[tuple[int, int]],
    *,
    error: str | None = None,
    started: float | None = None,
) -> Path:
    """Write what has been measured so far to ``out/partial.json`` (strict JSON, provenance);
    ``error`` says why the check stopped, if it did."""
    from ..records import save_json

    payload = {
        "status": "failed" if error else "partial",
        "error": error,
        "config": config.to_dict(),
        "finished_runs": [{"width": w, "seed": s} for w, s in finished],
        "nonfinite": nonfinite,
        "records": records,
    }
    return save_json(Path(out) / PARTIAL, payload, started=started)
