"""The width slope of a sum of power laws over a finite range of widths.

A layer's change is a vector sum of three terms, ``dW x0 + W0 dx + dW dx``, each growing as a
power of the width with its own prefactor (Everett et al. 2024, Sec. 3).  The asymptotic slope is
the largest exponent; over 128..2048 a small term with the largest exponent need not dominate yet,
and terms can partly cancel, so the fitted slope is a blend.  Here each term's size is taken at
the smallest width only and carried to the others by the engine's exponent, while the angles
between the terms (how they add, measured like the alignment exponents themselves) are taken at
each width: at the smallest width the blend equals the measured change, and every larger width
tests the exponents (a wrong exponent moves the prediction there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np

Cosine = Union[float, Sequence[float]]  # noqa: UP007 (a runtime alias; py3.10 needs Union)


def blended_slope(
    exponents: Mapping[str, float],
    sizes_at_base: Mapping[str, float],
    widths: Sequence[int],
    cosines: Mapping[tuple[str, str], Cosine] | None = None,
) -> float:
    """Least-squares slope against ``log w`` of ``log |sum_i C_i (w/w0)^e_i v_i|``.

    ``exponents``: each term's predicted slope; ``sizes_at_base``: each term's RMS C_i at the
    smallest width ``w0`` (terms without a finite positive size are left out); ``cosines``:
    the cosine between unit directions v_i, v_j per pair of term names, one value or one per
    width in ascending order (missing pairs: 0, i.e. independent terms added in quadrature).
    nan if unusable or if the terms cancel completely."""
    widths = sorted(widths)
    used = [
        t
        for t in exponents
        if t in sizes_at_base
        and math.isfinite(float(sizes_at_base[t]))
        and sizes_at_base[t] > 0
        and math.isfinite(float(exponents[t]))
    ]
    if not used or len(widths) < 2:
        return float("nan")
    cosines = cosines or {}
    ratio = np.asarray(widths, dtype=float) / widths[0]
    part = {t: float(sizes_at_base[t]) * ratio ** float(exponents[t]) for t in used}
    square = sum(part[t] ** 2 for t in used)
    for i, first in enumerate(used):
        for second in used[i + 1 :]:
            given = cosines.get((first, second), cosines.get((second, first), 0.0))
            cos = np.broadcast_to(np.asarray(given, dtype=float), ratio.shape)
            if not np.all(np.isfinite(cos)):
                return float("nan")
            square = square + 2 * cos * part[first] * part[second]
    if np.any(square <= 0):
        return float("nan")
    return float(np.polyfit(np.log(ratio), 0.5 * np.log(square), 1)[0])
