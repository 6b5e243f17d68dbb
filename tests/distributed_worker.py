"""Train a parametrized model 3 steps single-process, under DDP and under FSDP2 (``torchrun
--nproc_per_node 2 tests/distributed_worker.py ddp,fsdp,check out_dir`` on the CPU with gloo;
``python tests/distributed_worker.py single,check out_dir`` for the one-process references).

Parametrize before wrapping, param_groups after wrapping; each of the two ranks takes half of the
batch, so the averaged gradients and the all-reduced mean loss equal the single-process ones.
Rank 0 writes the losses and the per-layer optimizer settings to ``out_dir/<mode>.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from checkpoint_models import batch, build, loss_of  # noqa: E402

from abcparam.torch import param_groups  # noqa: E402

STEPS, SIZE = 3, 8


def wrap(model, mode: str):
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model)
    if mode == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
        return model
    raise ValueError(f"mode = {mode!r}: accepted single, ddp, fsdp")


def main(modes: str, out: str) -> None:
    torch.set_num_threads(1)
    distributed = "WORLD_SIZE" in os.environ  # launched by torchrun
    if distributed:
        dist.init_process_group("gloo")
    for mode in modes.split(","):
        run(mode, Path(out))
    if distributed:
        dist.destroy_process_group()


def check(out: Path, distributed: bool) -> None:
    """A small coordinate check; rank 0 writes out/check-<single|distributed>/results.json."""
    from own_model_fixture import batch as fixed_batch
    from own_model_fixture import make

    import abcparam
    from abcparam.coordcheck import check as coord_check

    where = out / ("check-distributed" if distributed else "check-single")
    coord_check(
        make,
        abcparam.rules("mup", optimizer="adam"),
        fixed_batch,
        widths=(32, 64),
        steps=2,
        seeds=2,
        progress=False,
        out=where,
        distributed=distributed,
    )


def run(mode: str, out: Path) -> None:
    if mode == "check":
        return check(out, dist.is_initialized())
    rank, world = 0, 1
    if mode != "single":
        rank, world = dist.get_rank(), dist.get_world_size()
    model, spec = build("user")  # the same seed: the same init on every rank
    wrapped = model if mode == "single" else wrap(model, mode)
    groups = param_groups(wrapped, spec, lr=1e-2, weight_decay=0.1)
    opt = torch.optim.AdamW(groups)
    losses = []
    for step in range(STEPS):
        x, y = batch(step, size=SIZE)
        x, y = x[rank::world], y[rank::world]
        opt.zero_grad()
        loss = loss_of(wrapped, x, y)
        loss.backward()
        opt.step()
        mean = loss.detach().clone()
        if world > 1:
            dist.all_reduce(mean)
            mean /= world
        losses.append(mean.item())
    settings = [
        {k: g[k] for k in ("param_names", "kinds", "lr", "eps", "weight_decay")}
        for g in opt.param_groups
    ]
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        payload = {"mode": mode, "world": world, "losses": losses, "groups": settings}
        (out / f"{mode}.json").write_text(json.dumps(payload))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
