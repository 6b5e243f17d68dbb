"""Plain checkpoints of parametrized models (issue 27 item 1): folded multipliers, the surviving
ones saved and re-applied, save_pretrained / torch.save round trips, the optimizer state."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
from checkpoint_models import (  # noqa: E402
    BASE,
    MODELS,
    WIDTH,
    batch,
    build,
    logits,
    loss_of,
    optimizer,
    roundtrip,
    spec_of,
    train,
)

import abcparam  # noqa: E402
from abcparam.torch import load, param_groups, parametrize  # noqa: E402
from abcparam.torch.checkpoint import KEY, decode  # noqa: E402

pytest.importorskip("transformers")
TOL = 1e-5


@pytest.fixture(autouse=True)
def _quiet():
    import transformers

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()


@pytest.mark.parametrize(
    "name, path",
    [
        ("llama", "pretrained"),
        ("llama", "state_dict"),
        ("llama-tied", "pretrained"),
        ("llama-tied", "state_dict"),
        ("gpt2", "pretrained"),
        ("gpt2", "state_dict"),
        ("user", "state_dict"),
    ],
)
def test_roundtrip_gives_the_same_logits_and_resumes(name, path):
    """Saved after two AdamW steps, reloaded into a fresh model: the same logits, and one more
    step with the reloaded optimizer state gives the same logits again."""
    diff = roundtrip(name, path)
    assert diff["logits"] <= TOL and diff["after_step"] <= TOL, diff


@pytest.mark.parametrize("name", list(MODELS))
def test_state_dict_has_the_models_own_keys(name):
    """No parametrizations.*.original: the keys of the plain model, plus the abcparam entry
    exactly when a multiplier survives (here: attention scales at width 2 x base, tied uses)."""
    model, spec = build(name)
    plain = MODELS[name](WIDTH)
    keys, own = set(model.state_dict()), set(plain.state_dict())
    assert keys - own == ({KEY} if spec.surviving else set())
    assert own <= keys
    if spec.surviving:
        assert decode(model.state_dict()[KEY]) == spec.surviving


def test_untied_llama_at_the_base_width_is_a_plain_checkpoint(tmp_path):
    """Nothing survives at the base width of an untied model: plain from_pretrained suffices."""
    from transformers import LlamaForCausalLM

    model, spec = build("llama", width=BASE)
    assert spec.surviving == {} and KEY not in model.state_dict()
    train(model, optimizer(model, spec), 2)
    model.save_pretrained(tmp_path)
    back = LlamaForCausalLM.from_pretrained(tmp_path)
    x, _ = batch(5)
    with torch.no_grad():
        assert (logits(model, x) - logits(back, x)).abs().max() <= TOL


def test_plain_loading_of_surviving_multipliers_is_refused_or_reported(tmp_path):
    """A plain model cannot silently take a checkpoint whose multipliers survive (GPT-2's fused
    c_attn cannot carry the attention scale): a strict load_state_dict raises naming the abcparam
    entry; a plain from_pretrained raises naming abcparam.torch.load."""
    from transformers import GPT2LMHeadModel

    model, spec = build("gpt2")
    assert "attention" in spec.surviving
    with pytest.raises(RuntimeError, match=r"abcparam\._extra_state"):
        MODELS["gpt2"](WIDTH).load_state_dict(model.state_dict())
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"abcparam\.torch\.load"):
        GPT2LMHeadModel.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="carries abcparam multipliers"):
        state = {k: v for k, v in model.state_dict().items() if k != KEY}
        load(build("gpt2", seed=1)[0], state)


def test_restore_names_a_missing_module():
    model, _ = build("user")
    state = model.state_dict()
    other, _ = build("llama")
    with pytest.raises(ValueError, match="does not have"):
        load(other, state, strict=False)


@pytest.mark.parametrize("optimizer_name", ["adamw", "sgd"])
@pytest.mark.parametrize("name", ["user", "llama-tied"])
def test_folded_trains_like_the_multiplier_form(name, optimizer_name):
    """The fold is the abc-symmetry: fold=None and fold=False give the same losses over three
    steps (same init draws; init, LR, epsilon and decay shifted by the engine)."""
    rules = abcparam.rules("mup", optimizer=optimizer_name)
    losses = {}
    for fold in (None, False):
        torch.manual_seed(0)
        model = MODELS[name](WIDTH)
        with torch.device("meta"):
            base = MODELS[name](BASE)
        spec = parametrize(model, rules, base=base, seed=0, fold=fold)
        groups = param_groups(model, spec, lr=3e-2 if optimizer_name == "sgd" else 1e-2)
        opt = (torch.optim.SGD if optimizer_name == "sgd" else torch.optim.AdamW)(groups)
        losses[fold] = train(model, opt, 3)
    assert losses[None] == pytest.approx(losses[False], abs=TOL)
    assert losses[None][2] != losses[None][0]  # it trained


def test_optimizer_state_round_trips_with_its_groups(tmp_path):
    """The saved optimizer's groups (per-layer lr, eps, weight decay, names) come back equal, and
    match the groups a reloaded model's spec derives (parametrize(init=False))."""
    model, spec = build("llama")
    opt = optimizer(model, spec)
    train(model, opt, 1)
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    model.save_pretrained(tmp_path)
    back = load(tmp_path)
    again = optimizer(back, spec_of(back, "llama"))
    keys = ("lr", "eps", "weight_decay", "param_names", "kinds", "optimizer")
    fresh_groups = [{k: g[k] for k in keys} for g in again.param_groups]
    again.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    assert [{k: g[k] for k in keys} for g in again.param_groups] == fresh_groups
    assert [{k: g[k] for k in keys} for g in opt.param_groups] == fresh_groups
    assert len({g["lr"] for g in fresh_groups}) > 1  # per-layer settings, not one LR
    for p, q in zip(opt.param_groups[0]["params"], again.param_groups[0]["params"]):
        assert torch.equal(opt.state[p]["exp_avg"], again.state[q]["exp_avg"])


