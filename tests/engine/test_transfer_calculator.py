"""The proxy-to-target calculator: every value labelled and explained, rules move values as
derived, bad input is one line (CLI exit 2)."""

import json
import math
import subprocess
import sys
import warnings

import pytest

import abcparam
from abcparam.engine.fitted import OutsideFittedRange

BASE = {
    "width": 256,
    "depth": 4,
    "batch": 32,
    "steps": 2000,
    "lr": 3e-3,
    "weight_decay": 0.1,
    "warmup": 100,
}
TARGET = {"width": 4096, "depth": 24, "batch": 256, "steps": 50000}


def test_issue_example_every_value_labelled_and_explained():
    result = abcparam.transfer(
        base=BASE,
        target=TARGET,
        scheme="completep",
        optimizer="adamw",
        rules=("sde-batch", "ema-timescale"),
    )
    names = {v.name for v in result.values}
    assert {"lr", "eps", "beta1", "beta2", "weight_decay", "warmup"} <= names
    for value in result.values:
        assert value.label in ("derived", "fitted", "convention", "unchanged")
        assert math.isfinite(value.target) and value.target >= 0
        for move in value.moves:
            assert move.why and move.rule
        # the moves multiply to the value's change
        assert value.target == pytest.approx(value.base * math.prod(m.factor for m in value.moves))
    assert result.schedule["decay_start"] == 45000 and result.schedule["warmup"] == 2500
    d = json.loads(result.to_json())
    assert d["values"] and d["schedule"]["type"] == "warmup-stable-decay"
    assert "| lr | hidden |" in result.to_markdown()


def test_sde_batch_x4_doubles_adam_lr_and_scales_beta_eps():
    result = abcparam.transfer(
        base={"width": 128, "batch": 16, "steps": 1000, "lr": 1e-3, "beta1": 0.9, "beta2": 0.99},
        target={"batch": 64, "steps": 250},
        scheme="mup",
        optimizer="adam",
        rules=("sde-batch",),
    )
    for kind in ("hidden", "embedding", "readout"):
        assert result["lr", kind].target == pytest.approx(2e-3)
        assert result["eps", kind].target == pytest.approx(0.5e-8)
    assert result["beta1"].target == pytest.approx(1 - 0.4)
    assert result["beta2"].target == pytest.approx(1 - 0.04)
    assert not result.notes  # steps ÷ 4 with batch × 4: the SDE rule's exact setting


def test_sgd_linear_rule_through_calculator():
    result = abcparam.transfer(
        base={"width": 64, "batch": 8, "steps": 100, "lr": 0.1},
        target={"batch": 32, "steps": 25},
        optimizer="sgd",
        rules=("sde-batch",),
    )
    assert result["lr", "hidden"].target == pytest.approx(0.4)


@pytest.mark.parametrize("convention", ["coupled", "independent"])
def test_ema_timescale_keeps_each_layers_tau_epoch(convention):
    base = {"width": 256, "batch": 32, "steps": 2000, "lr": 3e-3, "weight_decay": 0.1}
    target = {"width": 1024, "batch": 128, "steps": 8000}
    result = abcparam.transfer(
        base, target, rules=("sde-batch", "ema-timescale"), weight_decay=convention
    )

    def tau_epoch(lr, wd, batch, steps):  # one pass over fresh data: D = steps · batch
        per_step = lr * wd if convention == "coupled" else wd
        return batch / (per_step * steps * batch)

    for kind in ("hidden", "readout", "embedding"):
        wd = result["weight_decay", kind]
        lr = result["lr", kind]
        before = tau_epoch(lr.base, wd.base, 32, 2000)
        after = tau_epoch(lr.target, wd.target, 128, 8000)
        # coupled: the width factor of η cancels in ηλ; independent: λ is the per-step decay
        assert after == pytest.approx(before), kind
        assert wd.label == "derived"


def test_fixed_dataset_decay_scales_with_batch():
    """Multi-epoch on a fixed dataset: independent λ ∝ B (Power Lines' λ* ∝ B at fixed N, D)."""
    result = abcparam.transfer(
        {"width": 64, "batch": 32, "steps": 1000, "lr": 1e-3, "wd": 1e-4, "data": 10_000},
        {"batch": 128, "steps": 250},
        rules=("ema-timescale",),
        weight_decay="independent",
    )
    assert result["weight_decay", "hidden"].target == pytest.approx(4e-4)
    assert not any("epochs change" in n for n in result.notes)  # 3.2 epochs on both sides


