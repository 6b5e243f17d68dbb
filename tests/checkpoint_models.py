"""Small models and a round trip for the checkpoint, compile, distributed and Trainer tests.

``roundtrip(name, path)`` parametrizes a model (muP, AdamW, width 64 over base 32), trains it two
steps, saves it one way, loads it into a fresh model and returns the largest absolute difference
of the logits (and of the next step's logits, with the optimizer state reloaded too).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from torch import nn

import abcparam
from abcparam.torch import load, param_groups, parametrize

VOCAB, WIDTH, BASE = 61, 64, 32


def decoder(config_class, model_class, width: int, **overrides) -> nn.Module:
    """A small Llama-family decoder (two layers, two heads, an MLP of 2 x width, VOCAB tokens);
    ``overrides`` change or add config fields."""
    keywords = dict(
        vocab_size=VOCAB,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    return model_class(config_class(**{**keywords, **overrides}))


def llama(width: int, tie: bool = False):
    from transformers import LlamaConfig, LlamaForCausalLM

    return decoder(
        LlamaConfig, LlamaForCausalLM, width, max_position_embeddings=32, tie_word_embeddings=tie
    )


def gpt2(width: int, tie: bool = True):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        n_embd=width,
        n_layer=2,
        n_head=2,
        vocab_size=VOCAB,
        n_positions=32,
        tie_word_embeddings=tie,
        bos_token_id=0,
        eos_token_id=0,
        resid_pdrop=0.0,  # deterministic, so that saved and reloaded models train alike
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    return GPT2LMHeadModel(config)


class TinyLM(nn.Module):
    """A user's own model: embedding, two residual MLP blocks, a readout tied to the embedding."""

    def __init__(self, width: int, tie: bool = True) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(2))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCAB, bias=False)
        if tie:
            self.head.weight = self.embed.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        h = self.embed(idx)
        for block in self.blocks:
            h = h + torch.relu(block(h))
        return self.head(self.norm(h))


MODELS = {
    "llama": lambda w: llama(w, tie=False),
    "llama-tied": lambda w: llama(w, tie=True),
    "gpt2": gpt2,
    "user": TinyLM,
    "user-untied": lambda w: TinyLM(w, tie=False),
}


def logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return getattr(out, "logits", out)


def batch(seed: int = 0, size: int = 4, length: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, VOCAB, (size, length + 1), generator=g)
    return x[:, :-1], x[:, 1:]


def loss_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = logits(model, x)
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def build(name, width: int = WIDTH, seed: int = 0, rules=None, **kw):
    """(model, spec): ``name`` (a key of MODELS, or a factory of width) seeded at ``width`` and
    parametrized over the base width BASE with ``rules`` (default muP for AdamW)."""
    make = MODELS[name] if isinstance(name, str) else name
    torch.manual_seed(seed)
    model = make(width)
    with torch.device("meta"):
        base = make(BASE)
        if width == BASE:  # a third width tells the growing dimensions apart
            kw.setdefault("delta", make(2 * BASE))
    rules = rules or abcparam.rules("mup", optimizer="adamw")
    spec = parametrize(model, rules, base=base, seed=seed, **kw)
    return model, spec


@pytest.fixture(autouse=True)
def quiet_transformers():
    """One thread, and no transformers warnings or progress bars: autouse in every test module
    that imports it."""
    import transformers

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def optimizer(model, spec, lr: float = 1e-2) -> torch.optim.Optimizer:
    return torch.optim.AdamW(param_groups(model, spec, lr=lr, weight_decay=0.1))


def train(model, opt, steps: int, seed: int = 0) -> list[float]:
    losses = []
    for step in range(steps):
        x, y = batch(seed + step)
        opt.zero_grad()
        loss = loss_of(model, x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def fresh(name: str, width: int = WIDTH) -> nn.Module:
    torch.manual_seed(123)  # other weights than the saved ones
    return MODELS[name](width)


def roundtrip(name: str, path: str, steps: int = 2, seed: int = 0) -> dict[str, float]:
    """Max |logits - reloaded logits| after ``steps`` steps, and after one more step with the
    reloaded optimizer state; ``path``: "pretrained" (save_pretrained / abcparam.torch.load)
    or "state_dict" (torch.save / abcparam.torch.load into a fresh model)."""
    model, spec = build(name, seed=seed)
    opt = optimizer(model, spec)
    train(model, opt, steps, seed=seed)
    x, _ = batch(99)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        if path == "pretrained":
            model.save_pretrained(where)
            back = load(where)
        elif path == "state_dict":
            torch.save(model.state_dict(), where / "model.pt")
            back = load(fresh(name), where / "model.pt")
        else:
            raise ValueError(f"path = {path!r}: accepted pretrained, state_dict")
        torch.save(opt.state_dict(), where / "opt.pt")
        saved_opt = torch.load(where / "opt.pt", weights_only=True)
    with torch.no_grad():
        before = (logits(model, x) - logits(back, x)).abs().max().item()
    # the optimizer: a fresh spec's groups (from the reloaded model) take the saved state
    spec_back = spec_of(back, name)
    opt_back = optimizer(back, spec_back)
    opt_back.load_state_dict(saved_opt)
    train(model, opt, 1, seed=seed + steps)
    train(back, opt_back, 1, seed=seed + steps)
    with torch.no_grad():
        after = (logits(model, x) - logits(back, x)).abs().max().item()
    return {"logits": before, "after_step": after}


def spec_of(model: nn.Module, name: str):
    """The spec of a reloaded model, its tensors kept (``parametrize(init=False)``)."""
    with torch.device("meta"):
        base = MODELS[name](BASE)
    return parametrize(model, abcparam.rules("mup", optimizer="adamw"), base=base, init=False)


def fold_records(name: str, layers: list[tuple[str, str]]) -> dict:
    """The coordinate check's records of ``layers`` over two Adam steps of model ``name`` (muP),
    parametrized with fold=None and with fold=False: {fold: records}."""
    from abcparam.coordcheck.record import Recorder
    from abcparam.coordcheck.train import train as check_train

    def loss(out, y):
        out = getattr(out, "logits", out)
        return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    rules = abcparam.rules("mup", optimizer="adam")
    found = {}
    for fold in (None, False):
        model, spec = build(name, rules=rules, fold=fold)
        opt = torch.optim.Adam(param_groups(model, spec, lr=1e-2))
        recorder = Recorder(model, layers, True, width=WIDTH, seed=0)
        records: list = []
        check_train(model, opt, loss, [batch(0)] * 2, recorder, records, [])
        found[fold] = records
    return found


def assert_records_agree(found: dict, layers: list, keys: tuple[str, ...]) -> None:
    """Both folds recorded every layer at init and after each step, and agree on ``keys``."""
    assert len(found[None]) == len(found[False]) == 3 * len(layers)
    for a, b in zip(found[None], found[False]):
        for key in keys:
            x, y = getattr(a, key, None), getattr(b, key, None)
            if x is None or y is None:
                assert x is None and y is None
                continue
            assert x == pytest.approx(y, rel=1e-3, abs=1e-7), (a.layer, a.step, key)
