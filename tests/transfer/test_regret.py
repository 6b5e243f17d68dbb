"""The sweep estimator, drift, transfer regret and adaptive grid recover known optima on
synthetic sweeps (loss = floor + k (log2 lr - x*(size))^2 + seed noise)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abcparam.transfer.regret import analyse, estimate_optimum, loss_at, refine, table

K = 0.05  # curvature of the synthetic loss in log2 LR


def _optimum(size: int, drift: float) -> float:
    return -6.3 + drift * math.log2(size / 64)


def _sweep(drift: float, sizes=(64, 128, 256, 512), seeds=3, noise=0.002, vary="width"):
    """Rows on a coarse grid refined (as the adaptive sweep does) to 0.25 around each optimum
    and around the base size's optimum."""
    rng = np.random.default_rng(7)
    rows = []
    for size in sizes:
        star = _optimum(size, drift)
        grid = set(np.arange(-11.0, -1.0, 1.0).tolist())
        best = min(grid, key=lambda x: abs(x - star))
        grid |= set((best + 0.25 * np.arange(-4, 5)).tolist())
        # and around the base size's optimum: where the regret reads the loss
        tuned = round(_optimum(sizes[0], drift) * 4) / 4
        grid |= set((tuned + 0.25 * np.arange(-2, 3)).tolist())
        for lr in sorted(grid):
            for seed in range(seeds):
                loss = 1.0 + K * (lr - star) ** 2 + noise * rng.standard_normal()
                rows.append(
                    {
                        "scheme": "s",
                        vary: size,
                        "seed": seed,
                        "log2_lr": lr,
                        "val_loss": loss,
                        "diverged": False,
                    }
                )
    return rows


@pytest.mark.parametrize("drift", [0.0, -0.5, 0.5])
def test_optimum_drift_and_regret_recovered(drift):
    result = analyse(_sweep(drift), replicates=300)["s"]
    for size, o in result["optimum"].items():
        assert o["value"] == pytest.approx(_optimum(size, drift), abs=0.05)
        lo, hi = o["interval"]
        assert lo - 0.05 <= _optimum(size, drift) <= hi + 0.05
        assert o["grid_step"] == 0.25 and o["method"] == "parabola"
    assert result["drift"]["value"] == pytest.approx(drift, abs=0.03)
    lo, hi = result["drift"]["interval"]
    assert lo - 0.02 <= drift <= hi + 0.02
    # regret at 512: the loss K * (3 drift)^2 of using the base optimum three doublings away
    expected = K * (3 * drift) ** 2
    assert result["regret"][512]["value"] == pytest.approx(expected, abs=0.01)
    if drift:
        assert result["regret"][512]["interval"][0] > 0.05  # clearly nonzero
    else:
        assert result["regret"][512]["interval"][1] < 0.01
    assert "transfer regret @ 512" in table({"s": result})


def test_the_estimator_is_not_the_argmin():
    """On a 1-log2 grid the argmin is off by up to 1/2; the parabola finds the vertex."""
    lrs = np.arange(-10.0, -2.0)
    losses = 1 + K * (lrs + 6.3) ** 2
    o = estimate_optimum(lrs, losses)
    assert o.value == pytest.approx(-6.3, abs=1e-6) and o.edge is None
    edge = estimate_optimum(lrs, 1 + K * (lrs + 12) ** 2)
    assert edge.edge == "low" and edge.value == -10.0


def test_an_unusable_lr_is_infinite_in_the_seed_mean():
    rows = _sweep(0.0, sizes=(64, 128), seeds=3)
    for r in rows:  # one seed diverges at the base size's optimum grid point
        if r["width"] == 64 and r["seed"] == 0 and r["log2_lr"] == -6.25:
            r["diverged"] = True
    result = analyse(rows, replicates=100)["s"]
    assert result["optimum"][64]["value"] != pytest.approx(-6.25, abs=1e-3)
    assert math.isfinite(result["regret"][128]["value"])


def test_loss_at_interpolates_and_refuses_off_grid():
    lrs, losses = [-3.0, -2.0, -1.0], [1.0, 0.5, math.inf]
    assert loss_at(lrs, losses, -2.5) == pytest.approx(0.75)
    assert loss_at(lrs, losses, -1.5) == math.inf
    assert loss_at(lrs, losses, -4.0) == math.inf


def test_refine_extends_edges_then_fills_the_lattice():
    lrs = np.arange(-10.0, -5.0)
    assert refine(lrs, 1 + K * (lrs + 12) ** 2) == [-11.0]
    assert refine(lrs, 1 + K * (lrs + 3) ** 2) == [-5.0]
    new = refine(lrs, 1 + K * (lrs + 8.1) ** 2)
    assert new == [-8.75, -8.5, -8.25, -7.75, -7.5, -7.25]
    done = sorted([*lrs, *new])
    assert refine(done, 1 + K * (np.array(done) + 8.1) ** 2) == []


def test_depth_sweeps_use_the_depth_column():
    result = analyse(_sweep(-0.5, sizes=(2, 4, 8), vary="depth"), vary="depth", replicates=100)
    assert result["s"]["base"] == 2
    assert result["s"]["drift"]["value"] == pytest.approx(-0.5, abs=0.03)
    with pytest.raises(ValueError, match="vary"):
        analyse([], vary="height")


def test_refine_also_resolves_the_transferred_lr():
    lrs = np.arange(-10.0, -5.0)
    new = refine(lrs, 1 + K * (lrs + 8.1) ** 2, around=(-6.3,))
    assert {-6.75, -6.5, -6.25, -5.75}.issubset(new) and -8.5 in new
