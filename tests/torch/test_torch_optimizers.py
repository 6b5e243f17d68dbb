"""The torch side builds every engine optimizer name, Lion and sign descent, Muon plans and the
derived weight decay."""

import pytest
import torch

import abcparam
from abcparam.engine.optimizers import OPTIMIZERS
from abcparam.torch import MLP, Lion, OptimizerList, build_optimizer, parametrize
from abcparam.torch.optim import OPTIMIZER_NAMES


def _model(width=64, optimizer="adam", **kw):
    torch.manual_seed(0)
    model = MLP(width)
    spec = parametrize(model, abcparam.rules("mup", optimizer=optimizer, **kw), base_width=32)
    return model, spec


def _step(model, opt):
    torch.manual_seed(1)
    x = torch.randn(16, model.embedding.weight.shape[1])
    loss = model(x).pow(2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def test_one_list_of_names():
    assert OPTIMIZER_NAMES == tuple(OPTIMIZERS)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_every_engine_optimizer_builds_and_steps(name):
    model, spec = _model(optimizer=name)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = build_optimizer(model, spec, lr=1e-3)
    assert _step(model, opt) == pytest.approx(_step(model, opt), rel=0.5)
    moved = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert len(moved) == len(before)


def test_lion_and_sign_steps():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    p.grad = torch.tensor([0.5, -0.1, 0.0])
    Lion([p], lr=0.1, betas=(0.0, 0.0)).step()
    assert torch.allclose(p.detach(), torch.tensor([0.9, -1.9, 3.0]))
    q = torch.nn.Parameter(torch.zeros(2))
    opt = Lion([q], lr=1.0, betas=(0.9, 0.99), weight_decay=0.0)
    q.grad = torch.tensor([1.0, -1.0])
    opt.step()
    q.grad = torch.tensor([-0.05, -0.05])  # 0.9 * m + 0.1 * g keeps the sign of m = 0.01 g_1
    opt.step()
    assert torch.allclose(q.detach(), torch.tensor([-2.0, 2.0]))
    with pytest.raises(ValueError, match="invalid lr"):
        Lion([q], lr=-1)


def test_muon_plan_puts_muon_on_hidden_matrices_only():
    model, spec = _model(optimizer="muon")
    opt = build_optimizer(model, spec, lr=0.02)
    assert isinstance(opt, OptimizerList)
    muon = next(o for o in opt.optimizers if isinstance(o, torch.optim.Muon))
    names = {n for g in muon.param_groups for n in g["param_names"]}
    assert names == {n for n, p in model.named_parameters() if n.startswith("hidden")}
    assert all(g["weight_decay"] == 0.0 for g in muon.param_groups)
    w0 = model.hidden[0].weight.detach().clone()
    _step(model, opt)
    dw = (model.hidden[0].weight.detach() - w0) / 0.02  # square: the original factor is 1
    s = torch.linalg.svdvals(dw.float())
    assert 0.5 < float(s[: min(16, len(s))].mean()) < 1.5  # orthogonalised: unit singular values


def test_coupled_decay_keeps_lr_times_lambda_across_widths():
    products = []
    for width in (64, 128, 256):
        model, spec = _model(width, optimizer="adamw")
        opt = build_optimizer(model, spec, lr=1e-3, weight_decay=0.1)
        products.append(
            {n: g["lr"] * g["weight_decay"] for g in opt.param_groups for n in g["param_names"]}
        )
    for name in products[0]:
        assert products[0][name] == pytest.approx(products[-1][name])
    model, spec = _model(256, optimizer="adamw", weight_decay="independent")
    opt = build_optimizer(model, spec, lr=1e-3, weight_decay=1e-4)
    for g in opt.param_groups:  # p <- p(1 - lr * wd) = p(1 - 1e-4): independent of the lr
        assert g["lr"] * g["weight_decay"] == pytest.approx(1e-4)


def test_muon_on_a_vector_is_a_clear_error():
    from abcparam.torch.optim import make_optimizer

    groups = [{"params": [torch.nn.Parameter(torch.zeros(3))], "name": "b", "kinds": ["hidden"]}]
    with pytest.raises(ValueError, match="orthogonalises matrices; parameter 'b'"):
        make_optimizer("hidden=muon,default=adamw", groups, lr=0.1)
    with pytest.raises(ValueError, match="needs its 'kinds'"):
        make_optimizer("muon", [{"params": [torch.nn.Parameter(torch.zeros(3, 3))]}], lr=0.1)


@pytest.mark.parametrize("adjust", ["original", "match_rms_adamw"])
def test_cpu_muon_matches_torchs(adjust):
    from abcparam.torch import Muon

    torch.manual_seed(0)
    w1 = torch.nn.Parameter(torch.randn(48, 24))
    w2 = torch.nn.Parameter(w1.detach().clone())
    ours = Muon([w1], lr=0.1, weight_decay=0.01, adjust_lr_fn=adjust)
    theirs = torch.optim.Muon([w2], lr=0.1, weight_decay=0.01, adjust_lr_fn=adjust)
    for _ in range(3):
        g = torch.randn(48, 24)
        w1.grad, w2.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    moved = (w2.detach() - w1.detach()).abs().max()
    assert float(moved) < 0.01  # bfloat16 rounding in torch's iteration, float32 in ours
