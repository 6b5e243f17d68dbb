"""Benchmark: what recording (and alignment measurement) adds to the training steps it observes,
and the wall time of the whole CPU MLP grid.  Run: ``python experiments/bench_coordcheck_overhead.py``.

Same MLP, data and optimizer; three variants of 20 steps at width 1024: bare steps, steps + record
(hooks on the training forward, which runs on the probe batch), steps + record + alignment (two
extra matmuls per layer, about one extra forward pass).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

import abcparam
from abcparam.coordcheck import run_coord_check
from abcparam.coordcheck.record import Recorder
from abcparam.torch import MLP, build_optimizer, parametrize

STEPS, WIDTH, BATCH = 20, 1024, 256


def timed(mode: str) -> float:
    torch.manual_seed(0)
    model = MLP(WIDTH)
    spec = parametrize(model, abcparam.rules("mup"), base_width=128, seed=0)
    opt = build_optimizer(model, spec, lr=1e-2)
    x, y = torch.randn(BATCH, 32), torch.randint(0, 10, (BATCH,))
    recorder = (
        Recorder(model, model.chain(), alignment=(mode == "align")) if mode != "bare" else None
    )
    if recorder:
        recorder.start(x)
    t0 = time.perf_counter()
    for step in range(STEPS):
        # as run_coord_check does: the training forward on the probe batch is the measurement
        if recorder and step:
            with recorder.capture():
                loss = F.cross_entropy(model(x), y)
            recorder.measure()
        else:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    torch.set_num_threads(2)
    timed("bare")  # warm-up
    best = {m: min(timed(m) for _ in range(7)) for m in ("bare", "record", "align")}
    for m in ("record", "align"):
        print(
            f"{m}: {best[m]:.3f} s vs bare {best['bare']:.3f} s for {STEPS} steps at width "
            f"{WIDTH}, batch {BATCH}: overhead {100 * (best[m] / best['bare'] - 1):.0f} %"
        )
    t0 = time.perf_counter()
    for opt in ("sgd", "adam"):
        for scheme in ("sp", "ntp", "mfp", "mup", "u-mup"):
            run_coord_check(
                scheme=scheme,
                optimizer=opt,
                widths=(128, 256, 512, 1024, 2048),
                steps=3,
                seeds=3,
                progress=False,
            )
    print(
        f"CPU MLP grid (10 configurations, widths 128..2048, 3 steps, 3 seeds): "
        f"{time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
