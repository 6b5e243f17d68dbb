"""Loading a parametrized model's checkpoint without abcparam (issue 27 item 1): the same logits,
or a clear error naming abcparam.torch.load, never other outputs.

The attention scale goes into q_proj (or the q-norm after it) and a tied readout's multiplier into
the final norm, along the abc-symmetry; what no tensor can carry (GPT-2's fused c_attn, a user
model's tied readout) makes a plain load raise."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
from checkpoint_models import (  # noqa: E402
    BASE,
    MODELS,
    VOCAB,
    WIDTH,
    batch,
    build,
    logits,
    optimizer,
    spec_of,
    train,
)

import abcparam  # noqa: E402
from abcparam.torch import param_groups, parametrize  # noqa: E402

pytest.importorskip("transformers")
TOL = 1e-5


@pytest.fixture(autouse=True)
def _quiet():
    import transformers

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def qwen3(width: int, kv_heads: int = 1):
    """RoPE, grouped keys/values (2 query heads, 1 kv head) and a q-norm after q_proj."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=VOCAB,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=kv_heads,
        head_dim=width // 2,
        tie_word_embeddings=False,
    )
    return Qwen3ForCausalLM(config)


def llama_gqa(width: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


FACTORIES = {**MODELS, "qwen3": qwen3, "llama-gqa": llama_gqa}


def _build(name: str, seed: int = 0, fold=None, optimizer_name: str = "adamw"):
    torch.manual_seed(seed)
    model = FACTORIES[name](WIDTH)
    with torch.device("meta"):
        base = FACTORIES[name](BASE)
    rules = abcparam.rules("mup", optimizer=optimizer_name)
    return model, parametrize(model, rules, base=base, seed=seed, fold=fold)


def _plain_load(name: str, model, tmp_path) -> torch.nn.Module:
    """The checkpoint loaded as a user without abcparam would: from_pretrained for a Hugging
    Face model, a strict load_state_dict into a fresh model otherwise."""
    if hasattr(model, "save_pretrained"):
        from transformers import AutoModelForCausalLM

        model.save_pretrained(tmp_path)
        return AutoModelForCausalLM.from_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    fresh = FACTORIES[name](WIDTH)
    fresh.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    return fresh


#: what a plain load of each model (width 2 x base) does: "equal" or the error it raises
PLAIN = {
    "llama": "equal",  # attention scale in q_proj
    "llama-tied": "equal",  # and the tied readout's multiplier in model.norm
    "llama-gqa": "equal",
    "qwen3": "equal",  # attention scale in the q-norm's gain
    "gpt2": (ValueError, r"abcparam\.torch\.load"),  # fused c_attn: the scale survives
    "user": (RuntimeError, r"abcparam\._extra_state"),  # no final norm known: readout survives
}


@pytest.mark.parametrize("name", list(PLAIN))
def test_plain_load_gives_the_same_logits_or_a_clear_error(name, tmp_path):
    """After two AdamW steps: a plain load either gives logits equal to <= 1e-5 (nothing
    survives) or raises naming how to load it; never other outputs."""
    model, spec = _build(name)
    train(model, optimizer(model, spec), 2)
    x, _ = batch(99)
    expected = PLAIN[name]
    if expected == "equal":
        assert spec.surviving == {}
        plain = _plain_load(name, model, tmp_path)
        with torch.no_grad():
            assert (logits(model, x) - logits(plain, x)).abs().max() <= TOL
    else:
        assert spec.surviving
        error, message = expected
        with pytest.raises(error, match=message):
            _plain_load(name, model, tmp_path)


@pytest.mark.parametrize("name", ["llama", "llama-tied", "gpt2"])
def test_plain_state_dict_load_is_exact_or_refused(name):
    """torch.save / a strict load_state_dict into a plainly built model: exact, or it raises."""
    model, spec = _build(name)
    fresh = FACTORIES[name](WIDTH)
    x, _ = batch(1)
    if spec.surviving:
        with pytest.raises(RuntimeError, match=r"abcparam\._extra_state"):
            fresh.load_state_dict(model.state_dict())
        return
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert (logits(model, x) - logits(fresh, x)).abs().max() <= TOL


def test_where_the_scales_went():
    """Llama: each attention's factor (d/d0)^(1/2 - 1) in q_proj; the tied readout's multiplier in
    model.norm (its gain initialised to it, LR and epsilon moved by the Adam symmetry); Qwen3:
    in q_norm; GPT-2: nowhere (fused c_attn)."""
    _, spec = _build("llama-tied")
    ratio = WIDTH / BASE
    assert {a.folded_into for a in spec.attention} == {
        f"model.layers.{i}.self_attn.q_proj" for i in range(2)
    }
    assert all(a.factor == pytest.approx(ratio**-0.5) for a in spec.attention)
    q, k = (
        spec.param("model.layers.0.self_attn.q_proj.weight"),
        spec.param("model.layers.0.self_attn.k_proj.weight"),
    )
    assert q.init_std == pytest.approx(k.init_std * ratio**-0.5)
    assert q.lr_scale == pytest.approx(k.lr_scale * ratio**-0.5)  # Adam: c -> c - theta
    assert q.eps_scale == pytest.approx(k.eps_scale * ratio**0.5)
    m = ratio**-1 / BASE**0.5  # the readout use's multiplier (n/n0)^-1 / sqrt(n0)
    norm, inner = (
        spec.param("model.norm.weight"),
        spec.param("model.layers.0.input_layernorm.weight"),
    )
    assert norm.init_std == pytest.approx(inner.init_std * m)
    assert norm.lr_scale == pytest.approx(inner.lr_scale * m)
    assert spec.param("lm_head.weight").uses[1].multiplier == 1.0
    _, qspec = _build("qwen3")
    assert all(a.folded_into.endswith("q_norm") for a in qspec.attention)
    _, gspec = _build("gpt2")
    assert not any(a.folded_into for a in gspec.attention)
    assert "uses" not in gspec.surviving  # the tied readout went into ln_f (gain and bias)


@pytest.mark.parametrize("optimizer_name", ["adamw", "sgd"])
@pytest.mark.parametrize("name", ["llama", "qwen3", "gpt2"])
def test_folded_scales_train_like_the_unfolded_form(name, optimizer_name):
    """The folds are the abc-symmetry: fold=None (scales in q_proj / q_norm / ln_f) and fold=False
    (the module's scale, the readout's multiplier) give the same losses over 3 steps."""
    losses = {}
    for fold in (None, False):
        model, spec = _build(name, fold=fold, optimizer_name=optimizer_name)
        lr = 3e-2 if optimizer_name == "sgd" else 1e-2
        groups = param_groups(model, spec, lr=lr, weight_decay=0.1)
        opt = (torch.optim.SGD if optimizer_name == "sgd" else torch.optim.AdamW)(groups)
        losses[fold] = train(model, opt, 3)
    assert losses[None] == pytest.approx(losses[False], abs=TOL)
    assert losses[None][2] != losses[None][0]


def test_plainly_loaded_model_resumes_with_its_optimizer_state(tmp_path):
    """A tied Llama saved after a step and loaded with plain from_pretrained: parametrize(
    init=False) gives the same groups (the folded q_proj and norm settings), the optimizer state
    loads into them, and the next step gives the same logits."""
    from transformers import LlamaForCausalLM

    model, spec = build("llama-tied")
    opt = optimizer(model, spec)
    train(model, opt, 1)
    model.save_pretrained(tmp_path)
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    back = LlamaForCausalLM.from_pretrained(tmp_path)
    again = optimizer(back, spec_of(back, "llama-tied"))
    keys = ("lr", "eps", "weight_decay", "param_names")
    assert [{k: g[k] for k in keys} for g in again.param_groups] == [
        {k: g[k] for k in keys} for g in opt.param_groups
    ]
    again.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    train(model, opt, 1, seed=1)
    train(back, again, 1, seed=1)
    x, _ = batch(99)
    with torch.no_grad():
        assert (logits(model, x) - logits(back, x)).abs().max() <= TOL


def test_recorder_reads_folded_layers_in_the_rules_coordinates():
    """The coordinate check's statistics of q_proj (its factor folded in) and lm_head (its
    multiplier moved to model.norm) agree between fold=None and fold=False."""
    import torch.nn.functional as F

    from abcparam.coordcheck.record import Recorder
    from abcparam.coordcheck.train import train as check_train

    layers = [
        ("model.embed_tokens", "embedding"),
        ("model.layers.0.self_attn.q_proj", "hidden"),
        ("model.layers.0.self_attn.o_proj", "hidden"),
        ("lm_head", "readout"),
    ]
    found = {}
    for fold in (None, False):
        model, spec = _build("llama-tied", fold=fold, optimizer_name="adam")
        opt = torch.optim.Adam(param_groups(model, spec, lr=1e-2))
        recorder = Recorder(model, layers, True, width=WIDTH, seed=0)
        records: list = []

        def loss(out, y):
            out = getattr(out, "logits", out)
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

        check_train(model, opt, loss, [batch(0)] * 2, recorder, records, [])
        found[fold] = records
    assert len(found[None]) == len(found[False]) == 3 * len(layers)
    for a, b in zip(found[None], found[False]):
        for key in ("output", "delta", "update", "input", "term_alpha", "term_omega"):
            x, y = getattr(a, key, None), getattr(b, key, None)
            if x is None or y is None:
                assert x is None and y is None
                continue
            assert x == pytest.approx(y, rel=1e-3, abs=1e-7), (a.layer, a.step, key)


def test_save_pretrained_refuses_push_to_hub(tmp_path):
    model, _ = _build("gpt2")
    with pytest.raises(ValueError, match="upload_folder"):
        model.save_pretrained(tmp_path, push_to_hub=True)


class _SideReader(torch.nn.Module):
    """A tied LM whose final norm's output is also read outside the readout (no fold allowed)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.inner = MODELS["user"](width)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        m = self.inner
        h = m.embed(idx)
        for block in m.blocks:
            h = h + torch.relu(block(h))
        n = m.norm(h)
        return m.head(n) + n[..., :1]


@pytest.mark.parametrize("name", ["user", "side"])
def test_user_model_folds_its_readout_when_a_forward_shows_it_may(name, tmp_path):
    """With example_batch, a user's tied model whose final norm feeds only the readout gets the
    readout's multiplier in that norm (a plain strict load is exact; training unchanged over 3
    steps); when the norm's output is read elsewhere too, the multiplier survives."""
    make = MODELS["user"] if name == "user" else _SideReader
    x, _ = batch(0)
    rules = abcparam.rules("mup", optimizer="adamw")
    losses = {}
    for fold in (None, False):
        torch.manual_seed(0)
        model = make(WIDTH)
        with torch.device("meta"):
            base = make(BASE)
        spec = parametrize(model, rules, base=base, seed=0, fold=fold, example_batch=x)
        losses[fold] = train(model, torch.optim.AdamW(param_groups(model, spec, lr=1e-2)), 3)
        if fold is None:
            folded, folded_spec = model, spec
    assert losses[None] == pytest.approx(losses[False], abs=TOL)
    fresh = make(WIDTH)
    if name == "side":
        assert "uses" in folded_spec.surviving
        with pytest.raises(RuntimeError, match=r"abcparam\._extra_state"):
            fresh.load_state_dict(folded.state_dict())
        return
    assert folded_spec.surviving == {}
    fresh.load_state_dict(folded.state_dict())
    with torch.no_grad():
        assert (logits(folded, x) - logits(fresh, x)).abs().max() <= TOL
