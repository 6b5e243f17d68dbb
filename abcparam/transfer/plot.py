"""The canonical muTransfer figure: validation loss vs base LR, one curve per width, per scheme."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

# a Figure drawn and saved directly (no pyplot): no backend is switched, no window opens, and a
# notebook's own figures are untouched
from matplotlib.figure import Figure

from ..atomic import save_figure
from .analysis import is_diverged


def plot_sweep(rows: list[dict], path: Path, title: str = "", vary: str = "width") -> Path:
    """Save loss vs log2 LR (seed mean), one panel per scheme, one curve per width (TP-V Fig. 1)
    or per depth (``vary="depth"``): aligned minima are what transfer looks like.  Diverged runs
    are left out."""
    rows = [r for r in rows if not is_diverged(r)]  # diverged runs are not part of a curve
    schemes = list(dict.fromkeys(r["scheme"] for r in rows)) or ["(no usable run)"]
    fig = Figure(figsize=(3.4 * len(schemes), 3))
    axes = fig.subplots(1, len(schemes), sharey=True, squeeze=False)
    for ax, scheme in zip(axes[0], schemes):
        curves: defaultdict[int, defaultdict[float, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in rows:
            if r["scheme"] == scheme:
                curves[r[vary]][r["log2_lr"]].append(r["val_loss"])
        for width in sorted(curves):
            lrs = sorted(curves[width])
            loss = [np.mean(curves[width][lr]) for lr in lrs]
            ax.plot(lrs, loss, marker=".", label=f"{vary} {width}")
        ax.set(title=scheme, xlabel="log2 base learning rate")
        ax.set_yscale("log")
    axes[0][0].set_ylabel("validation loss")
    axes[0][-1].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
    return path
