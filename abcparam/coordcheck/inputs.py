"""Checks a coordinate check makes before training, and the save that keeps finished runs.

Every argument of :func:`abcparam.coordcheck.run_coord_check` is checked before the first step
(a typo costs a second, not a run), and each finished (width, seed) run is written to
``partial.json`` in ``out`` at once, so an interrupted or failing check keeps what it measured
and a rerun of the same command resumes from it (:class:`PartialRuns`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import validate
from ..engine.optimizers import get_optimizer
from ..engine.rules_table import Rules
from ..outfolder import claim
from ..records import load_json, save_json

PARTIAL = "partial.json"


def check_arguments(
    config: Any, rules: Rules | None, out: str | Path | None, models: tuple[str, ...]
) -> Rules | None:
    """Check (and normalise in place) a CoordCheckConfig; returns the rules to train with.

    Refuses inconsistent inputs: ``rules`` derived for one optimizer with training asked for
    another."""
    validate.choice(config.model, models, "model")
    config.widths = validate.widths(config.widths)
    for name in ("steps", "seeds", "batch", "depth"):
        setattr(config, name, validate.positive_int(getattr(config, name), name))
    if config.depth > validate.MAX_DEPTH:
        raise ValueError(f"depth = {config.depth}; accepted: at most {validate.MAX_DEPTH:,}")
    if config.base_width is not None:
        config.base_width = validate.positive_int(config.base_width, "base_width")
    if config.lr is not None:
        config.lr = validate.positive_float(config.lr, "lr")
    config.tolerance = validate.positive_float(config.tolerance, "tolerance")
    if rules is not None:
        if not isinstance(rules, Rules):
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


class PartialRuns:
    """The finished (width, seed) runs of one check, kept in ``out/partial.json`` as each one
    finishes (atomically, see abcparam.atomic) and reloaded by a rerun of the same configuration
    (the same ``key``, :func:`abcparam.outfolder.config_hash`), which then trains only what is
    missing, as a sweep does.  Every check (built-in models, user factories, the shortcuts) keeps
    its runs through this one class.  Without ``out`` it only collects."""

    def __init__(self, out: str | Path | None, config: Any, key: str, started: float | None):
        self.out = None if out is None else Path(out)
        self.config, self.key, self.started = config, key, started
        self.records: list = []
        self.nonfinite: list = []
        self.done: list[tuple[int, int]] = []
        self.resumed = 0
        path = None if self.out is None else self.out / PARTIAL
        if path is not None and path.exists():
            try:
                saved = load_json(path)
            except (OSError, ValueError):
                saved = None  # unreadable: the outfolder check already refused another config
            if isinstance(saved, dict) and saved.get("config_hash") == key:
                self.done = [(r["width"], r["seed"]) for r in saved.get("finished_runs", [])]
                self.records = list(saved.get("records", []))
                self.nonfinite = list(saved.get("nonfinite", []))
                self.resumed = len(self.done)

    def finished(self, width: int, seed: int) -> bool:
        return (width, seed) in self.done

    def add(self, width: int, seed: int) -> None:
        """Mark (width, seed) finished and write partial.json at once."""
        self.done.append((width, seed))
        self.save()

    def save(self, error: str | None = None) -> Path | None:
        """Write what the finished runs measured (only theirs: an interrupted run's records are
        left out) to ``out/partial.json``; ``error`` says why the check stopped, if it did."""
        if self.out is None:
            return None

        done = set(self.done)

        def kept(row: Any) -> bool:
            return (row["width"], row["seed"]) in done

        payload = {
            "status": "failed" if error else "partial",
            "error": error,
            "config_hash": self.key,
            "config": self.config.to_dict(),
            "finished_runs": [{"width": w, "seed": s} for w, s in self.done],
            "nonfinite": [n for n in self.nonfinite if kept(n)],
            "records": [r for r in self.records if kept(r)],
        }
        return save_json(self.out / PARTIAL, payload, started=self.started)

    def finish(self) -> None:
        """results.json now holds everything: partial.json goes."""
        if self.out is not None:
            (self.out / PARTIAL).unlink(missing_ok=True)


#: what a check writes besides results.json and partial.json (removed by ``overwrite``)
PLOTS = ("output.png", "delta.png", "update.png")


def claim_out(out: str | Path | None, key: str, overwrite: bool = False):
    """Hold ``out`` for this check (abcparam.outfolder.claim): a lock against a second process,
    and another configuration's results refused unless ``overwrite``.  No ``out``: nothing."""
    import contextlib

    if out is None:
        return contextlib.nullcontext()
    return claim(out, key, produced=PLOTS, overwrite=overwrite, name="out")
