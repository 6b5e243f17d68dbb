"""A coordinate check's configuration and outcome, and the save that writes its results.json.

results.json schema (stable): ``{"config", "versions", "fits": [{"layer", "kind", "quantity",
"step", "measured_slope", "slope_stderr", "predicted_slope", "predicted_slope_preset",
"predicted_slope_asymptotic", "alignment_measured": {"alpha", "omega", "u"}, "pass",
"preset_pass", "asymptotic_pass", "judged"}], "alignment_fits", "flags", "nonfinite", "records",
"summary"}`` (schema.py defines each row and validates the file).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..records import save_json
from . import schema
from .judge import NOT_JUDGED, enough_sizes, rule_text, summary_counts
from .plot import plot_result
from .schema import AlignmentFit, Fit, NonFinite, Record


@dataclass
class CoordCheckConfig:
    model: str = "mlp"
    scheme: str = "mup"
    optimizer: str | None = "adam"
    alignment: Any = "full"
    lr_exponents: str = "derived"  # "derived" per-layer c, or "constant": c = 0 everywhere
    widths: Sequence[int] = (128, 256, 512, 1024, 2048)
    steps: int = 3
    seeds: int = 2
    lr: float | None = None
    base_width: int | None = None
    batch: int = 64
    depth: int = 2
    tolerance: float = 0.15
    alignment_measured: bool = True
    fixed_batch: bool = True  # train on the probe batch every step (as mup's check)
    topology: dict | None = None  # {names, kinds, parents} of a checked model (saved with it)
    device: str = "cpu"
    autocast: str | None = None  # "bfloat16": the training forward under torch.autocast

    def to_dict(self) -> dict:
        d = asdict(self)
        d["alignment"] = str(self.alignment)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> CoordCheckConfig:
        """The config of a saved check (results.json's ``config``); keys that are not fields,
        such as the rules, are left out."""
        names = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in saved.items() if k in names})
        config.widths = tuple(config.widths)
        return config


@dataclass
class CoordCheckResult:
    """A coordinate check's outcome; :meth:`to_dict` is results.json (schema.py documents it)."""

    config: dict
    fits: list[Fit]
    alignment_fits: list[AlignmentFit]
    flags: list[str]
    nonfinite: list[NonFinite]
    records: list[Record]
    versions: dict = field(default_factory=dict)

    @property
    def judged(self) -> list[Fit]:
        """The fits the rule judges: none when the check ran fewer than MIN_SIZES widths."""
        return [f for f in self.fits if f.judged] if self.sizes_ok else []

    @property
    def diverged(self) -> bool:
        """Some run produced non-finite values: its slopes mean nothing, so the check fails."""
        return bool(self.nonfinite)

    @property
    def unrecorded(self) -> list[dict]:
        """Layers of the topology the recorder could not measure: {name, kind, why}."""
        return list(self.config.get("unrecorded") or [])

    @property
    def incomplete(self) -> bool:
        """Some hidden layer was not measured: its slopes are unjudged, so no verdict of pass."""
        return any(u.get("kind") == "hidden" and u.get("ran", True) for u in self.unrecorded)

    @property
    def passed(self) -> bool:
        return (
            not self.diverged
            and not self.incomplete
            and self.sizes_ok
            and bool(self.judged)
            and all(f.passed for f in self.judged)
        )

    @property
    def sizes_ok(self) -> bool:
        """Were enough widths measured for the one judging rule (judge.py)?"""
        return enough_sizes(self.config.get("widths", ()))

    def summary(self) -> dict:
        judged = self.judged
        tolerance = self.config.get("tolerance", 0.15)
        counts = summary_counts([(f.passed, f.slope_stderr) for f in judged], tolerance)
        return {
            "fits": counts["fits"],
            "passed": counts["passed"],
            "preset_passed": sum(f.preset_pass for f in judged),
            "asymptotic_passed": sum(f.asymptotic_pass for f in judged),
            "unresolved": counts["unresolved"],
            "reported_only": len(self.fits) - len(judged),
            "nonfinite": len(self.nonfinite),
            "diverged": self.diverged,
            "unrecorded": len(self.unrecorded),
            "sizes": len(set(self.config.get("widths", ()))),
            "rule": rule_text(tolerance),
            "verdict": self.verdict,
        }

    @property
    def verdict(self) -> str:
        """diverged, fail (a judged miss), incomplete (a hidden layer not measured) or pass."""
        if self.diverged:
            return "diverged"
        if not self.sizes_ok:
            return NOT_JUDGED
        if not all(f.passed for f in self.judged):
            return "fail"
        return "incomplete" if self.incomplete else "pass"

    def to_dict(self) -> dict:
        """results.json's payload: strict JSON, validated against schema.py."""
        return schema.to_json(self)

    def table(
        self, quantity: str | None = None, step: int | None = None, misses: bool = False
    ) -> str:
        """Markdown: layer, quantity, step, predicted (preset / measured alignment), measured,
        pass (yes / NO; "reported" for a fit that is shown but not judged).  ``misses``: also
        every judged miss at another step than ``step``."""
        spread = int(self.config.get("seeds", 2)) > 1  # a stderr across seeds needs two
        rows = [
            "| layer | quantity | step | predicted (preset) | predicted (measured α,ω,u) "
            f"| measured{' ± stderr' if spread else ' (1 seed: no spread)'} | pass |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in self.fits:
            shown = (not quantity or f.quantity == quantity) and (step is None or f.step == step)
            if not shown and not (misses and f.judged and not f.passed):
                continue
            rows.append(
                f"| {f['layer']} | {f['quantity']} | {f['step']} | "
                f"{f['predicted_slope_preset']:+.2f} | {f['predicted_slope']:+.2f} | "
                f"{f['measured_slope']:+.2f}"
                + (f" ± {f['slope_stderr']:.2f}" if spread else "")
                + f" | {'reported' if not f.judged else ('yes' if f.passed else 'NO')} |"
            )
        return "\n".join(rows)


#: why a saved value is null (strict JSON has no NaN): pointer glob -> reason
NULL_REASONS = {
    "*/alignment_measured/*": "no alignment fit for this layer at this step (its input change "
    "or weight update was not measured at two or more widths, e.g. the embedding, whose input "
    "never changes)",
    "*slope*": "no slope: fewer than two finite positive values across widths",
}


def save(
    result: CoordCheckResult,
    out: str | Path,
    *,
    command: str | None = None,
    started: float | None = None,
    config_hash: str | None = None,
) -> Path:
    """results.json (strict JSON with a provenance block, see abcparam.records) + plots in ``out``;
    ``config_hash`` identifies the configuration (a rerun of another is refused, outfolder.py)."""
    out = Path(out)
    payload = schema.to_json(result, strict=False)
    if config_hash is not None:  # inside config: results.json's top-level keys stay fixed
        payload["config"] = {**payload["config"], "config_hash": config_hash}
    path = save_json(
        out / "results.json",
        payload,
        command=command,
        started=started,
        why=NULL_REASONS,
    )
    schema.validate(json.loads(path.read_text()))

    plot_result(result, out)
    return path
