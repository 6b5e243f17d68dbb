"""The one rule that judges a measured scaling slope against its prediction, for every check.

Width, depth, Muon/Lion, own-model and precision (autocast) coordinate checks all call
:func:`within` and count with :func:`summary_counts`; their summaries quote :func:`rule_text`.

The rule: a slope of log(quantity) against log(size) is judged only when it was fitted over at
least ``MIN_SIZES`` = 3 sizes (two points always lie on a line, so a two-size slope has no
residual to test the power law and its standard error is only the seeds' spread); it passes when
``|measured - predicted| <= tolerance`` (0.15 by default).  The standard error across seeds is
reported beside every slope but does not widen the tolerance: widening it (the depth check used
``0.15 + 2 stderr``) lets a noisier measurement pass more easily, so noise would count as
agreement.  Instead a judged fit whose ``2 stderr`` exceeds the tolerance is counted as
*unresolved*: its seeds disagree by more than the tolerance, so its verdict is reported but is
weak evidence either way.  The tolerance is the exponent resolution the checks need: 0.15 is
below 1/4, half the +-1/2 move of one layer's b or c that the wrong-rules check must catch
(Everett et al. 2024, Table 1: the schemes' exponents differ by halves), with room left for
finite-size curvature.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

#: default tolerance on |measured - predicted| slope (exponent units)
TOLERANCE = 0.15
#: fewest sizes (widths, depths) a judged slope is fitted over
MIN_SIZES = 3
#: the summary's verdict when a check ran fewer than MIN_SIZES sizes
NOT_JUDGED = "not judged"


def rule_text(tolerance: float = TOLERANCE) -> str:
    """The rule in one sentence, as summaries and the README state it."""
    return (
        f"a slope is judged when fitted over >= {MIN_SIZES} sizes and passes when "
        f"|measured - predicted| <= {tolerance:g}; its standard error across seeds is reported, "
        f"does not widen the tolerance, and a fit with 2 x stderr > {tolerance:g} is counted "
        f"as unresolved"
    )


def enough_sizes(sizes: Iterable[float]) -> bool:
    """Were at least ``MIN_SIZES`` distinct sizes measured?"""
    return len(set(sizes)) >= MIN_SIZES


def too_few_sizes(sizes: Iterable[float], what: str = "widths") -> str:
    """Why a check over ``sizes`` is not judged (one line)."""
    got = sorted(set(sizes))
    return (
        f"{len(got)} {what} ({', '.join(str(s) for s in got)}): a slope is judged over at least "
        f"{MIN_SIZES}, so these slopes are reported, not judged"
    )


def within(measured: float | None, predicted: float | None, tolerance: float = TOLERANCE) -> bool:
    """The verdict: ``|measured - predicted| <= tolerance`` (False when either is not finite)."""
    if measured is None or predicted is None:
        return False
    if not (math.isfinite(measured) and math.isfinite(predicted)):
        return False
    return bool(abs(measured - predicted) <= tolerance)


def unresolved(stderr: float | None, tolerance: float = TOLERANCE) -> bool:
    """Does the seeds' spread exceed the tolerance (``2 stderr > tolerance``)?"""
    return stderr is not None and math.isfinite(stderr) and 2 * stderr > tolerance


def summary_counts(
    verdicts: Sequence[tuple[bool, float | None]], tolerance: float = TOLERANCE
) -> dict[str, int]:
    """``{"fits", "passed", "unresolved"}`` from (passed, stderr) of the judged fits."""
    return {
        "fits": len(verdicts),
        "passed": sum(bool(p) for p, _ in verdicts),
        "unresolved": sum(unresolved(e, tolerance) for _, e in verdicts),
    }


def count_text(passed: int, fits: int, configurations: int, independent: int | None = None) -> str:
    """ "p/n judged fits over k configurations (j independent)": a count says what it covers."""
    text = f"{passed}/{fits} judged fits over {configurations} configuration"
    text += "" if configurations == 1 else "s"
    if independent is not None and independent != configurations:
        text += f" ({independent} independent: the others repeat them by the abc-symmetry)"
    return text


def require_decay(optimizer: str | None, weight_decay: float) -> None:
    """A run called AdamW has a nonzero decay: with lambda = 0 it is Adam, bit for bit, and
    would be counted twice (issue 28).  Raises ValueError naming the value."""
    if optimizer == "adamw" and not weight_decay:
        raise ValueError(
            f"optimizer 'adamw' with weight_decay = {weight_decay!r}: AdamW without decay is "
            f"Adam; give a nonzero weight_decay, or use optimizer 'adam'"
        )
