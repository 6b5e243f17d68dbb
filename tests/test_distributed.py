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

HERE = Path(__file__).parent
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
    _run([sys.executable, str(WORKER), "single", str(out)])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    _run([*torchrun, "--master_port", str(_free_port()), str(WORKER), "ddp,fsdp", str(out)])
    return {m: json.loads((out / f"{m}.json").read_text()) for m in ("single", "ddp", "fsdp")}


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_train_like_one(results, mode):
    single, run = results["single"], results[mode]
    assert run["world"] == 2
    assert run["groups"] == single["groups"]  # the same per-layer lr, eps, decay and names
    assert len({g["lr"] for g in single["groups"]}) > 1
    assert run["losses"] == pytest.approx(single["losses"], abs=TOL)
    assert single["losses"][-1] < single["losses"][0]