def test_parametrize_init_false_keeps_the_tensors():
    model, spec = build("gpt2")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    again = spec_of(model, "gpt2")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.lr_scale for p in again.params] == [p.lr_scale for p in spec.params]


def test_fold_rejects_a_bad_value():
    with pytest.raises(ValueError, match="fold = 'yes'"):
        build("user", fold="yes")


def test_loss_is_finite_after_reload(tmp_path):
    model, spec = build("gpt2")
    model.save_pretrained(tmp_path)
    back = load(tmp_path)
    x, y = batch(3)
    assert torch.isfinite(loss_of(back, x, y))


def _granite(width: int):
    from transformers import GraniteConfig, GraniteForCausalLM

    config = GraniteConfig(
        vocab_size=61,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        embedding_multiplier=12.0,
        residual_multiplier=0.22,
        attention_multiplier=0.05,
        logits_scaling=4.0,
    )
    return GraniteForCausalLM(config)


def test_granite_keeps_its_multipliers_in_its_own_config(tmp_path):
    """Granite's config has fields for what folding leaves (attention_multiplier,
    logits_scaling): nothing is left for abcparam, and plain from_pretrained reloads the model;
    re-applying does not stack the factors."""
    from transformers import GraniteForCausalLM

    rules = abcparam.rules("mup", optimizer="adamw")
    torch.manual_seed(0)
    model = _granite(WIDTH)
    with torch.device("meta"):
        base = _granite(BASE)
    for _ in range(2):
        spec = parametrize(model, rules, base=base, seed=0)
    assert spec.surviving == {} and KEY not in model.state_dict()
    ratio = WIDTH / BASE
    assert model.config.attention_multiplier == pytest.approx(0.05 / ratio)  # s0 (d/d0)^-1
    readout = 1 / ratio / BASE**0.5  # the tied readout use: (n/n0)^-1 / sqrt(n0)
    assert model.config.logits_scaling == pytest.approx(4.0 / readout)
    model.save_pretrained(tmp_path)
    back = GraniteForCausalLM.from_pretrained(tmp_path)
    x, _ = batch(2)
    with torch.no_grad():
        assert (logits(model, x) - logits(back, x)).abs().max() <= TOL