def test_a_change_of_epochs_is_noted():
    """τ_epoch kept across a change in the passes over a fixed dataset: λ does not move with
    the horizon, and the answer says that this extrapolates the rule (a note naming the epochs)."""
    result = abcparam.transfer(
        {"width": 64, "batch": 32, "steps": 1000, "lr": 1e-3, "wd": 1e-4, "data": 10_000},
        {"steps": 4000},
        rules=("ema-timescale",),
        weight_decay="independent",
    )
    assert result["weight_decay", "hidden"].target == pytest.approx(1e-4)
    (note,) = [n for n in result.notes if "epochs change" in n]
    assert "3.2 → 12.8" in note


def test_without_rules_nothing_moves_but_width():
    result = abcparam.transfer(
        {"width": 64, "batch": 32, "steps": 1000, "lr": 1e-3},
        {"width": 256, "batch": 128},
        rules=(),
    )
    assert result["lr", "hidden"].target == pytest.approx(2.5e-4)  # μP: 1/n
    assert result["beta1"].label == "unchanged" and result.notes


def test_step_law_opt_in_and_outside_range_warns():
    base = {"width": 256, "depth": 4, "batch": 32, "steps": 2000, "lr": 3e-3, "sequence": 1024}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inside = abcparam.transfer(base, {"steps": 8000}, rules=("step-law",))
    assert not [w for w in caught if issubclass(w.category, OutsideFittedRange)]
    assert inside["lr", "hidden"].label == "fitted"
    assert inside["lr", "hidden"].factor == pytest.approx(4**0.307)
    with pytest.warns(OutsideFittedRange, match="fitted range"):
        far = abcparam.transfer(base, {"steps": 10_000_000, "batch": 4096}, rules=("step-law",))
    assert far.warnings


@pytest.mark.parametrize(
    ("base", "target", "kw", "match"),
    [
        ({**BASE, "colour": 1}, TARGET, {}, "unknown base key 'colour'"),
        (BASE, {"width": -4}, {}, "target width = -4"),
        (BASE, {"batch": 64, "data": 10}, {}, "above its data"),
        ({"width": 64, "batch": 8, "steps": 10}, {}, {}, "missing lr"),
        (BASE, TARGET, {"rules": ("sde-batch", "magic")}, "unknown rule 'magic'"),
        (BASE, TARGET, {"rules": ("sde-batch", "step-law")}, "accepted: one of them"),
        (BASE, TARGET, {"weight_decay": "sideways"}, "coupled"),
        ({**BASE, "warmup": 5000}, TARGET, {}, "warmup"),
    ],
)
def test_bad_input(base, target, kw, match):
    with pytest.raises(ValueError, match=match):
        abcparam.transfer(base, target, **kw)


def _cli(*args):
    code = "import sys; from abcparam.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "transfer", *args], capture_output=True, text=True
    )


def test_cli_markdown_json_and_errors():
    common = ["--from", "width=256,batch=32,steps=2000,lr=3e-3,wd=0.1", "--scheme", "mup"]
    out = _cli(*common, "--to", "width=4096,batch=256,steps=50000", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    hidden = next(v for v in data["values"] if v["name"] == "lr" and v["layer"] == "hidden")
    assert hidden["target"] == pytest.approx(3e-3 / 16 * 8**0.5)
    md = _cli(*common, "--to", "width=4096")
    assert md.returncode == 0 and "| weight_decay | hidden |" in md.stdout
    for bad, word in (("widht=4096", "widht"), ("width=-1", "-1"), ("batch=64,data=8", "data")):
        err = _cli(*common, "--to", bad)
        assert err.returncode == 2 and word in err.stderr
        assert len(err.stderr.strip().splitlines()) == 1


def test_calculator_and_cli_run_without_the_torch_extra():
    """``abcparam.transfer(...)`` and ``abcparam transfer`` are engine work: no torch, matplotlib
    or tqdm (made unimportable here, as in an install without the extra)."""
    from test_light_install import WITHOUT_EXTRA

    code = WITHOUT_EXTRA + (
        "import abcparam\n"
        "r = abcparam.transfer({'width': 64, 'batch': 8, 'steps': 100, 'lr': 1e-3}, {'width': 128})\n"
        "assert r['lr', 'hidden'].target == 5e-4\n"
        "from abcparam.cli import main\n"
        "sys.exit(main(['transfer', '--from', 'width=64,batch=8,steps=100,lr=1e-3', '--to', 'width=128']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "| lr | hidden |" in done.stdout
