"""Predict the loss of a width that was not trained from the ones that were (Mu-scaling, Yao &
Wang 2023: under μP with hyperparameters fixed near the loss basin, small models' losses follow a
scaling law that extrapolates).  Law: ``L(n) = L_inf + A n^-alpha`` fitted by least squares
(linear in L_inf, A; a bounded scipy search over alpha) to the per-width mean final loss; interval: a bootstrap over seeds
(resample each width's seeds with replacement, or with ``paired=True`` the same seeds at every
width; refit, predict; percentile interval).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import validate
from .runs import finite, load_runs

#: fewest trained widths a three-parameter law can be fitted to
MIN_WIDTHS = 3


@dataclass(frozen=True)
class LossPrediction:
    """The predicted final loss at ``width`` with a bootstrap ``interval`` (``confidence``), the
    fitted law (``l_inf``, ``amplitude``, ``exponent``) and what it was fitted on."""

    width: int
    loss: float
    interval: tuple[float, float]
    confidence: float
    l_inf: float
    amplitude: float
    exponent: float
    widths: tuple[int, ...]
    mean_loss: dict[int, float]
    seeds: dict[int, int]
    bootstrap: int
    failed_fits: int
    notes: tuple[str, ...] = field(default=())
    #: whether the bootstrap resampled seeds jointly across widths
    paired: bool = False

    @property
    def last_gap(self) -> float:
        """|L(last trained width) - L(the one before)|: the error to beat (predicting no change)."""
        a, b = self.widths[-2], self.widths[-1]
        return abs(self.mean_loss[b] - self.mean_loss[a])

    def evaluate(self, measured: Sequence[float]) -> dict:
        """Compare with losses measured at ``width`` (one per seed): the error in nats (mean
        measured minus predicted), the last gap, and whether the mean lies in the interval."""
        values = [float(v) for v in measured if finite(v)]
        if not values:
            raise ValueError(f"no finite measured loss at width {self.width} to evaluate against")
        mean = float(np.mean(values))
        stderr = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None
        return {
            "measured": mean,
            "measured_stderr": stderr,
            "seeds": len(values),
            "error": mean - self.loss,
            "last_gap": self.last_gap,
            "inside": self.interval[0] <= mean <= self.interval[1],
        }

    def to_dict(self) -> dict:
        return {
            "width": self.width,
            "loss": self.loss,
            "interval": list(self.interval),
            "confidence": self.confidence,
            "law": {"l_inf": self.l_inf, "amplitude": self.amplitude, "exponent": self.exponent},
            "widths": list(self.widths),
            "mean_loss": {str(k): v for k, v in self.mean_loss.items()},
            "seeds": {str(k): v for k, v in self.seeds.items()},
            "last_gap": self.last_gap,
            "bootstrap": self.bootstrap,
            "failed_fits": self.failed_fits,
            "paired_bootstrap": self.paired,
            "notes": list(self.notes),
        }


Runs = str | Path | Iterable[tuple[int, int, float]] | Iterable[dict]


SeedLosses = dict[int, list[tuple[Any, float]]]


def losses_by_width(
    runs: Runs, scheme: str | None = None, log2_lr: float | None = None
) -> SeedLosses:
    """(seed, final loss) pairs per width from a runs folder / rows / ``(width, seed, loss)``
    triples.  Rows of a sweep must name one scheme and one LR per width (``scheme=``,
    ``log2_lr=``), else an error lists the choices; a diverged run counts as inf."""
    if isinstance(runs, str | Path):
        runs = load_runs(runs)
    rows: list[Any] = list(runs)
    if rows and isinstance(rows[0], dict):
        return _from_rows(rows, scheme, log2_lr)
    out: SeedLosses = {}
    for item in rows:
        if isinstance(item, dict) or len(item) != 3:
            raise ValueError(f"run {item!r}; accepted: (width, seed, final_loss) triples or rows")
        width, _seed, loss = item
        out.setdefault(int(width), []).append((_seed, float(loss) if finite(loss) else math.inf))
    return out


def _from_rows(rows: list[dict], scheme: str | None, log2_lr: float | None) -> SeedLosses:
    schemes = sorted(str(r["scheme"]) for r in rows if r.get("scheme") is not None)
    schemes = sorted(set(schemes))
    if scheme is None and len(schemes) > 1:
        raise ValueError(f"the runs hold schemes {schemes}; pass scheme= one of them")
    if scheme is not None:
        if scheme not in schemes:
            raise ValueError(f"scheme = {scheme!r} is not in the runs; accepted: {schemes}")
        rows = [r for r in rows if r.get("scheme") == scheme]
    if log2_lr is not None:
        rows = [r for r in rows if r.get("log2_lr") == log2_lr]
        if not rows:
            raise ValueError(f"log2_lr = {log2_lr} is not in the runs")
    lrs: dict[int, set[float]] = {}
    for r in rows:
        lrs.setdefault(r["width"], set()).add(float(r.get("log2_lr") or 0.0))
    several = {w: sorted(v) for w, v in lrs.items() if len(v) > 1}
    if several:
        width, values = next(iter(sorted(several.items())))
        raise ValueError(
            f"width {width} was trained at several learning rates (log2 {values}); pass log2_lr= "
            "one of them (the loss law needs one setting across widths)"
        )
    out: SeedLosses = {}
    for r in rows:
        loss = r["val_loss"]
        out.setdefault(int(r["width"]), []).append(
            (r.get("seed"), float(loss) if finite(loss) and not r.get("diverged") else math.inf)
        )
    return out


def _law(n, l_inf, amplitude, exponent):
    return l_inf + amplitude * n ** (-exponent)


def _linear_fit(x: np.ndarray, y: np.ndarray, exponent):
    """(L_inf, A, squared error) of the least-squares line in ``x^-exponent``, for one exponent or
    an array of them (closed form of simple linear regression)."""
    u = x[None, :] ** (-np.atleast_1d(np.asarray(exponent, float))[:, None])
    du = u - u.mean(axis=1, keepdims=True)
    dy = y - y.mean()
    amplitude = (du @ dy) / np.maximum((du**2).sum(axis=1), 1e-300)
    l_inf = y.mean() - amplitude * u.mean(axis=1)
    error = ((l_inf[:, None] + amplitude[:, None] * u - y) ** 2).sum(axis=1)
    if np.ndim(exponent) == 0:
        return float(l_inf[0]), float(amplitude[0]), float(error[0])
    return l_inf, amplitude, error


#: the range of the fitted exponent alpha
EXPONENT_RANGE = (1e-3, 4.0)


def fit_law(widths: Sequence[int], losses: Sequence[float], reference: float) -> np.ndarray:
    """Least-squares ``(L_inf, A, alpha)`` of ``L = L_inf + A (n / reference)^-alpha``: linear in
    (L_inf, A) for each alpha, so alpha is found by a bounded scalar search (scipy) over
    ``EXPONENT_RANGE`` started from the best point of a grid; widths rescaled for conditioning."""
    from scipy.optimize import minimize_scalar

    x = np.asarray(widths, float) / reference
    y = np.asarray(losses, float)
    grid = np.linspace(*EXPONENT_RANGE, 81)
    errors = _linear_fit(x, y, grid)[2]
    i = int(np.argmin(errors))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best = minimize_scalar(
        lambda a: _linear_fit(x, y, a)[2],
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-6},
    )
    exponent = float(best.x) if best.fun <= errors[i] else float(grid[i])
    l_inf, amplitude, _ = _linear_fit(x, y, exponent)
    return np.array([l_inf, amplitude, exponent])


def predict_loss(
    runs: Runs,
    width: int = 1024,
    *,
    scheme: str | None = None,
    log2_lr: float | None = None,
    widths: Sequence[int] | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.9,
    seed: int = 0,
    paired: bool = False,
) -> LossPrediction:
    """Predict the final loss at an untrained ``width`` from trained ones (Mu-scaling's law
    ``L_inf + A n^-alpha``), with a bootstrap-over-seeds interval.

    ``runs``: a sweep folder / ``runs.jsonl`` (choose ``scheme`` / ``log2_lr`` when it holds
    several), rows, or ``(width, seed, final_loss)`` triples.  ``widths``: which trained widths
    to fit (default: every trained width below ``width``); at least three, each with a finite loss.
    ``paired``: resample seeds jointly across widths (when a seed's effect is shared by every
    width, e.g. one data order); the default resamples each width alone, which is right for
    independent noise and wider (conservative) for shared noise.

    >>> truth = lambda n: 1.5 + 3.0 * n ** -0.5
    >>> runs = [(n, s, truth(n) + 0.001 * (s - 1)) for n in (64, 128, 256) for s in range(3)]
    >>> p = predict_loss(runs, width=1024)
    >>> round(p.loss, 2), round(truth(1024), 2)
    (1.59, 1.59)
    """
    width = validate.positive_int(width, "width")
    bootstrap = validate.positive_int(bootstrap, "bootstrap")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence = {confidence}; accepted: a number in (0, 1), e.g. 0.9")
    data = losses_by_width(runs, scheme, log2_lr)
    chosen = _chosen_widths(data, width, widths)
    notes: list[str] = []
    kept, seed_ids = _finite_losses(data, chosen, notes)
    ws = sorted(kept)
    means = {w: float(np.mean(kept[w])) for w in ws}
    reference = float(ws[0])
    l_inf, amplitude, exponent = fit_law(ws, [means[w] for w in ws], reference)
    point = float(_law(width / reference, l_inf, amplitude, exponent))
    rng = np.random.default_rng(seed)
    if paired:  # the same seeds at every width, in one order
        kept = _paired(kept, seed_ids, ws)
    draws, failed = _bootstrap(kept, ws, len(seed_ids[ws[0]]), width, reference, bootstrap,
                               rng, paired)  # fmt: skip
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    if not EXPONENT_RANGE[0] * 1.01 < exponent < EXPONENT_RANGE[1] * 0.99:
        notes.append(
            f"fitted exponent {exponent:.3g} at the edge of {EXPONENT_RANGE}: the losses do not "
            "follow L_inf + A n^-alpha; the forecast is an extrapolation of a degenerate fit"
        )
    if min(len(v) for v in kept.values()) < 2:
        notes.append("a width with one seed: the interval misses seed-to-seed noise there")
    return LossPrediction(
        width=width,
        loss=point,
        interval=(float(lo), float(hi)),
        confidence=confidence,
        l_inf=float(l_inf),
        amplitude=float(amplitude),
        exponent=float(exponent),
        widths=tuple(ws),
        mean_loss=means,
        seeds={w: len(kept[w]) for w in ws},
        bootstrap=bootstrap,
        failed_fits=failed,
        notes=tuple(notes),
        paired=paired,
    )


def _chosen_widths(data: SeedLosses, width: int, widths: Sequence[int] | None) -> list[int]:
    """The trained widths to fit: ``widths`` (each trained), default every one below ``width``;
    never ``width`` itself."""
    if widths is None:
        chosen = sorted(w for w in data if w < width)
    else:
        chosen = sorted({validate.positive_int(w, "widths") for w in widths})
        absent = [w for w in chosen if w not in data]
        if absent:
            raise ValueError(f"widths {absent} were not trained; accepted: {sorted(data)}")
    if width in chosen:
        raise ValueError(
            f"width = {width} is among the fitted widths {chosen}; a forecast is for a width "
            "that was not trained (pass widths= without it)"
        )
    return chosen


def _finite_losses(data: SeedLosses, chosen: list[int], notes: list[str]):
    """({width: finite losses}, {width: their seeds}); diverged runs left out with a note; fewer
    than :data:`MIN_WIDTHS` widths left: a clear error."""
    kept, seed_ids = {}, {}
    for w in chosen:
        good = [(seed, v) for seed, v in data[w] if finite(v)]
        if len(good) < len(data[w]):
            notes.append(f"width {w}: {len(data[w]) - len(good)} diverged run(s) left out")
        if good:
            kept[w] = [v for _, v in good]
            seed_ids[w] = [seed for seed, _ in good]
    if len(kept) < MIN_WIDTHS:
        raise ValueError(
            f"{len(kept)} trained width(s) with a finite loss ({sorted(kept)}); accepted: at least "
            f"{MIN_WIDTHS} (the law L_inf + A n^-alpha has three parameters)"
        )
    return kept, seed_ids


def _paired(kept: dict, seed_ids: dict, ws: list[int]) -> dict:
    """Each width's losses in one seed order, checked to come from the same seeds."""
    order = {w: sorted(range(len(seed_ids[w])), key=lambda i: str(seed_ids[w][i])) for w in ws}
    ids = {w: [seed_ids[w][i] for i in order[w]] for w in ws}
    if None in ids[ws[0]] or any(ids[w] != ids[ws[0]] for w in ws):
        raise ValueError(
            f"paired = True needs the same seeds at every width; got { {w: ids[w] for w in ws} }"
        )
    return {w: [kept[w][i] for i in order[w]] for w in ws}


def _bootstrap(kept, ws, n_paired, width, reference, bootstrap, rng, paired):
    """(predictions at ``width`` from ``bootstrap`` refits on resampled seeds, failed fits);
    every fit failing: a clear error."""
    draws, failed = [], 0
    for _ in range(bootstrap):
        if paired:  # the same seeds drawn at every width (a seed fixes data order and init)
            pick = rng.integers(0, n_paired, size=n_paired)
            sample = [float(np.mean(np.asarray(kept[w])[pick])) for w in ws]
        else:
            sample = [float(np.mean(rng.choice(kept[w], size=len(kept[w])))) for w in ws]
        params = fit_law(ws, sample, reference)
        if not np.all(np.isfinite(params)):
            failed += 1
            continue
        draws.append(float(_law(width / reference, *params)))
    if not draws:
        raise ValueError("every bootstrap fit failed; the losses follow no L_inf + A n^-alpha law")
    return draws, failed
