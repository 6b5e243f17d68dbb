"""A tied bias of multiplier 1 must not remove the tied weight's multiplier from the same layer
(BERT ties its decoder's weight to the word embeddings and its bias to ``cls.predictions.bias``:
the bias's plan used to drop the weight's output hook, leaving the readout unscaled)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

import abcparam  # noqa: E402
from abcparam.coordcheck.batches import tokens  # noqa: E402
from abcparam.experiments.families import build  # noqa: E402
from abcparam.torch import parametrize  # noqa: E402
from abcparam.torch.checkpoint import multiplier_of  # noqa: E402


def test_bert_tied_decoder_keeps_its_multiplier():
    rules = abcparam.rules("mup", optimizer="adam")
    model = build("bert", 128)
    spec = parametrize(model, rules, base=build("bert", 32, "meta"), example_batch=tokens(0)[0])
    decoder = model.cls.predictions.decoder
    assert decoder.weight is model.bert.embeddings.word_embeddings.weight
    use = next(u for u in spec.param("cls.predictions.decoder.weight").uses if u.kind == "readout")
    assert use.multiplier < 1.0
    assert multiplier_of(decoder) == pytest.approx(use.multiplier)
    h = torch.randn(2, 128)
    want = torch.nn.functional.linear(h, decoder.weight * use.multiplier, decoder.bias)
    assert torch.allclose(decoder(h), want, atol=1e-6)
