"""Figure of a depth coordinate check: RMS against depth (log-log), one panel per quantity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import save_figure

PANELS = (
    ("stream", "out", 0),
    ("stream", "delta", None),
    ("last.fc2", "delta", None),
    ("last.fc2", "update", None),
    ("readout", "delta", None),
)


def plot_depth_check(records: Sequence[Any], path: str | Path, config) -> Path:
    """Mean over seeds of each panel's quantity against depth, one line per scheme (at the
    largest width; ``None`` step = the last step); ``records``: schema.DepthRecord rows (or
    dicts with the same keys)."""
    import matplotlib.pyplot as plt

    width = max(config.widths)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(3.2 * len(PANELS), 3.0))
    for ax, (layer, q, step) in zip(axes, PANELS):
        step = config.steps if step is None else step
        for scheme in config.schemes:
            by_depth = defaultdict(list)
            for r in records:
                if (r["scheme"], r["width"], r["layer"], r["step"]) == (scheme, width, layer, step):
                    if r.get(q) is not None:
                        by_depth[r["depth"]].append(r[q])
            if by_depth:
                ds = sorted(by_depth)
                ax.loglog(ds, [np.mean(by_depth[d]) for d in ds], "o-", label=scheme, base=2)
        ax.set_title(f"{layer} {q} (step {step})", fontsize=9)
        ax.set_xlabel("depth L (blocks)")
    axes[0].set_ylabel("RMS")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{config.model}, width {width}, {config.optimizer}, lr {config.lr}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path
