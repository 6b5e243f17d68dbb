"""``abcparam sweep --batched`` / ``run_sweep(batched=True)``: the same losses as the unbatched
sweep, and a clear refusal of what the batched trainer cannot train."""

import json

import pytest

from abcparam.cli import main
from abcparam.transfer import grid, run_sweep


def _losses(folder) -> dict[str, float]:
    rows = [json.loads(x) for x in (folder / "runs.jsonl").read_text().splitlines()]
    return {r["key"]: r["val_loss"] for r in rows}


@pytest.mark.parametrize(
    ("model", "optimizer"), [("mlp", "adam"), ("transformer", "adam"), ("mlp", "muon")]
)
def test_batched_cli_equals_unbatched(tmp_path, model, optimizer):
    argv = ["sweep", "--model", model, "--optimizer", optimizer, "--schemes", "mup"]
    argv += ["--widths", "32,64", "--lrs=-7:-6", "--seeds", "2", "--steps", "3", "--workers", "1"]
    assert main([*argv, "--out", str(tmp_path / "plain")]) == 0
    assert main([*argv, "--out", str(tmp_path / "batched"), "--batched"]) == 0
    plain, batched = _losses(tmp_path / "plain"), _losses(tmp_path / "batched")
    assert set(plain) == set(batched) and len(plain) == 2 * 2 * 2
    rows = [json.loads(x) for x in (tmp_path / "batched" / "runs.jsonl").read_text().splitlines()]
    assert {r["trainer"] for r in rows} == {"batched"}
    for key, loss in plain.items():
        assert batched[key] == pytest.approx(loss, abs=1e-5), key
    assert json.loads((tmp_path / "batched" / "config.json").read_text())["batched"] is True


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--optimizer", "sgd"], "optimizer 'sgd' (sgd; batched: adam"),
        (["--optimizer", "adafactor"], "optimizer 'adafactor'"),
        (["--backend", "ray"], "backend 'ray'"),
    ],
)
def test_batched_cli_refuses_unsupported(capsys, tmp_path, extra, fragment):
    argv = ["sweep", "--batched", "--widths", "32,64", "--lrs=-8:-7", "--steps", "2", *extra]
    assert main([*argv, "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert fragment in err[0] or "Ray" in err[0], err[0]
    assert not (tmp_path / "s" / "runs.jsonl").exists()


def test_batched_api_refuses_before_training(tmp_path):
    configs = grid("transformer", ["mup"], "adam", [32, 64], [-8.0], 1, steps=2)
    from dataclasses import replace

    configs = [replace(c, qk_layernorm=True, z_loss=1e-4) for c in configs]
    with pytest.raises(ValueError, match=r"z_loss = 0.0001 \(batched: 0\); qk_layernorm"):
        run_sweep(configs, tmp_path / "runs.jsonl", batched=True)
    assert not (tmp_path / "runs.jsonl").exists()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"warmup": 5}, "warmup = 5"),
        ({"optimizer": "adamw", "weight_decay": 1e-3}, "independent weight_decay = 0.001"),
        ({"eps": 3e-4, "scale_eps": False}, "eps = 0.0003, scale_eps = False"),
    ],
)
def test_batched_refuses_the_forecast_settings(tmp_path, change, named):
    from dataclasses import replace

    configs = grid("mlp", ["mup"], "adam", [32, 64], [-8.0], 1, steps=2)
    configs = [replace(c, **change) for c in configs]
    with pytest.raises(ValueError, match=named):
        run_sweep(configs, tmp_path / "runs.jsonl", batched=True)
    assert not (tmp_path / "runs.jsonl").exists()
