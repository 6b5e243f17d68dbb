"""Models written the way users write them, built at any width: the models a coordinate check on
"your own model" is tried on.

- :func:`hf_gpt2`, :func:`hf_llama`: Hugging Face ``transformers`` models built from a small config
  (no download), embeddings tied or not;
- :func:`cnn`: convolutions with a batch norm and a linear head (images such as sklearn digits);
- :func:`mha_transformer`: a pre-LN decoder written with ``nn.MultiheadAttention``, a learned
  positional ``nn.Parameter`` table and ``nn.LayerNorm``.
Every width-n dimension is a fixed multiple of ``width`` and the head count is fixed, so the head
size grows with width (the case the attention logit scale is about).  ``device="meta"`` builds
shapes only (a base model for :func:`abcparam.torch.parametrize`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def _check(width: int, heads: int | None = None) -> None:
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width = {width!r}: need a positive int")
    if heads is not None and width % heads:
        raise ValueError(f"width {width} is not a multiple of heads = {heads}")


#: token ids the small configs set (no tokenizer: any id in the vocabulary would do)
_TOKEN_IDS = {"bos_token_id": 0, "eos_token_id": 0}


def gpt2_config(width: int, layers: int, heads: int, vocab: int, context: int) -> dict[str, Any]:
    """GPT-2-style config keywords (``n_embd``, ``n_layer``, ...) of a small model at ``width``."""
    return dict(
        n_embd=width, n_layer=layers, n_head=heads, vocab_size=vocab, n_positions=context,
        **_TOKEN_IDS,
    )  # fmt: skip


def decoder_config(width: int, layers: int, heads: int, vocab: int) -> dict[str, Any]:
    """Llama-style config keywords (``hidden_size``, gated MLP of 4 x width, as many key-value
    heads as heads) of a small decoder at ``width``, the form most decoder families share."""
    return dict(
        hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, vocab_size=vocab, **_TOKEN_IDS,
    )  # fmt: skip


def from_config(model_class: Any, config: Any, device: str | torch.device = "cpu") -> nn.Module:
    """``model_class(config)`` built on ``device`` (``"meta"``: shapes only)."""
    with torch.device(device):
        return model_class(config)


def _hf(config_class, model_class, width: int, heads: int, keywords: dict, tie: bool, device,
        **extra) -> nn.Module:  # fmt: skip
    """A Hugging Face model from config ``keywords`` (no cache, embeddings tied or not)."""
    _check(width, heads)
    config = config_class(**keywords, tie_word_embeddings=tie, use_cache=False, **extra)
    return from_config(model_class, config, device)


def hf_gpt2(
    width: int,
    layers: int = 2,
    heads: int = 4,
    vocab: int = 128,
    context: int = 64,
    tie: bool = True,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Hugging Face GPT-2 (``Conv1D`` layers, learned positions, LayerNorm) at ``width``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    keywords = gpt2_config(width, layers, heads, vocab, context)
    no_dropout = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
    return _hf(GPT2Config, GPT2LMHeadModel, width, heads, keywords, tie, device, **no_dropout)


def hf_llama(
    width: int,
    layers: int = 2,
    heads: int = 4,
    vocab: int = 128,
    tie: bool = False,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Hugging Face Llama (RMSNorm, rotary positions, gated MLP of 4 x width) at ``width``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    keywords = decoder_config(width, layers, heads, vocab)
    return _hf(
        LlamaConfig, LlamaForCausalLM, width, heads, keywords, tie, device, pad_token_id=None
    )


class CNN(nn.Module):
    """conv stem (channels -> n) -> batch norm -> conv (n -> n) x depth -> mean pool -> linear."""

    def __init__(self, width: int, depth: int = 2, channels: int = 1, classes: int = 10) -> None:
        super().__init__()
        _check(width)
        self.width = width
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        self.norm = nn.BatchNorm2d(width)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(depth))
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm(self.stem(x)))
        for conv in self.convs:
            h = F.relu(conv(h))
        return self.head(h.mean(dim=(2, 3)))


def cnn(width: int, depth: int = 2, channels: int = 1, classes: int = 10, device="cpu") -> CNN:
    """:class:`CNN` at ``width`` (8 x 8 sklearn digits: ``channels=1``)."""
    with torch.device(device):
        return CNN(width, depth, channels, classes)


class MHABlock(nn.Module):
    """Pre-LN block: x + attn(ln1 x) (causal ``nn.MultiheadAttention``), x + mlp(ln2 x)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.fc1, self.fc2 = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class MHATransformer(nn.Module):
    """Token embedding + learned positional table, pre-LN MHA blocks, final norm, linear head."""

    def __init__(
        self, width: int, layers: int = 2, heads: int = 4, vocab: int = 128, context: int = 64
    ) -> None:
        super().__init__()
        _check(width, heads)
        self.width = width
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.zeros(context, width))
        self.blocks = nn.ModuleList(MHABlock(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def mha_transformer(
    width: int, layers: int = 2, heads: int = 4, vocab: int = 128, context: int = 64, device="cpu"
) -> MHATransformer:
    """:class:`MHATransformer` at ``width``."""
    with torch.device(device):
        return MHATransformer(width, layers, heads, vocab, context)


#: name -> (factory, input kind) for the CLI's ``--model`` shortcuts and the model grid
MODELS = {
    "hf:gpt2": (hf_gpt2, "tokens"),
    "hf:gpt2-untied": (lambda w, **k: hf_gpt2(w, tie=False, **k), "tokens"),
    "hf:llama": (hf_llama, "tokens"),
    "hf:llama-tied": (lambda w, **k: hf_llama(w, tie=True, **k), "tokens"),
    "cnn": (cnn, "images"),
    "mha": (mha_transformer, "tokens"),
}
