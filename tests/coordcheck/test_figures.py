"""Figures wrap into rows of at most four panels, label their axes and explain pred A / pred B;
saved figures are redrawn from saved results alone."""

import shutil
from pathlib import Path

import pytest

from abcparam.coordcheck import plot as coordcheck_plot
from abcparam.figures import legend_entries, panel_grid

RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results"


@pytest.mark.parametrize("n, rows, cols", [(1, 1, 1), (3, 1, 3), (4, 2, 2), (5, 2, 3), (14, 5, 3)])
def test_panels_wrap_at_most_four_a_row(n, rows, cols):
    fig, axes = panel_grid(n)
    assert len(axes) == n
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    assert (grid.nrows, grid.ncols) == (rows, cols)
    assert sum(ax.get_visible() for ax in fig.axes) == n


def test_panel_grid_rejects_no_panels():
    with pytest.raises(ValueError, match="n = 0"):
        panel_grid(0)


def test_coordcheck_figure_redrawn_from_saved_results(tmp_path):
    saved = RESULTS / "coordcheck_cpu" / "mlp_mup_adam_derived" / "results.json"
    shutil.copy(saved, tmp_path / "results.json")
    drawn = []
    original = coordcheck_plot.finish

    def spy(fig, path, **kw):
        drawn.append((fig, kw))
        return original(fig, path, **kw)

    coordcheck_plot.finish = spy
    try:
        paths = coordcheck_plot.replot(tmp_path, ("delta",))
    finally:
        coordcheck_plot.finish = original
    assert [p.name for p in paths] == ["delta.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    fig, kw = drawn[0]
    assert coordcheck_plot.PRED_A in kw["labels"] and coordcheck_plot.PRED_B in kw["labels"]
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert all(ax.get_xlabel() == "width n" and ax.get_ylabel() for ax in visible)
    assert max(ax.get_subplotspec().colspan.stop for ax in visible) <= 4  # at most 4 a row
    # the shared legend names every line drawn in any panel
    handles, labels = legend_entries(visible)
    drawn_labels = {line.get_label() for ax in visible for line in ax.get_lines()}
    assert drawn_labels <= set(labels)
