"""Figure layout shared by every plot of the package: panels wrap into a grid (at most four a row)
and the legend sits below the panels, so that a figure of many layers stays readable on a page.

Built on ``matplotlib.figure.Figure`` (no pyplot, no backend switch): saving works in scripts,
tests and notebooks alike, and nothing is shown by accident.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from .atomic import save_figure

MAX_COLUMNS = 4


def panel_grid(
    n: int,
    *,
    columns: int = MAX_COLUMNS,
    panel: tuple[float, float] = (3.4, 2.7),
    sharey: bool = False,
) -> tuple[Figure, list]:
    """A figure with ``n`` panels in rows of three (two for four panels, never more than
    ``columns`` <= 4); unused cells are hidden."""
    if n < 1:
        raise ValueError(f"n = {n}: a figure needs at least one panel")
    # rows of three read best on a page; four panels make a square; never more than four a row
    cols = n if n <= 3 else (2 if n == 4 else 3)
    cols = max(1, min(cols, columns, MAX_COLUMNS))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows))
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def finish(fig: Figure, path: Path, *, title: str = "", handles=None, labels=None) -> Path:
    """Title on top, the legend (if any) below every panel in as many columns as fit, save."""
    legend_rows = 0
    if handles:
        ncol = min(len(handles), 3)
        legend_rows = math.ceil(len(handles) / ncol)
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=10, frameon=False)
    # grow the figure by the legend's and the title's height, so the panels keep theirs
    legend_h = 0.26 * legend_rows + 0.15 if legend_rows else 0.0
    title_h = 0.45 if title else 0.0
    height = fig.get_figheight() + legend_h + title_h
    fig.set_figheight(height)
    bottom, top = legend_h / height, 1 - title_h / height
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, bottom, 1, top))
    path = Path(path)
    return save_figure(fig, path, dpi=110)


def legend_entries(axes) -> tuple[list, list]:
    """Each distinct label once, from every panel (so the shared legend hides no line)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen)
