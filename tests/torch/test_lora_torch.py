"""LoRA adapters in torch: PEFT and the built-in wrapper apply the same derived settings, the
param groups carry the derived LR ratio, and the check in width and rank matches the rules at the
measured rank alignment (digits, a fast CPU version of experiments/lora_check.py)."""

import math

import pytest
import torch
from torch import nn

from abcparam.coordcheck.lora import lora_check
from abcparam.engine.lora import lora_rules
from abcparam.torch.lora import adapter_output, add_lora, lora_param_groups
from abcparam.transfer.data import digits


def _mlp(width: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10)
    )


@pytest.mark.parametrize("backend", ["builtin", "peft"])
def test_adapters_start_at_the_base_model_and_train_only_the_factors(backend):
    model = _mlp(32)
    x = torch.randn(8, 64)
    before = model(x)
    spec = add_lora(model, lora_rules("adam"), rank=4, target="2", backend=backend, seed=0)
    assert spec.backend == backend and [a.name for a in spec.adapters] == ["2"]
    assert torch.equal(model(x), before)  # B = 0
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_A" in n or "lora_B" in n for n in trainable)
    adapter = spec.adapters[0]
    assert adapter.multiplier == pytest.approx(1 / 4)  # alpha / r
    assert adapter.A.weight.std().item() == pytest.approx(32**-0.5, rel=0.2)
    with torch.no_grad():
        adapter.B.weight.fill_(1.0)
    assert torch.allclose(
        adapter_output(model.get_submodule("2"), x[:, :32]).sum(),
        torch.tensor((x[:, :32] @ adapter.A.weight.T).sum().item() * 32 / 4),
        rtol=1e-4,
    )


def test_builtin_and_peft_give_the_same_settings_and_outputs():
    specs, outputs = [], []
    x = torch.randn(8, 64)
    for backend in ("builtin", "peft"):
        model = _mlp(64)
        spec = add_lora(
            model,
            lora_rules("adam"),
            rank=8,
            target="2",
            backend=backend,
            seed=1,
            base_width=32,
            base_rank=2,
        )
        with torch.no_grad():
            spec.adapters[0].B.weight.normal_(generator=torch.Generator().manual_seed(2))
        specs.append(spec)
        outputs.append(model(x))
    assert torch.allclose(outputs[0], outputs[1], atol=1e-6)
    a, b = specs[0].adapters[0], specs[1].adapters[0]
    assert a.lr_scale == b.lr_scale and a.multiplier == b.multiplier


def test_param_groups_carry_loraplus_ratio_relative_to_the_base():
    model = _mlp(128)
    spec = add_lora(model, lora_rules("adam"), rank=4, target="2", base_width=32, base_rank=4)
    groups = {g["factor"]: g for g in lora_param_groups(spec, 1e-3, lr_ratio=2.0)}
    # A: eta / (n / n0) = 1e-3 / 4; B: 2e-3 (width-free): eta_B / eta_A = 2 * (n / n0)
    assert groups["A"]["lr"] == pytest.approx(2.5e-4) and groups["B"]["lr"] == pytest.approx(2e-3)
    with pytest.raises(ValueError, match="lr = 0; accepted: a positive"):
        lora_param_groups(spec, 0)
    with pytest.raises(ValueError, match="matches no nn.Linear of the model; its linear layers"):
        add_lora(_mlp(32), lora_rules("adam"), rank=2, target="attn.*")
    with pytest.raises(ValueError, match="rank = 0"):
        add_lora(_mlp(32), lora_rules("adam"), rank=0)


def test_lora_check_in_width_and_rank_on_digits():
    """Adam, 5 fresh-batch steps: the adapter's output is width-independent, and in the rank it
    follows the measured rank alignment, which lies strictly between 1/2 and 1 on a batch of 64
    digits (so neither alpha/r nor alpha/sqrt(r) is exact here)."""
    data = digits()

    def batch(seed):
        g = torch.Generator().manual_seed(seed)
        i = torch.randint(0, len(data.x_train), (64,), generator=g)
        return data.x_train[i], data.y_train[i]

    result = lora_check(
        _mlp,
        batch,
        lora_rules("adam"),
        widths=[64, 128, 256],
        ranks=[1, 4, 16],
        width_rank=4,
        rank_width=64,
        target="2",
        steps=5,
        seeds=2,
        lr=1e-3,
        fresh_batches=True,
        progress=False,
    )
    alignment = result["rank_alignment"]
    assert set(alignment) == {1, 2, 3, 4, 5}
    assert all(0.5 < a < 1.0 for a in alignment.values()), alignment
    assert all(v["pass"] for v in result["verdicts"]), result["verdicts"]
    assert all(math.isfinite(r["output"]) for r in result["records"])
    with pytest.raises(ValueError, match="at least 3 distinct"):
        lora_check(
            _mlp,
            batch,
            lora_rules("adam"),
            widths=[32, 64],
            ranks=[1, 2, 4],
            width_rank=2,
            rank_width=32,
            target="2",
        )
