"""Low-precision number formats as data, and the fraction of a tensor each one loses.

Ranges (OCP 8-bit floating point spec, Micikevicius et al. 2022, arXiv 2209.05433, Table 1; bf16 =
fp32's exponent with 7 mantissa bits).  ``zero_threshold`` is the largest magnitude that rounds to
0 under round-to-nearest-even (half the smallest subnormal); ``saturates`` says whether a cast
clamps to ``max`` (e4m3fn, which has no inf) or returns inf (e5m2, bf16).  The thresholds are
checked by casting with torch in the tests.

For a tensor whose entries are N(0, sigma^2) — the assumption every prediction here states — the
fraction that rounds to zero is ``erf(u / (sigma sqrt 2))`` (u = zero_threshold) and the fraction
beyond the largest finite value is ``erfc(max / (sigma sqrt 2))``.  For small u/sigma the first is
``u sqrt(2/pi) / sigma``: its log-slope against width is minus the RMS exponent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FloatFormat:
    """One floating-point format's range."""

    name: str
    torch_dtype: str  # attribute of torch, e.g. "float8_e4m3fn"
    max: float
    min_normal: float
    min_subnormal: float
    zero_threshold: float
    saturates: bool
    mantissa_bits: int

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "torch_dtype": self.torch_dtype,
            "max": self.max,
            "min_normal": self.min_normal,
            "min_subnormal": self.min_subnormal,
            "zero_threshold": self.zero_threshold,
            "saturates": self.saturates,
            "mantissa_bits": self.mantissa_bits,
        }


FORMATS: dict[str, FloatFormat] = {
    f.name: f
    for f in (
        FloatFormat("e4m3", "float8_e4m3fn", 448.0, 2.0**-6, 2.0**-9, 2.0**-10, True, 3),
        FloatFormat("e5m2", "float8_e5m2", 57344.0, 2.0**-14, 2.0**-16, 2.0**-17, False, 2),
        FloatFormat(
            "bf16", "bfloat16", (2 - 2.0**-7) * 2.0**127, 2.0**-126, 2.0**-133, 2.0**-134, False, 7
        ),
    )
}
FORMAT_ALIASES = {
    "e4m3": "e4m3",
    "e4m3fn": "e4m3",
    "float8_e4m3fn": "e4m3",
    "fp8": "e4m3",
    "e5m2": "e5m2",
    "float8_e5m2": "e5m2",
    "bf16": "bf16",
    "bfloat16": "bf16",
}


def get_format(name: str | FloatFormat) -> FloatFormat:
    """The format called ``name`` (e4m3 / e4m3fn, e5m2, bf16)."""
    if isinstance(name, FloatFormat):
        return name
    key = FORMAT_ALIASES.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown format {name!r}; accepted: {', '.join(FORMAT_ALIASES)}")
    return FORMATS[key]


def underflow_fraction(rms: float, fmt: str | FloatFormat) -> float:
    """Fraction of N(0, rms^2) entries that round to zero: erf(u / (rms sqrt 2))."""
    f = get_format(fmt)
    if rms < 0 or not math.isfinite(rms):
        raise ValueError(f"rms = {rms}: need a finite value >= 0")
    if rms == 0:
        return 1.0
    return math.erf(f.zero_threshold / (rms * math.sqrt(2)))


def overflow_fraction(rms: float, fmt: str | FloatFormat) -> float:
    """Fraction of N(0, rms^2) entries beyond the largest finite value: erfc(max / (rms sqrt 2))."""
    f = get_format(fmt)
    if rms < 0 or not math.isfinite(rms):
        raise ValueError(f"rms = {rms}: need a finite value >= 0")
    if rms == 0:
        return 0.0
    return math.erfc(f.max / (rms * math.sqrt(2)))


def predicted_rms(rms_base: float, base_width: float, width: float, exponent) -> float:
    """RMS at ``width`` of a tensor measured at ``base_width`` whose RMS scales as n^exponent."""
    return float(rms_base) * (float(width) / float(base_width)) ** float(exponent)


def crossing_width(
    rms_base: float,
    base_width: float,
    exponent,
    fmt: str | FloatFormat,
    level: float = 0.01,
    which: str = "underflow",
) -> float | None:
    """Width at which the predicted underflow (or overflow) fraction reaches ``level``.

    Solves the Gaussian fraction for the RMS that gives ``level`` and inverts the power law.
    None when the fraction never reaches ``level`` (RMS constant in width and below it, or moving
    away from the threshold); the base width itself when it is already past ``level`` there and
    the exponent does not help.
    """
    if which not in ("underflow", "overflow"):
        raise ValueError(f"which = {which!r}; accepted: underflow, overflow")
    if not 0 < level < 1:
        raise ValueError(f"level = {level}: need 0 < level < 1")
    f = get_format(fmt)
    e = float(exponent)
    if rms_base <= 0:
        return float(base_width) if which == "underflow" else None
    if which == "underflow":
        # erf(u / (s sqrt2)) = level  ->  s = u / (sqrt2 erfinv(level))
        target = f.zero_threshold / (math.sqrt(2) * _erfinv(level))
        past_at_base = rms_base <= target
        towards = e < 0  # shrinking RMS approaches the zero threshold
    else:
        target = f.max / (math.sqrt(2) * _erfcinv(level))
        past_at_base = rms_base >= target
        towards = e > 0
    if past_at_base:
        return float(base_width)
    if e == 0 or not towards:
        return None
    return float(base_width) * (target / rms_base) ** (1.0 / e)


def _erfinv(y: float) -> float:
    """Inverse of erf on (0, 1) by bisection (math has no erfinv)."""
    lo, hi = 0.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if math.erf(mid) < y:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _erfcinv(y: float) -> float:
    lo, hi = 0.0, 30.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if math.erfc(mid) > y:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
