"""Sweeps of the user's own model (``package.module:factory`` + a batch function), locally and on
Ray (a local 2-CPU Ray instance): same results, resume skips finished runs, failures cancel."""

from __future__ import annotations

import json
import math

import pytest

from abcparam.cli import main
from abcparam.transfer import grid, run_sweep
from abcparam.transfer.sweep import finished

OWN = dict(batch_fn="own_model_fixture:batch", steps=3, base_width=32, batch=32)


def _configs():
    return grid("own_model_fixture:make", ["mup"], "adam", [32, 64], [-8.0, -6.0], 1, **OWN)


def test_own_model_sweep_runs_and_resumes(tmp_path):
    path = tmp_path / "runs.jsonl"
    rows = run_sweep(_configs(), path, workers=1, progress=False)
    assert len(rows) == 4 and all(math.isfinite(r["val_loss"]) for r in rows)
    assert {r["width"] for r in rows} == {32, 64}
    assert all(r["batch_fn"] == "own_model_fixture:batch" for r in rows)
    lines = path.read_text()
    again = run_sweep(_configs(), path, workers=1, progress=False)  # all finished: nothing runs
    assert path.read_text() == lines and again == rows


def test_own_model_sweep_errors_are_named(tmp_path):
    with pytest.raises(ValueError, match="needs batch_fn"):
        grid("own_model_fixture:make", ["mup"], "adam", [32], [-6.0], 1)
    with pytest.raises(ValueError, match="cannot import 'no_such_pkg.mod'"):
        grid("no_such_pkg.mod:make", ["mup"], "adam", [32], [-6.0], 1, batch_fn="x:y")
    with pytest.raises(ValueError, match="batch_fn is for a user model"):
        grid("mlp", ["mup"], "adam", [32], [-6.0], 1, batch_fn="own_model_fixture:batch")


def test_cli_sweep_of_own_model(tmp_path, capsys):
    out = tmp_path / "sweep"
    common = ["--widths", "32,64", "--lrs=-7:-6", "--seeds", "1", "--steps", "3"]
    code = main(
        ["sweep", "--model", "own_model_fixture:make", "--batch", "own_model_fixture:batch",
         "--schemes", "mup", "--base-width", "32", "--workers", "1", *common, "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["model"] for r in rows} == {"own_model_fixture:make"}
    assert "mup" in (out / "summary.md").read_text()
    code = main(["sweep", "--model", "own_model_fixture:make", *common, "--out", str(out)])
    assert code == 2 and "needs --batch" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_sweep_of_own_model_matches_local_and_resumes(tmp_path, ray_cluster):
    configs = _configs()
    local = run_sweep(configs, tmp_path / "local.jsonl", workers=1, progress=False)
    path = tmp_path / "ray.jsonl"
    # two runs already finished: the Ray sweep runs only the other two
    path.write_text("".join(json.dumps(r) + "\n" for r in local[:2]))
    by_ray = run_sweep(configs, path, backend="ray", progress=False)
    assert [r["val_loss"] for r in by_ray] == pytest.approx([r["val_loss"] for r in local])
    assert len(path.read_text().splitlines()) == 4 and set(finished(path)) == {
        c.key for c in configs
    }
    # a failing run stops the sweep (the others cancelled); finished lines stay for the rerun
    bad = grid("own_model_fixture:make", ["mup"], "adam", [32], [-7.0], 1, **OWN)
    bad = [c.__class__(**{**c.__dict__, "batch_fn": "own_model_fixture:no_seed"}) for c in bad]
    with pytest.raises(Exception, match="argument"):
        run_sweep(configs + bad, path, backend="ray", progress=False)
    assert len(path.read_text().splitlines()) == 4


def test_ray_tasks_ask_for_gpus_on_cuda(monkeypatch, tmp_path):
    """Each CUDA run's Ray task asks for gpus_per_run GPUs; a CPU run for none (a stand-in Ray
    module records what the tasks ask for, so no GPU is needed)."""
    import sys

    asked = []

    class Task:
        def options(self, **options):
            assert "PYTHONPATH" in options["runtime_env"]["env_vars"]
            return self

        def remote(self, config):
            return config

    class FakeRay:
        def init(self, **kwargs):
            pass

        def remote(self, **resources):
            asked.append(resources)
            return lambda fn: Task()

        def wait(self, pending, num_returns):
            return pending[:1], pending[1:]

        def get(self, config):
            return {"key": config.key, "val_loss": 1.0}

    monkeypatch.setitem(sys.modules, "ray", FakeRay())
    import abcparam.transfer.sweep as sweep_module

    # this machine has no CUDA: skip the before-work device check (tested on its own elsewhere)
    monkeypatch.setattr(sweep_module, "_check_sizes", lambda *args, **kwargs: None)
    cuda = grid("mlp", ["mup"], "adam", [32], [-6.0, -5.0], 1, device="cuda", steps=1)
    cpu = grid("mlp", ["mup"], "adam", [32], [-6.0], 1, steps=1)
    rows = run_sweep(
        cuda + cpu, tmp_path / "r.jsonl", backend="ray", progress=False, gpus_per_run=0.5
    )
    assert len(rows) == 3
    assert asked == [{"num_cpus": 1, "num_gpus": 0.5}, {"num_cpus": 1, "num_gpus": 0}]
