"""DDP and FSDP2 on two CPU processes (gloo; issue 27 item 3): parametrize before wrapping,
param_groups after wrapping; per-layer settings and 3 losses equal the single-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parents[1]
WORKER = HERE / "distributed_worker.py"
TOL = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    root = str(HERE.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}", "OMP_NUM_THREADS": "1"}


def _run(args: list[str], timeout: int = 240) -> None:
    done = subprocess.run(
        args, env=_env(), capture_output=True, text=True, timeout=timeout, cwd=HERE.parent
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("distributed")
    _run([sys.executable, str(WORKER), "single,check", str(out)])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    port = ["--master_port", str(_free_port())]
    _run([*torchrun, *port, str(WORKER), "ddp,fsdp,check", str(out)])
    found = {m: json.loads((out / f"{m}.json").read_text()) for m in ("single", "ddp", "fsdp")}
    for m in ("single", "distributed"):
        found[f"check-{m}"] = json.loads((out / f"check-{m}" / "results.json").read_text())
    return found


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_train_like_one(results, mode):
    single, run = results["single"], results[mode]
    assert run["world"] == 2
    assert run["groups"] == single["groups"]  # the same per-layer lr, eps, decay and names
    assert len({g["lr"] for g in single["groups"]}) > 1
    assert run["losses"] == pytest.approx(single["losses"], abs=TOL)
    assert single["losses"][-1] < single["losses"][0]


def test_distributed_coordinate_check_matches_one_process(results):
    """check(..., distributed=True): the runs shared by two ranks, rank 0's results.json has the
    one-process records and fits (to 1e-5 relative)."""
    one, two = results["check-single"], results["check-distributed"]
    assert set(one) == set(two)
    for key in ("records", "fits"):
        assert len(one[key]) == len(two[key]) > 0
        for a, b in zip(one[key], two[key]):
            assert a.keys() == b.keys()
            for k, v in a.items():
                if isinstance(v, float):
                    assert b[k] == pytest.approx(v, rel=1e-5, abs=1e-9), (key, k)
                else:
                    assert b[k] == v, (key, k)