def test_builtin_gpt_and_depth_multipliers_round_trip():
    """abcparam's own layers keep their multipliers as attributes; with the attention scale and
    a residual branch's L^-alpha they are saved in the state_dict and come back with load()."""
    from abcparam.torch import GPT, ResidualMLP

    cases = [
        (GPT, 64, {"base_width": 32}, abcparam.rules("mup", optimizer="adam"), "idx"),
        (
            lambda w: ResidualMLP(w, depth=4),
            64,
            {"base_width": 32, "base_depth": 2},
            abcparam.rules("depth-mup", optimizer="adam"),
            "x",
        ),
    ]
    for make, width, kw, rules, inputs in cases:
        torch.manual_seed(0)
        model = make(width)
        spec = parametrize(model, rules, seed=0, **kw)
        assert spec.surviving.get("uses")
        x = (
            torch.randint(0, 60, (2, 8))
            if inputs == "idx"
            else torch.randn(4, model.config["in_dim"])
        )
        state = model.state_dict()
        back = load(make(width), state)
        with torch.no_grad():
            assert (model(x) - back(x)).abs().max() <= TOL
        if rules.has_depth:
            assert spec.surviving["branch"] and all(
                b.branch_multiplier == pytest.approx(2**-0.5) for b in back.blocks
            )


def test_recorder_measures_a_folded_model_like_the_multiplier_form():
    """The coordinate check's statistics (outputs, changes, effective weight updates, alignment
    terms) of the tied user model agree between fold=None and fold=False: the recorder reads a
    tied use's hook as the layer's multiplier."""
    import torch.nn.functional as F

    from abcparam.coordcheck.record import Recorder
    from abcparam.coordcheck.train import train as check_train

    layers = [("embed", "embedding"), ("blocks.0", "hidden"), ("head", "readout")]
    rules = abcparam.rules("mup", optimizer="adam")
    found = {}
    for fold in (None, False):
        torch.manual_seed(0)
        model = MODELS["user"](WIDTH)
        with torch.device("meta"):
            base = MODELS["user"](BASE)
        spec = parametrize(model, rules, base=base, seed=0, fold=fold)
        opt = torch.optim.Adam(param_groups(model, spec, lr=1e-2))
        recorder = Recorder(model, layers, True, width=WIDTH, seed=0)
        records: list = []

        def loss(out, y):
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

        check_train(model, opt, loss, [batch(0)] * 2, recorder, records, [])
        found[fold] = records
    assert len(found[None]) == len(found[False]) == 3 * len(layers)
    for a, b in zip(found[None], found[False]):
        for key in ("output", "delta", "update", "term_alpha", "term_omega"):
            x, y = getattr(a, key), getattr(b, key)
            if x is None or y is None:
                assert x is None and y is None
                continue
            assert x == pytest.approx(y, rel=1e-3, abs=1e-7), (a.layer, a.step, key)


def test_load_refuses_weights_whose_config_lost_the_abcparam_section(tmp_path):
    import json

    model, _ = build("gpt2")
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["abcparam"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no abcparam section"):
        load(tmp_path)


@pytest.mark.parametrize("name", ["llama-tied", "gpt2"])
def test_parametrize_twice_folds_once(name):
    """Re-applying re-initialises and re-sets the hooks and scales, never stacking them."""
    once, spec = build(name)
    twice, _ = build(name)
    again = parametrize(
        twice, abcparam.rules("mup", optimizer="adamw"), base=build(name, width=BASE)[0], seed=0
    )
    assert again.surviving == spec.surviving
    x, _ = batch(4)
    with torch.no_grad():
        assert (logits(once, x) - logits(twice, x)).abs().max() <= TOL
